"""Events as the detector would flag them in a labelled recording, for fitting and measuring the describer.

A perfect detector flags exactly the windows :func:`~audio_artifacts.data.labels.window_label`
calls artifact windows; their runs are the spans the describer gets. Each
span's truth is the simulator's events that overlap it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from audio_artifacts.data.manifest import ArtifactEvent, RecordingEntry
from audio_artifacts.results.schema import EVENT_TYPES

_GRID_RATE = 1000  # window times on a 1 ms grid


@dataclass(frozen=True)
class LabelledSpan:
    """A flagged span of a recording and the true events overlapping it."""

    entry: RecordingEntry
    start: float
    end: float
    events: tuple[ArtifactEvent, ...]

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(sorted({e.type for e in self.events}, key=EVENT_TYPES.index))

    def label_vector(self) -> np.ndarray:
        """0/1 per :data:`EVENT_TYPES`."""
        return np.array([float(name in self.types) for name in EVENT_TYPES])


def entry_duration(entry: RecordingEntry) -> float:
    """The recording's duration (s) from its manifest row, else from the file's header."""
    value = entry.columns.get("duration_s")
    if value not in (None, ""):
        return float(value)
    from audio_artifacts.audio import read_info

    return read_info(entry.path).duration_s


def oracle_spans(entry: RecordingEntry, duration_s: float, window_s: float = 5.0, overlap: float = 0.25,
                 min_overlap_s: float = 0.5) -> list[tuple[float, float]]:
    """Runs of the windows a perfect detector flags, as (start, end) seconds."""
    from audio_artifacts.data.labels import window_label
    from audio_artifacts.windows import WindowSpec, window_starts

    spec = WindowSpec(window_s, overlap)
    n = int(round(duration_s * _GRID_RATE))
    size = spec.window_samples(_GRID_RATE)
    spans: list[tuple[float, float]] = []
    for s in window_starts(n, spec, _GRID_RATE).tolist():
        a, b = s / _GRID_RATE, min(s + size, n) / _GRID_RATE
        if not window_label(a, b, entry, min_overlap_s):
            continue
        if spans and a <= spans[-1][1]:
            spans[-1] = (spans[-1][0], b)
        else:
            spans.append((a, b))
    return spans


def overlapping(events: Sequence[ArtifactEvent], start: float, end: float) -> tuple[ArtifactEvent, ...]:
    """The events that overlap ``[start, end]`` (an instant event inside counts)."""
    return tuple(e for e in events if e.start_s <= end and e.end_s >= start)


def labelled_spans(entries: Iterable[RecordingEntry]) -> Iterator[LabelledSpan]:
    """Every oracle span of every recording that has events, with its true events."""
    for entry in entries:
        if not entry.events:
            continue
        duration = entry_duration(entry)
        for start, end in oracle_spans(entry, duration):
            events = overlapping(entry.events, start, end)
            if events:
                yield LabelledSpan(entry, start, end, events)
