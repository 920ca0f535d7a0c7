"""Event-onset error of frame or window decisions against the simulator's true events.

An event's onset error is ``|t - event start|`` where ``t`` is the earliest
"on" decision (probability ``>= threshold``) that falls in the event's search
span ``[start - lead_s, end]``; an event with no such decision is *missed*
(NaN). A decision is a point (a frame at its centre time) or, given ``ends``,
an interval (a 5 s window) that counts when it overlaps the span; its time is
its start. `summarize_onsets` reduces the errors to found share, median and
90th percentile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LEAD_S = 1.0
"""Seconds before an event's start in which an "on" decision still counts for it."""


def raw_threshold(threshold: float, temperature: float) -> float:
    """The uncalibrated probability ``sigmoid(l)`` that is ``threshold`` after temperature scaling.

    A model directory's threshold is on ``sigmoid(l / T)``; frame
    probabilities are ``sigmoid(l)``. ``sigmoid(l / T) >= threshold`` exactly
    when ``sigmoid(l) >= sigmoid(T * logit(threshold))``.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    if threshold <= 0.0 or threshold >= 1.0:
        return float(threshold)
    return 1.0 / (1.0 + math.exp(-temperature * math.log(threshold / (1.0 - threshold))))


def onset_errors(
    probabilities: np.ndarray | Sequence[float],
    times: np.ndarray | Sequence[float],
    events: np.ndarray | Sequence[tuple[float, float]],
    threshold: float,
    *,
    ends: np.ndarray | Sequence[float] | None = None,
    lead_s: float = LEAD_S,
) -> np.ndarray:
    """Onset error of every true event, seconds; NaN for a missed event.

    Parameters
    ----------
    probabilities : array, shape ``(n,)``
        Artifact probability of each decision (frame or window), any order.
    times : array, shape ``(n,)``
        Recording time of each decision in seconds (a frame's centre, a window's start).
    events : array, shape ``(n_events, 2)``
        True ``(start_s, end_s)`` intervals.
    threshold : float
        A decision is "on" when ``probability >= threshold``.
    ends : array, shape ``(n,)``, optional
        Interval decisions: a decision spans ``[times, ends]`` and counts when
        it overlaps the search span. None: point decisions at ``times``.
    lead_s : float
        How early before an event's start an "on" decision still counts.

    Returns
    -------
    numpy.ndarray
        float64, shape ``(n_events,)``.
    """
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    if p.shape != t.shape:
        raise ValueError(f"probabilities and times must have the same length, got {p.size} and {t.size}")
    e = np.asarray(events, dtype=np.float64).reshape(-1, 2)
    if np.any(e[:, 1] < e[:, 0]):
        raise ValueError("every event needs start_s <= end_s")
    if not lead_s >= 0:
        raise ValueError(f"lead_s must be >= 0 seconds, got {lead_s!r}")
    last = t if ends is None else np.asarray(ends, dtype=np.float64).reshape(-1)
    if last.shape != t.shape:
        raise ValueError(f"ends must have one value per decision, got {last.size} for {t.size}")
    on = p >= threshold
    starts_on, ends_on = t[on], last[on]
    errors = np.full(e.shape[0], np.nan)
    for k, (start, end) in enumerate(e):
        inside = (ends_on >= start - lead_s) & (starts_on <= end)
        if inside.any():
            errors[k] = abs(float(starts_on[inside].min()) - start)
    return errors


@dataclass(frozen=True)
class OnsetSummary:
    """Onset errors of a set of events.

    Attributes
    ----------
    events : int
        Events scored.
    found : float
        Share of them with an "on" decision in their span (NaN for no events).
    median_s, p90_s : float
        Median and 90th percentile of the found events' errors, seconds (NaN when none found).
    """

    events: int
    found: float
    median_s: float
    p90_s: float


def summarize_onsets(errors: np.ndarray | Sequence[float]) -> OnsetSummary:
    """`OnsetSummary` of errors from `onset_errors` (NaN = missed)."""
    values = np.asarray(errors, dtype=np.float64).reshape(-1)
    found = values[~np.isnan(values)]
    if values.size == 0:
        return OnsetSummary(0, float("nan"), float("nan"), float("nan"))
    if found.size == 0:
        return OnsetSummary(values.size, 0.0, float("nan"), float("nan"))
    return OnsetSummary(values.size, found.size / values.size, float(np.median(found)),
                        float(np.percentile(found, 90)))
