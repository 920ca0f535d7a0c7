"""Breakdown grouping, the comparison table and the curve pictures, on hand-made scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audio_artifacts.data.manifest import ArtifactEvent, RecordingEntry
from audio_artifacts.evaluation.breakdown import available_columns, breakdown, check_columns, group_labels
from audio_artifacts.evaluation.compare import comparison_table
from audio_artifacts.evaluation.plots import CurveSeries, plot_curves
from audio_artifacts.evaluation.predictions import RecordingScores, recording_arrays, window_arrays
from audio_artifacts.evaluation.report import evaluate_scores, markdown_report


def scored(label: int, probs, events=None, **columns) -> RecordingScores:
    probs = np.asarray(probs, dtype=np.float64)
    entry = RecordingEntry(Path(f"/r{id(probs)}.wav"), label, events, {k: str(v) for k, v in columns.items()})
    starts = np.arange(probs.size) * 3.75
    return RecordingScores(entry, starts, starts + 5.0, probs, np.full(probs.size, label, dtype=np.int64))


def tick(level=0.0):
    return (ArtifactEvent("tick", 0, 5, level, {"period_s": 1.0}),)


def test_recording_score_is_the_window_maximum():
    items = [scored(1, [0.1, 0.9, 0.3]), scored(0, [0.2, 0.05])]
    labels, probs = recording_arrays(items)
    assert labels.tolist() == [1, 0] and probs.tolist() == [0.9, 0.2]
    labels, probs = window_arrays(items)
    assert labels.tolist() == [1, 1, 1, 0, 0] and probs.tolist() == [0.1, 0.9, 0.3, 0.2, 0.05]


def test_multi_valued_artifact_types_count_in_every_group():
    items = [
        scored(1, [0.9], (ArtifactEvent("tick", 0, 1, 0), ArtifactEvent("tonal", 0, 1, 0))),
        scored(1, [0.4], (ArtifactEvent("tonal", 0, 1, 0),)),
        scored(0, [0.3], ()),
        scored(0, [0.1], ()),
    ]
    rows = {row["group"]: row for row in breakdown(items, "artifact_types", threshold=0.5)}
    assert list(rows) == ["tick", "tonal", "none"]
    assert rows["tonal"]["recordings"]["n"] == 2 and rows["tonal"]["recordings"]["recall"] == 0.5
    assert rows["tick"]["recordings"]["recall"] == 1.0
    # tonal positives 0.9, 0.4 against clean 0.3, 0.1: every pair ordered right
    assert rows["tonal"]["roc_auc_vs_all_negatives"] == 1.0
    assert rows["none"]["recordings"]["fp"] == 0 and rows["none"]["roc_auc_vs_all_negatives"] is None


def test_numeric_columns_with_many_values_become_round_bands():
    entries = [RecordingEntry(Path(f"/{i}.wav"), 0, None, {"input_level_db": str(v)})
               for i, v in enumerate([30, 34.5, 41, 47, 52, 58, 63, 69, 75, 80])]
    labels = [group[0] for group in group_labels(entries, "input_level_db")]
    assert labels[:3] == ["[30, 40)", "[30, 40)", "[40, 50)"] and labels[-1] == "[80, 90)"
    items = [scored(0, [0.1], None, input_level_db=e.columns["input_level_db"]) for e in entries]
    groups = [row["group"] for row in breakdown(items, "input_level_db", 0.5)]
    assert groups == ["[30, 40)", "[40, 50)", "[50, 60)", "[60, 70)", "[70, 80)", "[80, 90)"]  # numeric order


def test_few_integer_values_stay_and_fractional_values_are_banded():
    entries = [RecordingEntry(Path(f"/{i}.wav"), 0, None, {"sample_rate": str(r)})
               for i, r in enumerate([16000, 48000, 44100, 16000])]
    assert [g for g, in group_labels(entries, "sample_rate")] == ["16000", "48000", "44100", "16000"]


def test_derived_level_column_and_missing_values():
    items = [scored(1, [0.9], tick(-3.5)), scored(1, [0.9], tick(12.25)), scored(0, [0.2], ()),
             scored(1, [0.8], None)]
    labels = [g for g, in group_labels([i.entry for i in items], "artifact_level_db")]
    assert labels == ["[-4, -2)", "[12, 14)", "none", "(missing)"]


def test_columns_are_checked_against_the_manifest():
    entries = [RecordingEntry(Path("/a.wav"), 1, tick(), {"stimulus": "quiet"})]
    assert available_columns(entries) == ["stimulus", "class", "artifact_types", "artifact_level_db"]
    assert available_columns([RecordingEntry(Path("/a.wav"), 1, None, {})]) == ["class"]
    check_columns(entries, ["stimulus", "class"])
    with pytest.raises(ValueError, match="'device'.*available: stimulus, class"):
        check_columns(entries, ["device", "stimulus"])


def test_comparison_table_format():
    evaluations = [
        {"label": "wavegram", "recordings": {"f1": 0.95321, "precision": 0.96414, "recall": 0.94256, "roc_auc": 0.98621}},
        {"label": "empty", "recordings": {"f1": 0.0, "precision": 0.0, "recall": 0.0, "roc_auc": None}},
    ]
    assert comparison_table(evaluations).splitlines() == [
        "| model | F1 | precision | recall | ROC AUC |",
        "|---|---|---|---|---|",
        "| wavegram | 0.9532 | 0.9641 | 0.9426 | 0.9862 |",
        "| empty | 0.0000 | 0.0000 | 0.0000 | n/a |",
    ]
    with pytest.raises(ValueError, match="level"):
        comparison_table(evaluations, "files")


def test_evaluation_and_markdown_with_one_class_only():
    items = [scored(0, [0.2, 0.7]), scored(0, [0.1])]
    e = evaluate_scores(items, [], 0.5, label="m", model_dir="/m", model={"name": "m"}, manifest="x.csv",
                        window={"duration_s": 5.0, "overlap": 0.25}, by=["class"])
    assert e.recordings["roc_auc"] is None and e.recordings["fp"] == 1 and e.optimistic["recordings"] is None
    text = markdown_report([e], "x.csv")
    assert "| m | 0.0000 | 0.0000 | 0.0000 | n/a |" in text and "### By class" in text
    with pytest.raises(ValueError, match="no recording"):
        evaluate_scores([], [], 0.5, label="m", model_dir="/m", model={}, manifest="x.csv", window={})


def test_curves_are_pngs_and_undefined_curves_are_skipped(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(20), np.zeros(20)]
    good = CurveSeries("model", labels, np.r_[rng.uniform(0.3, 1, 20), rng.uniform(0, 0.7, 20)], 0.5)
    for kind in ("roc", "pr"):
        path = plot_curves([good], kind, tmp_path / f"{kind}.png")
        assert path is not None and path.read_bytes()[:4] == b"\x89PNG"
    one_class = CurveSeries("clean only", np.zeros(5), rng.uniform(size=5), 0.5)
    assert plot_curves([one_class], "roc", tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()
    with pytest.raises(ValueError, match="kind"):
        plot_curves([good], "det", tmp_path / "x.png")


# --- calibration ------------------------------------------------------------------------

def test_brier_and_ece_on_hand_computed_values():
    from audio_artifacts.evaluation.calibration import brier_score, expected_calibration_error, reliability_bins

    labels = [0, 0, 1, 1]
    probs = [0.1, 0.3, 0.6, 1.0]
    assert brier_score(labels, probs) == pytest.approx((0.01 + 0.09 + 0.16 + 0.0) / 4)
    # bins of width 0.5: {0.1, 0.3} -> confidence 0.2, frequency 0; {0.6, 1.0} -> 0.8 vs 1
    assert expected_calibration_error(labels, probs, bins=2) == pytest.approx(0.5 * 0.2 + 0.5 * 0.2)
    rows = reliability_bins(labels, probs, bins=10)
    assert [r["n"] for r in rows] == [1, 1, 1, 1] and rows[-1]["low"] == 0.9  # p = 1 in the last bin
    assert expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0


def test_temperature_fit_recovers_the_temperature_of_the_data():
    from audio_artifacts.evaluation.calibration import expected_calibration_error, fit_temperature, scale_probability

    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 6.0, 40000)
    labels = (rng.random(logits.size) < 1 / (1 + np.exp(-logits / 3.0))).astype(int)  # over-confident by 3
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(3.0, rel=0.05)
    before = expected_calibration_error(labels, 1 / (1 + np.exp(-logits)))
    after = expected_calibration_error(labels, 1 / (1 + np.exp(-logits / temperature)))
    assert after < before / 3
    assert fit_temperature(logits, np.zeros_like(labels)) == 1.0  # one class: nothing to fit
    # a threshold mapped to the calibrated scale keeps every verdict
    threshold = 0.7
    raw = 1 / (1 + np.exp(-logits))
    mapped = scale_probability(threshold, temperature)
    assert np.array_equal(raw >= threshold, 1 / (1 + np.exp(-logits / temperature)) >= mapped)
