"""Description figures against known truth: hits, misses, tolerances."""

from __future__ import annotations

from pathlib import Path

import pytest

from audio_artifacts.data.manifest import ArtifactEvent, RecordingEntry
from audio_artifacts.evaluation.description import (
    description_markdown,
    description_report,
    line_tolerance,
)
from audio_artifacts.results.schema import Event


def _entry(*events: ArtifactEvent) -> RecordingEntry:
    return RecordingEntry(Path("x.wav"), 1, events, {})


TONE = ArtifactEvent("tonal", 4.0, 7.0, 12.0, {"frequencies_hz": [1000.0, 2000.0], "relative_amplitudes_db": [0.0, -9.0]})
TICKS = ArtifactEvent("periodic_ticks", 1.0, 9.0, 15.0, {"period_s": 0.8})
WEAK = ArtifactEvent("clicks", 20.0, 20.05, 3.0, {})


def test_figures_count_hits_and_misses_within_their_tolerances() -> None:
    good = Event(4.3, 6.8, 0.9, type="tonal", type_probabilities={"tonal": 0.9}, frequencies_hz=(1009.0,))
    ticks = Event(1.05, 9.3, 0.9, type="thumps", type_probabilities={"thumps": 0.6, "periodic_ticks": 0.55},
                  period_s=0.85)
    report = description_report([
        (_entry(TONE), [good], [Event(3.75, 10.0, 0.9)]),
        (_entry(TICKS, WEAK), [ticks], []),
    ])
    assert report["strong_true_events"] == 2 and report["strong_true_events_reported"] == 2  # WEAK < 6 dB
    tonal, ticks_row = report["per_type"]["tonal"], report["per_type"]["periodic_ticks"]
    assert tonal["type_accuracy"] == 1.0 and ticks_row["type_accuracy"] == 0.0
    assert report["type_accuracy"] == 0.5
    assert tonal["lines"] == 1 and tonal["lines_found"] == 1.0  # 2 kHz at 12 - 9 = 3 dB does not count
    assert tonal["line_error_hz_median"] == pytest.approx(9.0)
    assert ticks_row["periods"] == 1 and ticks_row["periods_within_5pct"] == 0.0  # 6 % off
    assert tonal["onset_error_s_median"] == pytest.approx(0.3) and tonal["onsets_within_0.5s"] == 1.0
    assert tonal["window_onsets_within_0.5s"] == 1.0 and tonal["window_offsets_within_0.5s"] == 0.0
    assert report["per_type"]["periodic_ticks"]["f1"] == 1.0  # reported with p >= 0.5 beside the top type
    assert report["per_type"]["thumps"]["f1"] == 0.0
    assert "| tonal | 1 | 1.000 |" in description_markdown(report)
    assert tonal["levels"] == 1 and tonal["level_error_db_median"] is None  # no level reported
    assert tonal["levels_within_tolerance"] == 0.0


def test_levels_are_compared_with_the_loudest_true_event() -> None:
    close = Event(4.0, 7.0, 0.9, type="tonal", frequencies_hz=(1000.0,), level_db=15.0)  # true 12 dB: +3
    under = Event(1.0, 9.0, 0.9, type="periodic_ticks", period_s=0.8, level_db=-60.0)  # true 15 dB: -75
    report = description_report([(_entry(TONE), [close], []), (_entry(TICKS), [under], [])])
    assert report["per_type"]["tonal"]["level_error_db_median"] == pytest.approx(3.0)
    assert report["per_type"]["tonal"]["levels_within_tolerance"] == 1.0
    assert report["per_type"]["periodic_ticks"]["levels_within_tolerance"] == 0.0
    assert report["levels"] == 2 and report["levels_within_tolerance"] == 0.5
    assert report["level_error_db_median"] == pytest.approx(39.0)
    assert "levels within 6 dB: 0.500 of 2" in description_markdown(report)


def test_line_tolerance_is_one_percent_or_16_hz() -> None:
    assert line_tolerance(100.0) == 16.0 and line_tolerance(5000.0) == 50.0
    far = Event(4.0, 7.0, 0.9, type="tonal", frequencies_hz=(1017.0,))
    report = description_report([(_entry(TONE), [far], [])])
    assert report["lines_found"] == 0.0
