"""Window labels from event intervals (with the overlap rule) or from the recording's class."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_artifacts.data.labels import required_overlap, window_label
from audio_artifacts.data.manifest import ArtifactEvent, RecordingEntry
from audio_artifacts.windows import WindowSpec, window_starts


def entry(label: int, events) -> RecordingEntry:
    return RecordingEntry(Path("/x.wav"), label, None if events is None else tuple(events), {})


def test_without_intervals_every_window_takes_the_recording_label():
    for label in (0, 1):
        e = entry(label, None)
        assert {window_label(s, s + 5, e) for s in (0.0, 3.75, 100.0)} == {label}


def test_known_clean_recording_has_no_positive_window():
    assert window_label(0, 5, entry(0, [])) == 0


def test_stationary_event_needs_half_a_second_of_overlap():
    tone = ArtifactEvent("tonal", 10.0, 20.0, 0.0)
    e = entry(1, [tone])
    assert window_label(0.0, 5.0, e) == 0  # before
    assert window_label(5.0, 10.0, e) == 0  # touches the start only
    assert window_label(5.6, 10.6, e) == 1  # 0.6 s inside
    assert window_label(5.4, 10.4, e) == 0  # 0.4 s inside: not enough
    assert window_label(12.0, 17.0, e) == 1
    assert window_label(19.6, 24.6, e) == 0  # 0.4 s at the end
    assert window_label(19.4, 24.4, e) == 1
    assert window_label(5.4, 10.4, e, min_overlap_s=0.3) == 1  # the threshold is a parameter


def test_short_event_counts_when_wholly_inside():
    click = ArtifactEvent("click", 7.0, 7.004, 10.0)
    e = entry(1, [click])
    assert window_label(3.75, 8.75, e) == 1
    assert window_label(7.002, 12.002, e) == 0  # only half of the click
    assert window_label(2.0, 7.0, e) == 0


def test_zero_length_event_counts_when_its_instant_is_inside():
    e = entry(1, [ArtifactEvent("click", 5.0, 5.0, 0.0)])
    assert window_label(0.0, 4.9, e) == 0 and window_label(5.1, 10.0, e) == 0
    assert window_label(5.0, 10.0, e) == 1 and window_label(1.0, 6.0, e) == 1
    assert window_label(0.0, 5.0, e) == 1  # on the edge: an instant at a recording's very end is not lost


def test_periodic_train_needs_one_full_period():
    # ticks every 1.2 s from 10 s to 30 s: a window must overlap the train by a whole period
    ticks = ArtifactEvent("tick", 10.0, 30.0, -3.0, {"period_s": 1.2})
    e = entry(1, [ticks])
    assert required_overlap(ticks) == pytest.approx(1.2)
    assert window_label(5.8, 10.8, e) == 0  # 0.8 s overlap may hold no tick
    assert window_label(6.3, 11.3, e) == 1  # 1.3 s overlap holds at least one tick
    # a train shorter than its period (one pulse) counts when wholly inside
    one = ArtifactEvent("thump", 3.0, 3.5, 0.0, {"period_s": 2.0})
    assert required_overlap(one) == 0.5 and window_label(0, 5, entry(1, [one])) == 1


def test_any_event_is_enough():
    e = entry(1, [ArtifactEvent("tonal", 0.0, 0.2, 0.0), ArtifactEvent("buzz", 8.0, 9.0, 0.0)])
    assert window_label(0.0, 5.0, e) == 1  # the 0.2 s tone wholly inside
    assert window_label(3.75, 8.75, e) == 1  # 0.75 s of buzz
    assert window_label(1.0, 6.0, e) == 0


def test_arguments_are_validated():
    e = entry(1, [])
    with pytest.raises(ValueError, match="end_s"):
        window_label(5.0, 1.0, e)
    with pytest.raises(ValueError, match="min_overlap_s"):
        window_label(0.0, 5.0, e, min_overlap_s=-1)


events_st = st.builds(
    lambda start, length, period: ArtifactEvent(
        "x", start, start + length, 0.0, {} if period is None else {"period_s": period}
    ),
    st.floats(0, 60, allow_nan=False),
    st.floats(0, 20, allow_nan=False),
    st.one_of(st.none(), st.floats(0.05, 3.0)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(events_st, max_size=4), st.floats(0, 70, allow_nan=False), st.floats(0, 2))
def test_label_properties(events, start, min_overlap):
    end = start + 5.0
    e = entry(1 if events else 0, events)
    label = window_label(start, end, e, min_overlap)
    overlapping = [ev for ev in events if min(end, ev.end_s) - max(start, ev.start_s) > 0 or (
        ev.duration_s == 0 and start <= ev.start_s <= end)]
    # no event touching the window -> 0; an event wholly inside the window -> 1
    if not overlapping:
        assert label == 0
    if any(start <= ev.start_s and ev.end_s <= end and ev.duration_s > 0 for ev in events):
        assert label == 1
    # more overlap required never turns a 0 into a 1
    assert window_label(start, end, e, min_overlap + 1.0) <= label


def test_labels_over_the_windows_of_a_recording():
    # 30 s recording, tonal line from 12 s to 16 s: windows at 0, 3.75, ..., 22.5, 25
    e = entry(1, [ArtifactEvent("tonal", 12.0, 16.0, 0.0)])
    starts = window_starts(30 * 100, WindowSpec(), 100) / 100
    labels = [window_label(s, s + 5.0, e) for s in starts]
    assert list(starts) == [0.0, 3.75, 7.5, 11.25, 15.0, 18.75, 22.5, 25.0]
    assert labels == [0, 0, 1, 1, 1, 0, 0, 0]


@settings(max_examples=300, deadline=None)
@given(
    st.floats(0.5, 120.0),  # recording length, s
    st.floats(0.0, 1.0),  # event start as a fraction of the room left
    st.floats(0.0, 30.0),  # event duration, s
    st.one_of(st.none(), st.floats(0.05, 1.25)),  # period of a train, up to the 1.25 s window overlap
)
def test_every_event_gets_a_positive_window(seconds, where, length, period):
    """With the default 5 s / 25 % windows no event inside a recording is missed by the labels.

    The overlap of consecutive windows (1.25 s) is at least the required overlap of any
    event whose period is <= 1.25 s, so some window always holds enough of it.
    """
    rate = 1000
    seconds = round(seconds * rate) / rate  # a whole number of samples
    length = min(length, seconds)
    start = where * (seconds - length)
    params = {} if period is None else {"period_s": period}
    e = entry(1, [ArtifactEvent("x", start, start + length, 0.0, params)])
    n = int(round(seconds * rate))
    spec = WindowSpec()
    labels = [window_label(s / rate, min(s + 5 * rate, n) / rate, e) for s in window_starts(n, spec, rate)]
    assert max(labels) == 1
