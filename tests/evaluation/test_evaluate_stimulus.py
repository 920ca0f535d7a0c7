"""``evaluate --stimulus-aware``: both ways on a simulated dataset with its stimuli, side by side per kind."""

from __future__ import annotations

import json
from pathlib import Path

from audio_artifacts.cli import main
from audio_artifacts.data.manifest import read_manifest
from audio_artifacts.inference.detector import Detector
from audio_artifacts.simulate.dataset import write_dataset
from audio_artifacts.simulate.recording import SimulatorConfig


def _tiny_model(path: Path) -> Path:
    import torch

    from audio_artifacts import __version__
    from audio_artifacts.models.model_dir import ModelInfo, save_model_dir
    from audio_artifacts.models.registry import build_model
    from audio_artifacts.windows import WindowSpec

    torch.manual_seed(0)
    model = build_model("fast", sample_rate=16000, fmax=8000.0, bands=[0, 1000, 3000, 8000], channels=4, hidden=8)
    info = ModelInfo(name="tiny", version="0.0.1", architecture="fast", arguments=model.arguments(),
                     sample_rate=16000, window=WindowSpec(), threshold=0.5, package_version=__version__)
    return save_model_dir(path, model.eval(), info)


def test_stimulus_aware_evaluation_reports_both_ways_per_stimulus_kind(tmp_path: Path, capsys) -> None:
    config = SimulatorConfig(stimuli=("quiet", "tones", "speech_like"), stimulus_weights=(1, 1, 1),
                             duration_s=(5.5, 7.0), short_fraction=0.0, conditions={})
    write_dataset(tmp_path / "sim", 9, seed=2, config=config)
    model = _tiny_model(tmp_path / "model")
    manifest = tmp_path / "sim" / "manifest.csv"
    assert main(["evaluate", str(model), str(manifest), "--out", str(tmp_path / "out"), "--stimulus-aware"]) == 0
    printed = capsys.readouterr().out
    assert "output-only vs stimulus-aware, per stimulus kind" in printed
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    labels = [m["label"] for m in report["models"]]
    assert labels == ["tiny", "tiny+stimulus"]  # labelled by the model's name
    # The stimulus-aware predictions are the Detector's on the residual; quiet recordings are unchanged.
    entries = read_manifest(manifest)
    rows = [json.loads(line) for line in (tmp_path / "out" / "tiny+stimulus" / "predictions.jsonl").open()]
    plain = [json.loads(line) for line in (tmp_path / "out" / "tiny" / "predictions.jsonl").open()]
    detector = Detector(model)
    for entry, row, alone in zip(entries, rows, plain):
        stimulus = entry.columns["stimulus_path"]
        if not stimulus:
            assert [w["probability"] for w in row["windows"]] == [w["probability"] for w in alone["windows"]]
            continue
        expected = detector.window_scores(entry.path, tmp_path / "sim" / stimulus).probabilities
        assert max(abs(w["probability"] - p) for w, p in zip(row["windows"], expected)) < 1e-6
    for kind in ("quiet", "tones", "speech_like"):
        assert f"| {kind} |" in printed
    # Without a stimulus column the option is a usage error.
    other = tmp_path / "plain.csv"
    other.write_text("path;class\n" + "".join(f"{e.path};{'artifact' if e.label else 'no_artifact'}\n"
                                              for e in entries), encoding="utf-8")
    assert main(["evaluate", str(model), str(other), "--out", str(tmp_path / "o2"), "--stimulus-aware"]) == 2
