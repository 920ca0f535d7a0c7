"""Onset errors on constructed frame and window decisions with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audio_artifacts.evaluation.onsets import onset_errors, raw_threshold, summarize_onsets

HOP = 0.04


def frames(on_from: float, on_to: float, total: float = 8.0) -> tuple[np.ndarray, np.ndarray]:
    """Frame centre times every HOP s and probabilities 0.9 in [on_from, on_to), 0.1 elsewhere."""
    times = (np.arange(int(round(total / HOP))) + 0.5) * HOP
    return np.where((times >= on_from) & (times < on_to), 0.9, 0.1), times


def test_late_frames_give_the_delay():
    times = np.array([1.50, 2.00, 2.16, 2.20, 3.00])
    probabilities = np.array([0.1, 0.4, 0.8, 0.9, 0.9])
    errors = onset_errors(probabilities, times, [(2.0, 3.0)], threshold=0.5)
    assert errors == pytest.approx([0.16])


def test_early_frames_within_the_lead_count_as_absolute_error():
    probabilities, times = frames(1.5, 3.0)
    (error,) = onset_errors(probabilities, times, [(2.0, 3.0)], threshold=0.5)
    assert error == pytest.approx(0.5)  # the first frame centre at or after 1.5 s is 1.50 s


def test_event_without_on_frames_is_missed():
    probabilities, times = frames(6.0, 7.0)
    errors = onset_errors(probabilities, times, [(2.0, 3.0), (6.0, 6.5)], threshold=0.5)
    assert math.isnan(errors[0])
    assert errors[1] == pytest.approx(HOP / 2)
    summary = summarize_onsets(errors)
    assert summary.events == 2 and summary.found == 0.5
    assert summary.median_s == pytest.approx(HOP / 2)


def test_frames_before_the_lead_do_not_count():
    # on from 0.5 s to 0.9 s only: more than 1 s before the event at 2.0 s
    probabilities, times = frames(0.5, 0.9)
    assert math.isnan(onset_errors(probabilities, times, [(2.0, 3.0)], threshold=0.5)[0])
    # the same frames count for a lead of 1.6 s, with their start as the onset
    (error,) = onset_errors(probabilities, times, [(2.0, 3.0)], threshold=0.5, lead_s=1.6)
    assert error == pytest.approx(2.0 - 0.5 - HOP / 2, abs=HOP)


def test_threshold_is_inclusive_and_order_does_not_matter():
    times = np.array([2.5, 2.3, 2.1])
    probabilities = np.array([0.5, 0.5, 0.49])
    assert onset_errors(probabilities, times, [(2.0, 3.0)], threshold=0.5) == pytest.approx([0.3])


def test_windows_count_when_they_overlap_the_event():
    # 5 s windows, hop 3.75 s; only the first (0..5 s) flagged: an event at 4.0 s is found at 0 s
    starts = np.array([0.0, 3.75, 7.5])
    ends = starts + 5.0
    probabilities = np.array([0.9, 0.2, 0.9])
    events = [(4.0, 4.5), (12.6, 13.0), (14.0, 14.5)]
    errors = onset_errors(probabilities, starts, events, threshold=0.5, ends=ends)
    assert errors[0] == pytest.approx(4.0)
    assert errors[1] == pytest.approx(5.1)  # window 7.5..12.5 s ends within the 1 s lead
    assert math.isnan(errors[2])  # it ends 1.5 s before this one


def test_summary_of_no_events_and_of_all_missed():
    assert summarize_onsets([]).events == 0
    missed = summarize_onsets([np.nan, np.nan])
    assert missed.found == 0.0 and math.isnan(missed.median_s)
    spread = summarize_onsets(np.arange(11, dtype=float))
    assert spread.median_s == 5.0 and spread.p90_s == pytest.approx(9.0)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="same length"):
        onset_errors([0.9, 0.9], [1.0], [(1.0, 2.0)], threshold=0.5)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 1.7])
def test_raw_threshold_decides_as_the_calibrated_one(temperature):
    logits = np.linspace(-6.0, 6.0, 241)
    calibrated = 1.0 / (1.0 + np.exp(-logits / temperature))
    raw = 1.0 / (1.0 + np.exp(-logits))
    for threshold in (0.2, 0.5, 0.83):
        assert np.array_equal(calibrated >= threshold, raw >= raw_threshold(threshold, temperature))
    assert raw_threshold(0.5, temperature) == pytest.approx(0.5)
