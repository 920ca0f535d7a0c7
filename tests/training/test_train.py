"""train() end to end on tiny real recordings: model directory, threshold, MLflow,
resume, bad files, and the CLI."""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest
import torch
import yaml

from audio_artifacts.cli import main
from audio_artifacts.errors import CheckpointError, ConfigError, ManifestError
from audio_artifacts.evaluation import metrics
from audio_artifacts.models.model_dir import load_model_dir
from audio_artifacts.models.registry import build_model
from audio_artifacts.training.config import config_from_dict
from audio_artifacts.training.datamodule import WindowDataModule
from audio_artifacts.training.train import build_training_model, score_windows, train


@pytest.fixture(scope="module")
def trained(tiny_config, tmp_path_factory):
    """One 2-epoch run with MLflow tracking into a local file store."""
    base = tmp_path_factory.mktemp("run")
    raw = tiny_config(trainer={"max_epochs": 2},
                      logger={"mlflow": True, "tracking_uri": str(base / "mlruns"),
                              "experiment": "tiny-tests"})
    cfg = config_from_dict(raw)
    model_dir = train(cfg, base / "run", command="audio-artifacts train --config tiny.yaml")
    return cfg, base, model_dir


def test_model_dir_reloads_with_identical_logits(trained):
    cfg, base, model_dir = trained
    assert model_dir == base / "run" / "model"
    model, info = load_model_dir(model_dir)
    assert info.architecture == "fast" and info.arguments["channels"] == 8
    assert info.window.duration_s == 2.0 and info.window.overlap == 0.25
    assert info.sample_rate == 16000

    # the same weights as the best Lightning checkpoint, byte for byte in the logits
    run = json.loads((base / "run" / "metrics.json").read_text())
    best = base / "run" / "checkpoints" / run["fit"]["best_checkpoint"]
    state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    reference = build_model("fast", **info.arguments)
    reference.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
    reference.eval()
    batch = torch.randn(3, 2 * 16000) * 0.01
    with torch.inference_mode():
        assert torch.equal(model(batch), reference(batch))


def test_threshold_is_the_f1_optimum_of_validation_recordings(trained):
    cfg, base, model_dir = trained
    model, info = load_model_dir(model_dir)
    dm = WindowDataModule(cfg.data, seed=0)
    dm.load()
    # the threshold lives on the calibrated scale: sigmoid(logit / T)
    probs, labels, recording = score_windows(model, dm.val_set, 4, temperature=info.temperature)
    scores = metrics.max_by_recording(recording.tolist(), probs)
    rec_labels = [dm.val_set.recordings[r].entry.label for r in scores]
    assert info.threshold == pytest.approx(metrics.best_threshold(rec_labels, list(scores.values())))
    report = json.loads((base / "run" / "metrics.json").read_text())["validation"]
    assert report["recordings"]["n"] == 4 and report["windows"]["n"] == len(dm.val_set) == 8
    assert info.metrics["val_recording_f1"] == pytest.approx(report["recordings"]["f1"])
    assert info.metrics["global_step"] == 2 * 6  # 2 epochs x (12 windows / batch 2)


def test_run_directory_holds_config_card_and_logs(trained):
    cfg, base, model_dir = trained
    saved = yaml.safe_load((model_dir / "config.yaml").read_text())
    assert saved["data"]["train_manifest"] == cfg.data.train_manifest
    assert config_from_dict(saved) == cfg  # the saved config rebuilds the same experiment
    assert yaml.safe_load((base / "run" / "config.yaml").read_text()) == saved
    card = (model_dir / "MODEL_CARD.md").read_text()
    info = load_model_dir(model_dir)[1]
    assert f"{info.threshold:.6g}" in card
    assert "audio-artifacts train --config tiny.yaml" in card
    assert "6 recordings" in card and "12 windows" in card
    epochs = (base / "run" / "logs" / "metrics.csv").read_text()
    assert "val_auc" in epochs.splitlines()[0] and "train_loss_step" in epochs.splitlines()[0]
    assert (base / "run" / "checkpoints" / "last.ckpt").is_file()


def test_mlflow_run_in_local_file_store_has_params_and_metrics(trained):
    from mlflow.tracking import MlflowClient

    cfg, base, model_dir = trained
    client = MlflowClient((base / "mlruns").resolve().as_uri())
    experiment = client.get_experiment_by_name("tiny-tests")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.params["data/batch_size"] == "2"
    assert run.data.params["model/name"] == "fast"
    assert run.data.params["optim/max_head_lr"] == "0.01"
    for name in ("train_loss_step", "val_loss", "val_auc", "val_recording_f1", "train_windows_per_s"):
        assert name in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert "model/model.safetensors" in artifacts and "model/MODEL_CARD.md" in artifacts


def test_resume_continues_the_step_count(trained, tiny_config, tmp_path):
    cfg, base, model_dir = trained
    last = base / "run" / "checkpoints" / "last.ckpt"
    raw = tiny_config(trainer={"max_epochs": 3, "resume": str(last)})
    resumed = train(config_from_dict(raw), tmp_path / "resumed")
    fit = json.loads((tmp_path / "resumed" / "metrics.json").read_text())["fit"]
    assert fit["global_step"] == 3 * 6 and fit["epochs"] == 3
    assert load_model_dir(resumed)[1].metrics["global_step"] == 18
    with pytest.raises(CheckpointError, match="not found"):
        train(config_from_dict(tiny_config(trainer={"resume": str(tmp_path / "nope.ckpt")})), tmp_path / "x")


def test_resume_from_a_checkpoint_of_another_model_names_the_keys(trained, tiny_config, tmp_path):
    cfg, base, model_dir = trained
    last = base / "run" / "checkpoints" / "last.ckpt"
    other = tiny_config(trainer={"resume": str(last)})
    other["model"]["arguments"].update(periodicity=False, channels=4)
    with pytest.raises(CheckpointError) as info:
        train(config_from_dict(other), tmp_path / "other")
    message = str(info.value)
    assert str(last) in message
    assert "unexpected: model.fast_mlp.0.bias" in message  # the checkpoint has periodicity
    assert "mis-shaped: " in message and "model.line_cnn.0.bias (checkpoint [8], model [4])" in message
    assert not (tmp_path / "other").exists()
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable tensors-only"):
        train(config_from_dict(tiny_config(trainer={"resume": str(junk)})), tmp_path / "junk")


def test_bad_files_are_listed_before_training_starts(tiny_data, tiny_config, tmp_path):
    manifest = tmp_path / "bad.csv"
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    text = tiny_data["train"].read_text().splitlines()
    root = tiny_data["root"]
    rows = [text[0]] + [line.replace("train/", f"{root}/train/", 1) for line in text[1:3]]
    rows += [f"{tmp_path / 'missing.wav'};no_artifact" + ";" * (text[0].count(";") - 1),
             f"{broken};artifact" + ";" * (text[0].count(";") - 1)]
    manifest.write_text("\n".join(rows) + "\n")
    raw = tiny_config(data={"train_manifest": str(manifest)})
    run_dir = tmp_path / "run"
    with pytest.raises(ManifestError) as info:
        train(config_from_dict(raw), run_dir)
    message = str(info.value)
    assert "missing.wav" in message and "broken.wav" in message and "2 problem" not in message
    assert not run_dir.exists()  # nothing trained, nothing written

    skip = tiny_config(data={"train_manifest": str(manifest), "skip_bad_files": True},
                       trainer={"limit_train_batches": 1, "limit_val_batches": 1})
    with pytest.warns(UserWarning, match="skipping 2 unreadable file"):
        model_dir = train(config_from_dict(skip), run_dir)
    assert (model_dir / "model.safetensors").is_file()


def test_model_settings_are_checked(tiny_config, tmp_path):
    with pytest.raises(ConfigError, match="cannot start from a PANNs checkpoint"):
        build_training_model(config_from_dict(tiny_config(model={"pretrained": "x.pth"})))
    with pytest.raises(CheckpointError, match="not found"):
        build_training_model(config_from_dict(
            tiny_config(model={"name": "cnn14", "arguments": {}, "pretrained": str(tmp_path / "Cnn14.pth")})))
    with pytest.raises(ConfigError, match="unknown model 'tiny_net'"):
        build_training_model(config_from_dict(tiny_config(model={"name": "tiny_net"})))
    with pytest.raises(ConfigError, match="do not fit model 'fast'"):
        build_training_model(config_from_dict(tiny_config(model={"arguments": {"widht": 3}})))


def test_init_from_starts_from_a_model_directory_and_names_what_differs(trained, tiny_config, tmp_path):
    cfg, base, model_dir = trained
    reference, info = load_model_dir(model_dir)
    started = build_training_model(config_from_dict(tiny_config(model={"init_from": str(model_dir)})))
    theirs = reference.state_dict()
    assert all(torch.equal(value, theirs[key]) for key, value in started.state_dict().items())
    fresh = build_training_model(config_from_dict(tiny_config()))
    assert not all(torch.equal(v, theirs[k]) for k, v in fresh.state_dict().items())

    wider = tiny_config(model={"init_from": str(model_dir), "arguments": {**info.arguments, "channels": 4}})
    with pytest.raises(ConfigError, match=r"channels \(directory 8, config 4\)"):
        build_training_model(config_from_dict(wider))
    other_rate = tiny_config(model={"init_from": str(model_dir)}, data={"sample_rate": 32000})
    with pytest.raises(ConfigError, match="its rate is 16000 Hz"):
        build_training_model(config_from_dict(other_rate))
    both = tiny_config(model={"init_from": str(model_dir), "pretrained": str(tmp_path / "x.pth")})
    with pytest.raises(ConfigError, match="exclude each other"):
        build_training_model(config_from_dict(both))

    # a fine-tuning run says where it started in its model card
    run = tiny_config(model={"init_from": str(model_dir)},
                      trainer={"max_epochs": 1, "limit_train_batches": 1, "limit_val_batches": 1})
    tuned = train(config_from_dict(run), tmp_path / "tuned")
    assert f"the model directory {model_dir}" in (tuned / "MODEL_CARD.md").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the GPU config is valid here")
def test_gpu_config_on_a_cpu_machine_fails_before_reading_data(tiny_config, tmp_path):
    raw = tiny_config(trainer={"accelerator": "gpu"}, data={"train_manifest": str(tmp_path / "absent.csv")})
    # the missing manifest would be reported by the data step; the accelerator check comes first
    with pytest.raises(ConfigError, match="trainer.accelerator is 'gpu' but no CUDA GPU"):
        train(config_from_dict(raw), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_cli_names_unknown_keys_and_exits_2(tiny_config, write_config, capsys):
    raw = tiny_config()
    raw["optim"]["learning_rate"] = 0.1
    path = write_config(raw)
    code = main(["train", "--config", str(path), "trainer.epochs=3"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown key 'optim.learning_rate'" in err and "unknown key 'trainer.epochs'" in err


def test_every_augmentation_and_the_balanced_sampler_train_end_to_end(tiny_config, tmp_path):
    raw = tiny_config(
        data={"balanced_sampler": True},
        augment={"gain": {"p": 0.5}, "noise_floor": {"p": 0.5}, "time_shift": {"p": 0.5},
                 "inject": {"p": 1.0, "types": ["tonal", "clicks"]},
                 "spec_augment": {"p": 0.5, "max_time_frames": 5, "max_freq_bins": 4},
                 "mixup": {"p": 1.0, "alpha": 0.4}},
        trainer={"limit_train_batches": 3},
    )
    model_dir = train(config_from_dict(raw), tmp_path / "aug")
    model, info = load_model_dir(model_dir)  # SpecAugment is a training-only attachment
    assert model.spec_augment is None
    saved = yaml.safe_load((model_dir / "config.yaml").read_text())
    assert saved["augment"]["inject"]["types"] == ["tonal", "clicks"]
    assert saved["data"]["balanced_sampler"] is True
    assert np.isfinite(info.threshold)


@pytest.mark.slow
def test_mlflow_ui_serves_the_local_file_store(trained):
    """`mlflow ui` of the tracking extra starts on the run's file store and lists its experiment
    (mlflow-skinny alone failed here with "No module named 'flask'")."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    cfg, base, model_dir = trained
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", (base / "mlruns").resolve().as_uri(),
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        body = None
        for _ in range(240):  # start-up takes a while on a busy machine
            if server.poll() is not None:
                pytest.fail(f"mlflow ui exited: {server.stdout.read().decode(errors='replace')[-2000:]}")
            try:
                url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=10"
                with urllib.request.urlopen(url, timeout=5) as answer:
                    body = json.loads(answer.read())
                break
            except OSError:
                time.sleep(0.5)
        assert body is not None, "mlflow ui did not answer"
        assert "tiny-tests" in {e["name"] for e in body["experiments"]}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
            assert b"<html" in answer.read(2000).lower()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_a_list_of_training_manifests_trains_on_all_of_them(tiny_data, tiny_config, make_split, tmp_path):
    second = make_split(tmp_path / "more", "train", 4, 5)
    raw = tiny_config(data={"train_manifest": [str(tiny_data["train"]), str(second)]},
                      trainer={"limit_train_batches": 1, "limit_val_batches": 1})
    model_dir = train(config_from_dict(raw), tmp_path / "run")
    card = (model_dir / "MODEL_CARD.md").read_text()
    assert f"{tiny_data['train']} + {second}" in card
    assert "10 recordings" in card  # 6 + 4

    empty = tiny_config(data={"train_manifest": [str(tiny_data["train"]), ""]})
    with pytest.raises(ConfigError, match="data.train_manifest"):
        config_from_dict(empty)
