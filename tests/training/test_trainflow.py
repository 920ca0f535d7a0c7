"""The training workflow around train(): early stopping, the LR finder, TensorBoard, metric
names, calibration, named models, resume into the same run directory and bad checkpoints.
Real tiny runs on real files (see conftest.py)."""

from __future__ import annotations

import json
import re
import stat

import numpy as np
import pytest
import torch

from audio_artifacts.cli import main
from audio_artifacts.errors import CheckpointError, ConfigError
from audio_artifacts.evaluation.calibration import fit_temperature
from audio_artifacts.inference.detector import Detector, sigmoid
from audio_artifacts.models.model_dir import load_model_dir, read_model_info
from audio_artifacts.training.config import MONITOR_METRICS, config_from_dict
from audio_artifacts.training.datamodule import WindowDataModule
from audio_artifacts.training.train import train, window_logits


@pytest.fixture(scope="module")
def run(tiny_config, tmp_path_factory):
    """A 1-epoch run through the CLI, named on the command line, with TensorBoard on."""
    base = tmp_path_factory.mktemp("flow")
    import yaml

    (base / "tiny.yaml").write_text(yaml.safe_dump(tiny_config()))
    code = main(["train", "--config", str(base / "tiny.yaml"), "--out", str(base / "run"), "--name",
                 "whine-finder", "logger.tensorboard=true"])
    assert code == 0
    return base


def test_early_stopping_ends_the_run_when_the_monitor_stops_improving(tiny_config, tmp_path):
    # min_delta 10: no epoch can improve val_loss by that much, so patience 1 stops after epoch 2
    raw = tiny_config(trainer={"max_epochs": 5, "early_stopping": {"patience": 1, "min_delta": 10.0}})
    train(config_from_dict(raw), tmp_path / "es")
    fit = json.loads((tmp_path / "es" / "metrics.json").read_text())["fit"]
    assert fit["stopped_early"] is True and fit["epochs"] == 2 and fit["global_step"] == 2 * 6
    # without early stopping the same run goes the whole way
    assert config_from_dict(tiny_config()).trainer.early_stopping.patience is None


def test_wrong_monitor_name_is_refused_before_anything_runs(tiny_config, tmp_path):
    with pytest.raises(ConfigError) as info:
        config_from_dict(tiny_config(trainer={"monitor": "val_rec_acu", "monitor_mode": "max"}))
    message = str(info.value)
    assert "'val_rec_acu' is not a logged metric (did you mean 'val_rec_auc'?)" in message
    assert all(name in message for name in MONITOR_METRICS)
    with pytest.raises(ConfigError, match="val_auc is better when higher: use trainer.monitor_mode=max"):
        config_from_dict(tiny_config(trainer={"monitor": "val_auc"}))
    with pytest.raises(ConfigError, match="early_stopping.patience' must be >= 1"):
        config_from_dict(tiny_config(trainer={"early_stopping": {"patience": 0}}))


@pytest.mark.parametrize("name", sorted(MONITOR_METRICS))
def test_every_listed_monitor_name_is_logged_by_training(run, name):
    header = (run / "run" / "logs" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert name in header


def test_find_lr_prints_the_suggestion_and_saves_the_plot(tiny_config, write_config, tmp_path, capsys):
    path = write_config(tiny_config())
    code = main(["train", "--config", str(path), "--out", str(tmp_path / "lr"), "--find-lr", "--lr-steps", "24"])
    assert code == 0
    printed = capsys.readouterr().out
    found = re.search(r"suggested learning rate: (\S+)", printed)
    assert found, printed
    curve = json.loads((tmp_path / "lr" / "lr_find.json").read_text())
    assert float(found.group(1)) == pytest.approx(curve["suggestion"], rel=1e-2)
    assert len(curve["lr"]) == len(curve["loss"]) >= 12 and curve["lr"] == sorted(curve["lr"])
    assert curve["lr"][0] >= 1e-6 and min(curve["lr"]) < curve["suggestion"] < max(curve["lr"])
    assert (tmp_path / "lr" / "lr_find.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "lr" / "model").exists()  # a search, not a training run


def test_tensorboard_event_files_hold_the_epoch_metrics(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "run" / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"val_loss", "val_auc", "train_loss_epoch"} <= tags
    assert len(events.Scalars("val_loss")) == 1


def test_model_is_named_and_versioned(run, tiny_data, tmp_path):
    info = read_model_info(run / "run" / "model")
    assert info.name == "whine-finder"
    assert re.fullmatch(r"\d{8}\.\d{6}", info.version)  # no config version: the UTC start time
    assert "--name whine-finder" in (run / "run" / "model" / "MODEL_CARD.md").read_text()
    # evaluate labels the model by its name, not by the folder "model"
    assert main(["evaluate", str(run / "run" / "model"), str(tiny_data["val"]), "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["models"][0]["label"] == "whine-finder" and (tmp_path / "whine-finder" / "report.md").is_file()
    # scan rows say which model and which backend
    row = Detector(run / "run" / "model").scan_file(next((tiny_data["root"] / "val").glob("*.wav")))
    assert row.to_dict()["model"] == {"name": "whine-finder", "version": info.version, "backend": "torch"}


def test_model_directory_files_are_group_readable(run):
    for path in (run / "run" / "model").iterdir():
        assert path.stat().st_mode & stat.S_IRGRP, path


def test_temperature_is_fitted_on_validation_windows_and_applied_by_the_detector(run, tiny_config):
    model_dir = run / "run" / "model"
    model, info = load_model_dir(model_dir)
    dm = WindowDataModule(config_from_dict(tiny_config()).data, seed=0)
    dm.load()
    logits, labels, _ = window_logits(model, dm.val_set, 4)
    assert info.temperature == pytest.approx(fit_temperature(logits, labels), rel=1e-6)
    assert info.temperature != pytest.approx(1.0, abs=1e-3)
    report = json.loads((run / "run" / "metrics.json").read_text())["validation"]["calibration"]
    assert report["temperature"] == info.temperature
    assert report["windows"]["brier_after"] <= report["windows"]["brier_before"] + 1e-9 or \
        report["windows"]["ece_after"] <= report["windows"]["ece_before"]
    # scan / serve: probabilities are sigmoid(logit / T); the same weights with T = 1 give sigmoid(logit)
    import shutil

    plain = run / "plain_copy"
    shutil.copytree(model_dir, plain, dirs_exist_ok=True)
    data = json.loads((plain / "model.json").read_text())
    data["temperature"] = 1.0
    (plain / "model.json").write_text(json.dumps(data))
    path = dm.val_set.recordings[1].entry.path
    calibrated = Detector(model_dir).window_scores(path).probabilities
    p = Detector(plain).window_scores(path).probabilities
    np.testing.assert_allclose(calibrated, sigmoid(np.log(p / (1 - p)) / info.temperature), rtol=1e-6)


def test_a_model_directory_without_temperature_reads_as_one(run, tmp_path):
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(run / "run" / "model", copy)
    data = json.loads((copy / "model.json").read_text())
    del data["temperature"]
    (copy / "model.json").write_text(json.dumps(data))
    assert read_model_info(copy).temperature == 1.0
    assert Detector(copy).temperature == 1.0


def test_calibration_does_not_change_verdicts(tiny_config, tiny_data, tmp_path):
    """The same training with and without temperature scaling: same weights, same verdicts
    (the threshold lives on the calibrated scale), different probabilities."""
    plain = train(config_from_dict(tiny_config(calibration={"temperature": False})), tmp_path / "plain")
    scaled = train(config_from_dict(tiny_config()), tmp_path / "scaled")
    assert read_model_info(plain).temperature == 1.0 and read_model_info(scaled).temperature != 1.0
    files = sorted((tiny_data["root"] / "val").glob("*.wav")) + sorted((tiny_data["root"] / "train").glob("*.wav"))
    a = list(Detector(plain).scan_many(files))
    b = list(Detector(scaled).scan_many(files))
    # The threshold is a validation recording's own score (the F1 optimum), so that recording sits
    # exactly on it, where float round-off of the scaling may tip it either way: leave the ties out.
    threshold = read_model_info(plain).threshold
    off_tie = [i for i, r in enumerate(a) if abs(r.probability - threshold) > 1e-6]
    assert len(off_tie) >= len(a) - 2
    assert [a[i].verdict for i in off_tie] == [b[i].verdict for i in off_tie]
    assert [r.probability for r in a] != pytest.approx([r.probability for r in b])


def test_resume_into_the_same_run_directory_keeps_the_earlier_log(run, tiny_config, write_config, tmp_path):
    import shutil

    work = tmp_path / "run"
    shutil.copytree(run / "run", work)
    path = write_config(tiny_config())
    code = main(["train", "--config", str(path), "--out", str(work), "--resume", "trainer.max_epochs=2"])
    assert code == 0
    fit = json.loads((work / "metrics.json").read_text())["fit"]
    assert fit["epochs"] == 2 and fit["global_step"] == 2 * 6
    first = (work / "logs" / "metrics.csv").read_text()
    resumed = (work / "logs" / "resume-1" / "metrics.csv").read_text()
    assert first == (run / "run" / "logs" / "metrics.csv").read_text()  # untouched
    epoch = first.splitlines()[0].split(",").index("epoch")
    assert {line.split(",")[epoch] for line in first.splitlines()[1:]} == {"0"}
    assert {line.split(",")[epoch] for line in resumed.splitlines()[1:]} == {"1"}


def test_truncated_or_foreign_checkpoints_are_named(run, tiny_config, tmp_path):
    last = (run / "run" / "checkpoints" / "last.ckpt").read_bytes()
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(last[: len(last) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.ckpt: not a readable tensors-only"):
        train(config_from_dict(tiny_config(trainer={"resume": str(cut)})), tmp_path / "a")
    plain = tmp_path / "weights.ckpt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(CheckpointError, match=r"weights\.ckpt: no 'state_dict' inside"):
        train(config_from_dict(tiny_config(trainer={"resume": str(plain)})), tmp_path / "b")
    # --resume without a checkpoint in the run directory names the file it looked for
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_resume_flag_without_a_previous_run_names_the_missing_checkpoint(tiny_config, write_config, tmp_path,
                                                                         capsys):
    path = write_config(tiny_config())
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "fresh"), "--resume"]) == 2
    assert f"{tmp_path / 'fresh' / 'checkpoints' / 'last.ckpt'}: checkpoint to resume from not found" in \
        capsys.readouterr().err


def test_unknown_keys_get_a_did_you_mean(tiny_config):
    raw = tiny_config()
    raw["trainer"]["max_epoch"] = 3
    with pytest.raises(ConfigError, match=r"unknown key 'trainer.max_epoch' \(did you mean 'trainer.max_epochs'\?"):
        config_from_dict(raw)


def test_gpu_indices_on_a_cpu_machine_are_one_clear_error(tiny_config, write_config, tmp_path, capsys):
    path = write_config(tiny_config())
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "r"), "trainer.devices=[0,1]"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["audio-artifacts train: error: trainer.devices=[0, 1] names GPU indices but the CPU accelerator "
                   "takes none; on CPUs give a count: trainer.accelerator=cpu trainer.devices=2 "
                   "trainer.strategy=ddp"]
    assert not (tmp_path / "r").exists()


def test_a_config_value_given_as_an_option_names_the_override(tiny_config, write_config, capsys):
    path = write_config(tiny_config())
    assert main(["train", "--config", str(path), "--devices", "2"]) == 2
    assert "--devices is not an option of `train`; config values are set as overrides: write trainer.devices=2" \
        in capsys.readouterr().err
    assert main(["sweep", "--config", str(path), "--trials", "1", "--out", "x", "--batch-size=8"]) == 2
    assert "write data.batch_size=8" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:  # anything else: argparse's own message
        main(["train", "--config", str(path), "--bogus"])
    assert info.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_override_problems_are_attributed_to_the_command_line(tiny_config, write_config):
    from audio_artifacts.training.config import load_config

    raw = tiny_config()
    raw["data"]["batch_size"] = 0
    path = write_config(raw)
    with pytest.raises(ConfigError) as info:
        load_config(path, ["optim.head_lr=-1", "trainer.max_epoch=2"])
    lines = str(info.value).splitlines()
    assert lines[0] == f"{path}: 3 problem(s)"  # every problem in one round
    assert "  - 'data.batch_size' must be >= 1, got 0" in lines  # the file's own, not marked
    assert any(line.startswith("  - unknown key 'trainer.max_epoch'") and
               line.endswith("(from the command-line overrides)") for line in lines)
    assert "  - 'optim.head_lr' must be > 0, got -1.0 (from the command-line overrides)" in lines


def test_run_directory_or_bare_onnx_given_as_a_model_are_explained(run, tiny_data, tmp_path, capsys):
    from audio_artifacts.errors import ModelDirError

    with pytest.raises(ModelDirError, match=r"this is a training run directory: its model directory is .*run/model"):
        read_model_info(run / "run")
    onnx = tmp_path / "detector.onnx"
    onnx.write_bytes(b"\x08\x07")
    with pytest.raises(ModelDirError, match=r"detector\.onnx: is a file.*audio-artifacts export MODEL_DIR"):
        read_model_info(onnx)
    # the same message reaches the user of scan, exit code 2
    recording = next((tiny_data["root"] / "val").glob("*.wav"))
    assert main(["scan", str(recording), "--model", str(run / "run"), "--out", str(tmp_path / "s.jsonl")]) == 2
    assert "its model directory is" in capsys.readouterr().err
