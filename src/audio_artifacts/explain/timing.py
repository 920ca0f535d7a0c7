"""Where an artifact starts and ends: a track (dB over its floor) crossing a threshold."""

from __future__ import annotations

import numpy as np

#: Onsets and offsets are taken where a track is this far under its active level (half amplitude).
HALF_LEVEL_DB = 6.0


def threshold_db(track_db: np.ndarray, detect_db: float) -> float | None:
    """The crossing level of a track: ``HALF_LEVEL_DB`` under its typical active value, at least half ``detect_db``.

    ``None`` when no value reaches ``detect_db`` (nothing active).
    """
    active = track_db[track_db >= detect_db]
    if active.size == 0:
        return None
    return float(max(0.5 * detect_db, np.median(active) - HALF_LEVEL_DB))


def crossing_span(track_db: np.ndarray, times_s: np.ndarray, threshold: float,
                  edge_s: float = 0.0) -> tuple[float, float] | None:
    """First rising and last falling crossing of ``threshold``, interpolated between frames.

    Parameters
    ----------
    track_db : numpy.ndarray
        ``(frames,)`` the track, dB.
    times_s : numpy.ndarray
        ``(frames,)`` their times, ascending.

    Returns
    -------
    (start, end) in the units of ``times_s``, or None when no frame reaches ``threshold``.
    A track active at its first (last) frame starts ``edge_s`` before (ends
    ``edge_s`` after) it: half a frame, where the frame's audio begins (ends).
    """
    above = np.flatnonzero(track_db >= threshold)
    if above.size == 0:
        return None
    first, last = int(above[0]), int(above[-1])
    return (_cross(track_db, times_s, first - 1, first, threshold, -edge_s),
            _cross(track_db, times_s, last + 1, last, threshold, edge_s))


def _cross(track: np.ndarray, times: np.ndarray, outside: int, inside: int, threshold: float, edge: float) -> float:
    if outside < 0 or outside >= track.size:
        return float(times[inside] + edge)
    a, b = track[outside], track[inside]
    fraction = 0.5 if b == a else float(np.clip((threshold - a) / (b - a), 0.0, 1.0))
    return float(times[outside] + fraction * (times[inside] - times[outside]))


def smooth(track: np.ndarray, width: int) -> np.ndarray:
    """Moving average over ``width`` samples (same length, edges averaged over what exists)."""
    width = min(max(1, int(width)), track.size)
    if width <= 1:
        return np.asarray(track, dtype=np.float64)
    kernel = np.ones(width)
    total = np.convolve(track, kernel, mode="same")
    count = np.convolve(np.ones(track.size), kernel, mode="same")
    return total / count
