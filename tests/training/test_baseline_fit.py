"""Fitting the DSP baseline through ``train()`` on real files, then ``evaluate`` on it.

The recordings are noise floors; artifact ones carry a 2 kHz line or a click
train. Some are shorter than one window (one zero-padded window), so the
duration condition has both bands.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from audio_artifacts.audio import write_audio
from audio_artifacts.cli import main
from audio_artifacts.data.manifest import ArtifactEvent, RecordingEntry, write_manifest
from audio_artifacts.models.model_dir import load_model_dir
from audio_artifacts.training.config import config_from_dict
from audio_artifacts.training.train import train

RATE = 16000
STIMULI = ("quiet", "pink", "speech_shaped")


def write_split(root: Path, split: str, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    entries = []
    for i in range(n):
        seconds = 3.0 if i % 4 in (2, 3) else 7.0
        t = np.arange(int(seconds * RATE)) / RATE
        x = rng.uniform(0.002, 0.02) * rng.standard_normal(t.size)
        events: tuple[ArtifactEvent, ...] = ()
        if i % 2:
            if i % 4 == 1:
                x += 0.01 * np.sin(2 * np.pi * 2000.0 * t)
                events = (ArtifactEvent("tonal", 0.0, seconds, 12.0),)
            else:
                x[:: RATE // 8] += 0.4
                events = (ArtifactEvent("periodic_ticks", 0.0, seconds, -3.0, {"period_s": 0.125}),)
        path = write_audio(root / split / f"{split}_{i}.wav", x.astype(np.float32), RATE)
        entries.append(RecordingEntry(path, int(bool(events)), events,
                                      {"stimulus": STIMULI[i % 3], "duration_s": f"{seconds:.3f}"}))
    return write_manifest(root / f"{split}.csv", entries, root)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("baseline_data")
    train_csv, val_csv = write_split(root, "train", 16, 0), write_split(root, "val", 8, 1)
    cfg = config_from_dict({
        "name": "baseline-test",
        "data": {"train_manifest": str(train_csv), "val_manifest": str(val_csv), "sample_rate": RATE},
        "model": {"name": "dsp_baseline", "arguments": {"fmax": 7000.0, "bands": [50.0, 1000.0, 4000.0, 8000.0]}},
        "trainer": {"accelerator": "cpu"},
    })
    model_dir = train(cfg, root / "run")
    return model_dir, write_split(root, "test", 8, 2)


def test_train_fits_the_baseline_into_a_model_directory(fitted):
    model_dir, _ = fitted
    model, info = load_model_dir(model_dir)
    assert info.architecture == "dsp_baseline" and 0.0 < info.threshold < 1.0
    assert info.metrics["train_windows"] == 8 * 2 + 8  # 7 s: two windows, 3 s: one padded window
    assert float(model.feature_std.min()) > 0 and float(model.head.weight.detach().abs().sum()) > 0
    assert info.metrics["val_recording_roc_auc"] > 0.9  # lines and click trains are easy
    card = (model_dir / "MODEL_CARD.md").read_text()
    assert "classical DSP baseline" in card and "tnr_max_median_db" in card
    run = model_dir.parent
    assert (run / "config.yaml").is_file()
    assert json.loads((run / "metrics.json").read_text())["validation"]["threshold"] == info.threshold


def test_evaluate_reports_per_condition_figures_of_the_baseline(fitted, tmp_path):
    model_dir, test_csv = fitted
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["evaluate", str(model_dir), str(test_csv), "--out", str(tmp_path), "--backend", "torch"])
    assert code == 0
    evaluation = json.loads((tmp_path / "report.json").read_text())["models"][0]
    threshold = evaluation["threshold"]
    # recount from the predictions the Detector wrote
    lines = (tmp_path / evaluation["label"] / "predictions.jsonl").read_text().splitlines()
    predictions = {Path(r["path"]).stem: r for r in map(json.loads, lines)}
    short_clean = [r for name, r in predictions.items() if r["label"] == 0 and int(name.split("_")[1]) % 4 in (2, 3)]
    rows = {r["group"]: r for r in evaluation["conditions"]["conditions"]["duration"]}
    assert rows["< 5 s"]["clean"] == len(short_clean) == 2
    assert rows["< 5 s"]["false_positives"] == sum(r["probability"] >= threshold for r in short_clean)
    levels = {r["group"]: r for r in evaluation["conditions"]["conditions"]["level_band"]}
    assert levels["[-5, 0) dB"]["artifacts"] == 2 and levels["[12, 25) dB"]["artifacts"] == 2
    artifacts = [r for r in predictions.values() if r["label"] == 1]
    assert len(artifacts) == 4 and all(any(w["label"] for w in r["windows"]) for r in artifacts)
    summary = evaluation["conditions"]["summary"]
    assert summary["recall_at_0db"]["of"] == 2
    stimulus = {r["group"]: r for r in evaluation["conditions"]["conditions"]["stimulus"]}
    assert set(stimulus) == set(STIMULI) and sum(r["clean"] for r in stimulus.values()) == 4
    markdown = (tmp_path / "report.md").read_text()
    for title in ("## Comparison per condition", "False alarms and recall by stimulus", "By recording duration",
                  "Recall by artifact type", "Recall by artifact level"):
        assert title in markdown, title
    text = stdout.getvalue()
    assert "| model | F1 | precision | recall | ROC AUC | worst stimulus FPR | FPR < 5 s | recall >= 0 dB |" in text
    assert f"{evaluation['label']}: Per condition at threshold" in text
