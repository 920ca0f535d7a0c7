"""Calibration: do probabilities mean what they say?

* :func:`brier_score` -- mean squared error of the probabilities (0 is perfect);
* :func:`expected_calibration_error` -- the gap between confidence and
  frequency, averaged over equal-width probability bins weighted by their
  counts (the usual ECE, 10 bins);
* :func:`reliability_bins` -- the bins themselves (for the reliability plot);
* :func:`fit_temperature` -- temperature scaling: the one scalar ``T`` that
  minimises the log loss of ``sigmoid(logit / T)`` on held-out data.

Temperature scaling is monotone, so it never reorders scores: AUC and AP stay
as they are, and a threshold mapped with :func:`scale_probability` keeps every
verdict.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "TEMPERATURE_RANGE",
    "brier_score",
    "calibration_report",
    "expected_calibration_error",
    "fit_temperature",
    "reliability_bins",
    "scale_probability",
]

TEMPERATURE_RANGE = (0.05, 20.0)
"""Bounds of the fitted temperature (a perfectly separated set would drive it to 0)."""


def _check(labels: Any, probabilities: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if y.shape != p.shape:
        raise ValueError(f"labels ({y.size}) and probabilities ({p.size}) differ in length")
    if p.size and (np.nanmin(p) < 0 or np.nanmax(p) > 1 or not np.isfinite(p).all()):
        raise ValueError("probabilities must be finite and in [0, 1]")
    return y, p


def brier_score(labels: Any, probabilities: Any) -> float:
    """Mean of ``(probability - label)^2``; nan for no data."""
    y, p = _check(labels, probabilities)
    return float(np.mean((p - y) ** 2)) if y.size else math.nan


def reliability_bins(labels: Any, probabilities: Any, bins: int = 10) -> list[dict[str, float]]:
    """Equal-width probability bins: ``{low, high, n, confidence, frequency}`` per non-empty bin.

    ``confidence`` is the mean predicted probability in the bin, ``frequency``
    the fraction of artifacts among its items. A probability of exactly 1 falls
    into the last bin.
    """
    y, p = _check(labels, probabilities)
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    index = np.minimum((p * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        chosen = index == b
        n = int(chosen.sum())
        if n:
            rows.append({"low": b / bins, "high": (b + 1) / bins, "n": n,
                         "confidence": float(p[chosen].mean()), "frequency": float(y[chosen].mean())})
    return rows


def expected_calibration_error(labels: Any, probabilities: Any, bins: int = 10) -> float:
    """Sum over bins of ``n_bin / n * |frequency - confidence|``; nan for no data."""
    y, _ = _check(labels, probabilities)
    if not y.size:
        return math.nan
    rows = reliability_bins(labels, probabilities, bins)
    return float(sum(r["n"] * abs(r["frequency"] - r["confidence"]) for r in rows) / y.size)


def calibration_report(labels: Any, probabilities: Any, bins: int = 10) -> dict[str, Any]:
    """``{brier, ece, bins, reliability}`` of one level (windows or recordings)."""
    return {
        "brier": brier_score(labels, probabilities),
        "ece": expected_calibration_error(labels, probabilities, bins),
        "bins": bins,
        "reliability": reliability_bins(labels, probabilities, bins),
    }


def _log_loss(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    z = logits / temperature
    # log(1 + exp(-z)) for y = 1, log(1 + exp(z)) for y = 0, computed stably
    return float(np.mean(np.logaddexp(0.0, np.where(labels > 0.5, -z, z))))


def fit_temperature(logits: Any, labels: Any) -> float:
    """The temperature ``T`` in :data:`TEMPERATURE_RANGE` minimising the log loss of ``sigmoid(logits / T)``.

    A golden-section search on ``log T`` (the loss is smooth and, for a
    non-degenerate set, has one minimum there). With one class only, or no
    data, there is nothing to calibrate against and 1.0 is returned.

    Parameters
    ----------
    logits : array (n,)
        Artifact log-odds of held-out windows (as the network gives them).
    labels : array (n,)
        0 / 1 (soft labels in [0, 1] are accepted).
    """
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if z.shape != y.shape:
        raise ValueError(f"logits ({z.size}) and labels ({y.size}) differ in length")
    if not z.size or not np.isfinite(z).all() or y.min() == y.max():
        return 1.0
    low, high = (math.log(v) for v in TEMPERATURE_RANGE)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = _log_loss(z, y, math.exp(a)), _log_loss(z, y, math.exp(b))
    for _ in range(80):  # shrinks the bracket by 0.618^80: far below float precision
        if fa <= fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = _log_loss(z, y, math.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = _log_loss(z, y, math.exp(b))
    return float(math.exp((low + high) / 2))


def scale_probability(probability: float, temperature: float) -> float:
    """``sigmoid(logit(probability) / temperature)``: a probability (or threshold) in calibrated space."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if probability <= 0.0 or probability >= 1.0:
        return float(probability)
    logit = math.log(probability) - math.log1p(-probability)
    return float(1.0 / (1.0 + math.exp(-logit / temperature)))
