"""Window probabilities of every recording of a manifest, with their labels.

The probabilities come from :class:`audio_artifacts.inference.detector.Detector`,
so evaluation sees exactly the windows (``audio`` -> ``windows``) and the
probabilities that ``scan`` and ``serve`` see. Each window gets its label
from :func:`audio_artifacts.data.labels.window_label`; the recording keeps
its manifest label.

:class:`PredictionWriter` writes one JSON line per recording as it is scored,
so a long evaluation leaves its raw material on disk even if it is stopped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from audio_artifacts.data.labels import DEFAULT_MIN_OVERLAP_S, window_label
from audio_artifacts.data.manifest import RecordingEntry


@dataclass(frozen=True)
class RecordingScores:
    """A scored recording.

    Attributes
    ----------
    entry : RecordingEntry
        The manifest row (path, label, events, columns).
    starts, ends : numpy.ndarray
        float64, shape ``(n_windows,)``, window times in seconds.
    probabilities : numpy.ndarray
        float64, shape ``(n_windows,)``, artifact probability per window.
    window_labels : numpy.ndarray
        int64, shape ``(n_windows,)``, 0/1 label per window.
    events : tuple of Event
        The events the detector reported, described (type, lines, period, times).
    threshold : float or None
        The threshold the events were made at.
    """

    entry: RecordingEntry
    starts: np.ndarray
    ends: np.ndarray
    probabilities: np.ndarray
    window_labels: np.ndarray
    events: tuple = ()
    threshold: float | None = None

    @property
    def probability(self) -> float:
        """Recording-level probability: the maximum over its windows."""
        return float(self.probabilities.max())

    def to_dict(self) -> dict[str, Any]:
        """The JSON line of this recording in ``predictions.jsonl``."""
        return {
            "path": str(self.entry.path),
            "status": "ok",
            "label": self.entry.label,
            "probability": self.probability,
            "windows": [
                {"start": s, "end": e, "probability": p, "label": int(y)}
                for s, e, p, y in zip(
                    self.starts.tolist(), self.ends.tolist(), self.probabilities.tolist(), self.window_labels.tolist()
                )
            ],
            "events": [e.to_dict() for e in self.events],
        }


@dataclass(frozen=True)
class FailedRecording:
    """A manifest recording the detector could not read (``error`` names the file and the reason)."""

    entry: RecordingEntry
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.entry.path), "status": "error", "label": self.entry.label, "error": self.error}


def score_entries(
    detector: Any, entries: Iterable[RecordingEntry], min_overlap_s: float = DEFAULT_MIN_OVERLAP_S,
    stimulus_root: str | os.PathLike[str] | None = None,
) -> Iterator[RecordingScores | FailedRecording]:
    """Score recordings with a detector, one result per entry, in order.

    Parameters
    ----------
    detector : audio_artifacts.inference.detector.Detector
        Gives the windows and their probabilities (``scan_many``).
    entries : iterable of RecordingEntry
    min_overlap_s : float
        Passed to :func:`~audio_artifacts.data.labels.window_label`.
    stimulus_root : path-like, optional
        Score stimulus-aware: each entry's ``stimulus_path`` column (relative
        to this folder; empty for quiet recordings) is what its test system
        played, and the residual is judged (`inference.stimulus`).

    Yields
    ------
    RecordingScores or FailedRecording
    """
    entries = list(entries)
    if stimulus_root is None:
        results = detector.scan_many([entry.path for entry in entries])
    else:
        root = Path(stimulus_root)
        stimuli = [root / e.columns["stimulus_path"] if e.columns.get("stimulus_path") else None for e in entries]
        results = detector.scan_many([entry.path for entry in entries], stimuli=stimuli)
    for entry, result in zip(entries, results, strict=True):
        if result.status != "ok" or not result.windows:
            yield FailedRecording(entry, result.error or f"{entry.path}: no windows")
            continue
        starts = np.array([w.start for w in result.windows], dtype=np.float64)
        ends = np.array([w.end for w in result.windows], dtype=np.float64)
        probabilities = np.array([w.probability for w in result.windows], dtype=np.float64)
        labels = np.array(
            [window_label(s, e, entry, min_overlap_s) for s, e in zip(starts.tolist(), ends.tolist())],
            dtype=np.int64,
        )
        yield RecordingScores(entry, starts, ends, probabilities, labels, result.events, result.threshold)


class PredictionWriter:
    """Append one JSON line per scored recording, flushed and fsync'ed as it comes.

    Use as a context manager; ``write`` takes a RecordingScores or FailedRecording.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: TextIO | None = None

    def __enter__(self) -> PredictionWriter:
        self._handle = open(self.path, "w", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def write(self, item: RecordingScores | FailedRecording) -> None:
        if self._handle is None:
            raise RuntimeError("PredictionWriter is not open; use it in a 'with' block")
        self._handle.write(json.dumps(item.to_dict(), separators=(",", ":")) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())


def window_arrays(scores: Iterable[RecordingScores]) -> tuple[np.ndarray, np.ndarray]:
    """All windows of all recordings: ``(labels int64 (n,), probabilities float64 (n,))``."""
    scores = list(scores)
    if not scores:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    return (
        np.concatenate([s.window_labels for s in scores]),
        np.concatenate([s.probabilities for s in scores]),
    )


def recording_arrays(scores: Iterable[RecordingScores]) -> tuple[np.ndarray, np.ndarray]:
    """One value per recording: ``(labels int64 (n,), max window probability float64 (n,))``.

    The recording score is :func:`audio_artifacts.evaluation.metrics.max_by_recording`
    of its windows, the same aggregation training uses for its threshold.
    """
    from audio_artifacts.evaluation.metrics import max_by_recording

    scores = list(scores)
    ids = [i for i, s in enumerate(scores) for _ in range(s.probabilities.size)]
    maxima = max_by_recording(ids, window_arrays(scores)[1]) if scores else {}
    return (
        np.array([s.entry.label for s in scores], dtype=np.int64),
        np.array([maxima[i] for i in range(len(scores))], dtype=np.float64),
    )
