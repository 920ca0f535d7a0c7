"""`audio-artifacts sweep`: a real Optuna study over real training runs on a tiny simulated set,
its resume, pruning through Lightning, and the search-space checks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from audio_artifacts.cli import main
from audio_artifacts.errors import ConfigError
from audio_artifacts.models.model_dir import read_model_info
from audio_artifacts.training.config import config_from_dict, load_raw
from audio_artifacts.training.search_space import check_space, load_space

optuna = pytest.importorskip("optuna")

REPO = Path(__file__).resolve().parents[2]
TINY_MODEL = {"sample_rate": 16000, "n_fft": 512, "hop": 256, "fmax": 8000.0,
              "bands": [0.0, 1000.0, 4000.0, 8000.0], "max_lag_s": 0.5, "block_seconds": 0.5,
              "channels": 8, "hidden": 16}
SPACE = {"parameters": {
    "optim.max_head_lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
    "optim.weight_decay": {"type": "float", "low": 0.0, "high": 0.1},
    "data.batch_size": {"type": "categorical", "choices": [2, 4]},
    "model.arguments.hidden": {"type": "int", "low": 8, "high": 16, "step": 8},
}}


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Path:
    """Ten 2-3 s recordings from the simulator (about half with artifacts)."""
    root = tmp_path_factory.mktemp("sim")
    assert main(["simulate", str(root / "sim"), "--n", "10", "--seed", "3", "--duration", "2", "3",
                 "--short-fraction", "0", "--quiet"]) == 0
    return root / "sim" / "manifest.csv"


@pytest.fixture(scope="module")
def sweep_files(simulated, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sweep_files")
    config = {
        "name": "tiny-sweep",
        "data": {"train_manifest": str(simulated), "val_manifest": str(simulated), "batch_size": 4,
                 "sample_rate": 16000, "window_s": 2.0},
        "model": {"name": "fast", "arguments": dict(TINY_MODEL)},
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "progress_bar": False,
                    "log_every_n_steps": 1, "monitor": "val_loss"},
        "logger": {"mlflow": True, "tracking_uri": str(root / "mlruns"), "experiment": "sweep-tests"},
    }
    (root / "tiny.yaml").write_text(yaml.safe_dump(config))
    (root / "space.yaml").write_text(yaml.safe_dump(SPACE))
    return {"config": root / "tiny.yaml", "space": root / "space.yaml", "root": root}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def swept(sweep_files, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "out"
    code = main(["sweep", "--config", str(sweep_files["config"]), "--trials", "2", "--out", str(out),
                 "--space", str(sweep_files["space"]), "--pruner", "none"])
    assert code == 0
    return out


def test_two_trial_sweep_writes_every_trial_and_the_best_model(swept):
    rows = _rows(swept / "trials.csv")
    assert [r["number"] for r in rows] == ["0", "1"]
    assert {r["state"] for r in rows} == {"COMPLETE"}
    for row in rows:
        assert float(row["duration_s"]) > 0
        assert 1e-3 <= float(row["param:optim.max_head_lr"]) <= 1e-2
        assert row["param:data.batch_size"] in ("2", "4")
        assert row["param:model.arguments.hidden"] in ("8", "16")
        # the trial's run trained with exactly the sampled values
        saved = yaml.safe_load((Path(row["run_dir"]) / "config.yaml").read_text())
        assert saved["optim"]["max_head_lr"] == pytest.approx(float(row["param:optim.max_head_lr"]))
        assert saved["data"]["batch_size"] == int(row["param:data.batch_size"])
        fit = json.loads((Path(row["run_dir"]) / "metrics.json").read_text())["fit"]
        assert float(row["val_loss"]) == pytest.approx(fit["best_score"])
    best_row = min(rows, key=lambda r: float(r["val_loss"]))
    best = json.loads((swept / "best.json").read_text())
    assert best["trial"] == int(best_row["number"])
    info = read_model_info(swept / "best")
    assert info.name == "tiny-sweep" and info.version.endswith(f"-trial{best_row['number']}")
    assert info.arguments["hidden"] == int(best_row["param:model.arguments.hidden"])
    assert (swept / "best" / "model.safetensors").read_bytes() == (
        Path(best_row["run_dir"]) / "model" / "model.safetensors").read_bytes()


def test_every_trial_is_an_mlflow_run(swept, sweep_files):
    from mlflow.tracking import MlflowClient

    client = MlflowClient((sweep_files["root"] / "mlruns").resolve().as_uri())
    experiment = client.get_experiment_by_name("sweep-tests")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert {"tiny-sweep-trial-0000", "tiny-sweep-trial-0001"} <= set(runs)
    for row in _rows(swept / "trials.csv")[:2]:
        run = runs[f"tiny-sweep-trial-{int(row['number']):04d}"]
        assert float(run.data.params["optim/max_head_lr"]) == pytest.approx(float(row["param:optim.max_head_lr"]))
        assert run.data.metrics["val_loss"] == pytest.approx(float(row["val_loss"]))


def test_best_model_of_the_sweep_scans(swept, simulated, tmp_path):
    out = tmp_path / "scan.jsonl"
    code = main(["scan", str(simulated.parent / "audio"), "--model", str(swept / "best"), "--out", str(out)])
    assert code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 10 and {r["status"] for r in rows} == {"ok"}
    assert rows[0]["model"]["name"] == "tiny-sweep" and rows[0]["model"]["backend"] == "torch"


def test_sweep_resumes_from_its_study_database(swept, sweep_files):
    # the same command with a larger budget adds trials to the stored study, it does not restart it
    before = {r["number"]: r["param:optim.max_head_lr"] for r in _rows(swept / "trials.csv")}
    code = main(["sweep", "--config", str(sweep_files["config"]), "--trials", "3", "--out", str(swept),
                 "--space", str(sweep_files["space"]), "--storage", f"sqlite:///{swept / 'study.db'}"])
    assert code == 0
    rows = _rows(swept / "trials.csv")
    assert [r["number"] for r in rows] == ["0", "1", "2"]
    assert {r["number"]: r["param:optim.max_head_lr"] for r in rows[:2]} == before
    assert sorted(p.name for p in (swept / "trials").iterdir()) == ["0000", "0001", "0002"]


@pytest.mark.slow
def test_parallel_jobs_share_one_study(sweep_files, tmp_path):
    """--jobs 2: two worker processes draw trials from one study database, no trial twice."""
    out = tmp_path / "parallel"
    code = main(["sweep", "--config", str(sweep_files["config"]), "--trials", "2", "--out", str(out),
                 "--space", str(sweep_files["space"]), "--jobs", "2", "--pruner", "none",
                 "logger.mlflow=false"])
    assert code == 0
    rows = _rows(out / "trials.csv")
    assert [r["number"] for r in rows] == ["0", "1"] and {r["state"] for r in rows} == {"COMPLETE"}
    assert len({r["param:optim.max_head_lr"] for r in rows}) == 2
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["0000", "0001"]
    assert read_model_info(out / "best").name == "tiny-sweep"


def test_a_pruned_trial_stops_inside_lightning_and_writes_no_model(sweep_files, tmp_path):
    from audio_artifacts.training.sweep import PruneOnValidation
    from audio_artifacts.training.train import train

    # every validation loss is above 0: this pruner prunes at the first report
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))
    trial = study.ask()
    raw = load_raw(sweep_files["config"], ["trainer.max_epochs=3"])
    with pytest.raises(optuna.TrialPruned, match="pruned after epoch 0"):
        train(config_from_dict(raw), tmp_path / "run", callbacks=[PruneOnValidation(trial, "val_loss")])
    assert trial.storage.get_trial(trial._trial_id).intermediate_values.keys() == {0}
    assert not (tmp_path / "run" / "model").exists()


def test_search_space_problems_are_all_named(tmp_path, sweep_files):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"parameters": {
        "optim.max_head_lr": {"type": "float", "low": 1e-2, "high": 1e-3},
        "optim.weight_decay": {"type": "float", "low": 0.0, "high": 0.1, "log": True},
        "data.batch_size": {"type": "categorical", "choices": []},
        "optim.momentum": {"type": "normal"},
    }}))
    with pytest.raises(ConfigError) as info:
        load_space(bad)
    message = str(info.value)
    assert str(bad) in message and "4 problem(s)" in message
    assert "'low' (0.01) must be <= 'high' (0.001)" in message and "log range needs 'low' > 0" in message
    assert "'choices' must be a non-empty list" in message and "'type' must be one of" in message

    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(yaml.safe_dump({"parameters": {
        "optim.max_hed_lr": {"type": "float", "low": 1e-3, "high": 1e-2},
        "model.arguments.width": {"type": "int", "low": 4, "high": 8},
        "data.batch_size": {"type": "int", "low": 0, "high": 4},
    }}))
    raw = load_raw(sweep_files["config"])
    with pytest.raises(ConfigError) as info:
        check_space(load_space(unknown), raw)
    message = str(info.value)
    assert "did you mean 'optim.max_head_lr'" in message
    assert "model 'fast' has no argument 'width'" in message
    assert "'data.batch_size' must be >= 1, got 0" in message


@pytest.mark.parametrize("config, space", [("default.yaml", "sweep/fast.yaml"), ("cnn14.yaml", "sweep/panns.yaml"),
                                           ("wavegram_logmel_cnn14.yaml", "sweep/panns.yaml"),
                                           ("cnn14_att.yaml", "sweep/common.yaml"),
                                           ("spectrogram_transformer.yaml", "sweep/common.yaml"),
                                           ("wavegram_att.yaml", "sweep/common.yaml")])
def test_shipped_search_spaces_fit_their_configs(config, space):
    from audio_artifacts.cli.sweep import default_space

    loaded = load_space(REPO / "configs" / space)
    check_space(loaded, load_raw(REPO / "configs" / config))
    keys = {p.key for p in loaded.parameters}
    # the prototype's sweep: learning rates, weight decay, batch size (+ unfrozen blocks for PANNs)
    assert {"optim.max_backbone_lr", "optim.max_head_lr", "optim.weight_decay", "data.batch_size"} <= keys
    assert ("model.arguments.unfreeze_last" in keys) == (space == "sweep/panns.yaml")
    cfg = config_from_dict(load_raw(REPO / "configs" / config))
    assert default_space(REPO / "configs" / config, cfg.model.name, cfg.model.arguments) == REPO / "configs" / space


def test_a_trial_that_fails_keeps_its_row(sweep_files, tmp_path):
    """A trial whose run raises ends the sweep with an error, and trials.csv still lists it as FAIL."""
    out = tmp_path / "failing"
    space = tmp_path / "bad_space.yaml"
    # a training manifest that is not there: the config is valid, the run itself raises
    space.write_text(yaml.safe_dump({"parameters": {
        "data.train_manifest": {"type": "categorical", "choices": [str(tmp_path / "missing.csv")]}}}))
    code = main(["sweep", "--config", str(sweep_files["config"]), "--trials", "1", "--out", str(out),
                 "--space", str(space), "--pruner", "none", "logger.mlflow=false"])
    assert code != 0
    rows = _rows(out / "trials.csv")
    assert [(r["number"], r["state"]) for r in rows] == [("0", "FAIL")]
