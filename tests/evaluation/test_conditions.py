"""Per-condition figures on a hand-built set of scored recordings with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audio_artifacts.data.manifest import ArtifactEvent, RecordingEntry
from audio_artifacts.evaluation.compare import condition_comparison_rows, condition_table
from audio_artifacts.evaluation.conditions import (
    LEVEL_BANDS,
    band_of,
    condition_report,
    recording_duration_s,
)
from audio_artifacts.evaluation.predictions import RecordingScores
from audio_artifacts.evaluation.report import conditions_markdown

THRESHOLD = 0.5


def scored(name: str, probability: float, *, stimulus: str | None = None, duration_s: float | None = 10.0,
           events: tuple[tuple[str, float], ...] = (), scanned_s: float = 10.0, **columns: str) -> RecordingScores:
    """One recording: clean unless ``events`` ``((type, level_db), ...)``; two windows, the max is ``probability``."""
    cells = dict(columns)
    if stimulus is not None:
        cells["stimulus"] = stimulus
    if duration_s is not None:
        cells["duration_s"] = f"{duration_s:.3f}"
    entry = RecordingEntry(Path(f"/data/{name}.wav"), int(bool(events)),
                           tuple(ArtifactEvent(t, 0.0, 1.0, level) for t, level in events), cells)
    return RecordingScores(entry, np.array([0.0, max(scanned_s - 5.0, 0.0)]),
                           np.array([min(5.0, scanned_s), scanned_s]), np.array([probability / 2, probability]),
                           np.array([0, int(bool(events))]))


@pytest.fixture()
def scores() -> list[RecordingScores]:
    return [
        # clean: music 2 of 3 alarms, speech 0 of 2, quiet 1 of 1; two short ones (one alarm)
        scored("m1", 0.9, stimulus="music"),
        scored("m2", 0.6, stimulus="music", duration_s=3.0),
        scored("m3", 0.1, stimulus="music"),
        scored("s1", 0.2, stimulus="speech", duration_s=2.0),
        scored("s2", 0.49, stimulus="speech"),
        scored("q1", 0.5, stimulus="quiet"),  # exactly at the threshold: an alarm
        # artifacts: levels -8 (missed), -2 (found), 3 (found), 3 (missed), 20 (found), 30 (found)
        scored("a1", 0.3, stimulus="speech", events=(("tonal", -8.0),)),
        scored("a2", 0.7, stimulus="speech", events=(("clicks", -2.0),)),
        scored("a3", 0.8, stimulus="music", events=(("tonal", 3.0), ("clicks", -20.0))),
        scored("a4", 0.1, stimulus="quiet", events=(("periodic_ticks", 3.0),), duration_s=4.0),
        scored("a5", 0.95, stimulus="quiet", events=(("tonal", 20.0),)),
        scored("a6", 0.99, stimulus="quiet", events=(("tdma_buzz", 30.0),)),
    ]


def rows_by_group(report: dict, condition: str) -> dict[str, dict]:
    return {row["group"]: row for row in report["conditions"][condition]}


def test_fpr_per_stimulus_counts_clean_recordings_only(scores):
    report = condition_report(scores, THRESHOLD)
    stimulus = rows_by_group(report, "stimulus")
    assert list(stimulus) == ["music", "quiet", "speech"]
    assert (stimulus["music"]["false_positives"], stimulus["music"]["clean"]) == (2, 3)
    assert stimulus["music"]["fpr"] == pytest.approx(2 / 3)
    assert (stimulus["speech"]["false_positives"], stimulus["speech"]["clean"]) == (0, 2)
    assert (stimulus["quiet"]["false_positives"], stimulus["quiet"]["clean"]) == (1, 1)
    # artifact recordings of a stimulus give its recall, not false alarms
    assert (stimulus["speech"]["detected"], stimulus["speech"]["artifacts"]) == (1, 2)
    assert (stimulus["quiet"]["detected"], stimulus["quiet"]["artifacts"]) == (2, 3)
    summary = report["summary"]
    assert summary["worst_stimulus_fpr"] == {"group": "quiet", "rate": 1.0, "count": 1, "of": 1}
    assert summary["fpr"] == {"rate": 0.5, "count": 3, "of": 6}


def test_duration_bands_use_the_manifest_then_the_scanned_duration(scores):
    report = condition_report(scores, THRESHOLD)
    duration = rows_by_group(report, "duration")
    assert list(duration) == ["< 5 s", ">= 5 s"]
    assert (duration["< 5 s"]["false_positives"], duration["< 5 s"]["clean"]) == (1, 2)
    assert (duration["< 5 s"]["detected"], duration["< 5 s"]["artifacts"]) == (0, 1)
    assert (duration[">= 5 s"]["false_positives"], duration[">= 5 s"]["clean"]) == (2, 4)
    assert report["summary"]["fpr_short"] == {"rate": 0.5, "count": 1, "of": 2}
    no_column = scored("x", 0.9, duration_s=None, scanned_s=3.2)
    assert recording_duration_s(no_column) == pytest.approx(3.2)
    assert rows_by_group(condition_report([no_column], THRESHOLD), "duration")["< 5 s"]["false_positives"] == 1


def test_recall_per_artifact_type_is_multi_valued(scores):
    types = rows_by_group(condition_report(scores, THRESHOLD), "artifact_type")
    assert "none" not in types  # clean recordings have no type
    assert (types["tonal"]["detected"], types["tonal"]["artifacts"]) == (2, 3)  # a1 missed, a3 and a5 found
    assert (types["clicks"]["detected"], types["clicks"]["artifacts"]) == (2, 2)  # a2 and a3 (tonal+clicks)
    assert (types["periodic_ticks"]["detected"], types["periodic_ticks"]["artifacts"]) == (0, 1)
    assert all(row["clean"] == 0 for row in types.values())


def test_recall_per_level_band_uses_the_loudest_event(scores):
    report = condition_report(scores, THRESHOLD)
    levels = rows_by_group(report, "level_band")
    assert list(levels) == [name for name, _, _ in LEVEL_BANDS]  # fixed bands, empty ones too
    expected = {"< -5 dB": (0, 1), "[-5, 0) dB": (1, 1), "[0, 6) dB": (1, 2), "[6, 12) dB": (0, 0),
                "[12, 25) dB": (1, 1), ">= 25 dB": (1, 1)}
    assert {g: (r["detected"], r["artifacts"]) for g, r in levels.items()} == expected
    assert levels["[6, 12) dB"]["recall"] is None
    # >= 0 dB: a3, a4, a5, a6 -> 3 of 4
    assert report["summary"]["recall_at_0db"] == {"rate": 0.75, "count": 3, "of": 4}
    assert report["summary"]["recall"] == {"rate": 4 / 6, "count": 4, "of": 6}


def test_band_edges_are_half_open():
    assert band_of(0.0, LEVEL_BANDS) == "[0, 6) dB"
    assert band_of(-5.0, LEVEL_BANDS) == "[-5, 0) dB"
    assert band_of(25.0, LEVEL_BANDS) == ">= 25 dB"
    assert band_of(-100.0, LEVEL_BANDS) == "< -5 dB"


def test_optional_manifest_columns_get_their_own_condition(scores):
    extra = [*scores, scored("f1", 0.9, stimulus="music", family="piano", stimulus_source="musdb")]
    report = condition_report(extra, THRESHOLD)
    assert "family" in report["conditions"] and "stimulus_source" in report["conditions"]
    family = rows_by_group(report, "family")
    assert (family["piano"]["false_positives"], family["piano"]["clean"]) == (1, 1)
    assert family["(missing)"]["clean"] == 6  # the recordings without the column
    assert "family" not in condition_report(scores, THRESHOLD)["conditions"]


def test_a_higher_threshold_changes_the_counts(scores):
    report = condition_report(scores, 0.85)
    assert report["summary"]["fpr"]["count"] == 1  # only m1 (0.9)
    assert report["summary"]["recall_at_0db"]["count"] == 2  # a5, a6


def test_tables_show_rates_with_counts(scores):
    report = condition_report(scores, THRESHOLD)
    text = "\n".join(conditions_markdown(report))
    assert "| music | 3 | 0.6667 (2/3) | 1 | 1.0000 (1/1) |" in text
    assert "| [0, 6) dB | 2 | 0.5000 (1/2) |" in text
    assert "recall at >= 0 dB: 0.7500 (3/4)" in text
    evaluation = {"label": "m", "recordings": {"f1": 0.5, "precision": 0.5, "recall": 0.5, "roc_auc": 0.5},
                  "conditions": report}
    row = condition_comparison_rows([evaluation])[0]
    assert row["FPR < 5 s"]["rate"] == 0.5 and row["worst stimulus FPR"]["group"] == "quiet"
    table = condition_table([evaluation]).splitlines()
    assert table[0].startswith("| model | F1 | precision | recall | ROC AUC | worst stimulus FPR")
    assert table[2] == "| m | 0.5000 | 0.5000 | 0.5000 | 0.5000 | 1.0000 (1/1) quiet | 0.5000 (1/2) | 0.7500 (3/4) |"
