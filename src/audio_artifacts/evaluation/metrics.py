"""Binary detection metrics in plain numpy: counts at a threshold, ROC / PR curves,
AUC, average precision, the F1-optimal threshold, and recording-level aggregation.

Conventions used by every function here:

* ``labels`` are 0 (no artifact) / 1 (artifact), shape ``(n,)``.
* ``scores`` are any real-valued confidences where larger means "more likely an
  artifact" (probabilities or logits), shape ``(n,)``, finite.
* A sample is predicted positive when ``score >= threshold``.
* Curves and AUC / average precision are undefined when one class is absent;
  they return ``nan`` then (breakdowns often have groups with one class only),
  while :func:`best_threshold` raises, since no threshold can be chosen.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "ThresholdMetrics",
    "average_precision",
    "best_threshold",
    "binary_report",
    "confusion_matrix",
    "max_by_recording",
    "metrics_at_threshold",
    "precision_recall_curve",
    "roc_auc",
    "roc_curve",
]


def _validate(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(labels int64, scores float64)`` after checking shapes and values."""
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D, got shapes {y.shape} and {s.shape}")
    if y.shape != s.shape:
        raise ValueError(f"labels and scores differ in length: {y.shape[0]} vs {s.shape[0]}")
    if y.size == 0:
        raise ValueError("labels and scores are empty; need at least one sample")
    if not np.all((y == 0) | (y == 1)):
        bad = np.unique(y[(y != 0) & (y != 1)])[:5]
        raise ValueError(f"labels must be 0 or 1, found {bad.tolist()}")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores contain NaN or infinite values")
    return y.astype(np.int64), s


def _cumulative_counts(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True / false positive counts when thresholding at each distinct score.

    Returns
    -------
    thresholds : (k,) distinct scores, descending
    tps, fps : (k,) counts of predicted positives (``score >= threshold``)
    """
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    y_sorted = y[order]
    # Last index of each run of equal scores: predictions change only there.
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last]
    fps = (last + 1) - tps
    return s_sorted[last], tps.astype(np.float64), fps.astype(np.float64)


@dataclass(frozen=True)
class ThresholdMetrics:
    """Counts and rates of a binary decision at one threshold.

    ``precision`` is 0 when nothing is predicted positive, ``recall`` is 0 when
    there are no positives, ``f1`` is 0 when both are 0 (no division warnings).
    """

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    precision: float
    recall: float
    f1: float
    accuracy: float

    def confusion_matrix(self) -> np.ndarray:
        """``[[tn, fp], [fn, tp]]``: rows = true class, columns = predicted class."""
        return np.array([[self.tn, self.fp], [self.fn, self.tp]], dtype=np.int64)

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def metrics_at_threshold(labels: Any, scores: Any, threshold: float) -> ThresholdMetrics:
    """Precision, recall, F1, accuracy and the confusion counts at ``threshold``."""
    y, s = _validate(labels, scores)
    pred = s >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    tn = int(np.sum(~pred & (y == 0)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return ThresholdMetrics(
        threshold=float(threshold), tp=tp, fp=fp, tn=tn, fn=fn,
        precision=precision, recall=recall, f1=f1, accuracy=(tp + tn) / y.size,
    )


def confusion_matrix(labels: Any, scores: Any, threshold: float) -> np.ndarray:
    """``(2, 2)`` int matrix ``[[tn, fp], [fn, tp]]`` at ``threshold``."""
    return metrics_at_threshold(labels, scores, threshold).confusion_matrix()


def roc_curve(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Receiver operating characteristic points.

    Returns
    -------
    fpr, tpr : (k + 1,) false / true positive rates, starting at (0, 0) and
        ending at (1, 1); all-``nan`` when a class is missing.
    thresholds : (k + 1,) the threshold of each point; the first is ``+inf``
        (nothing predicted positive), the rest are the distinct scores, descending.
    """
    y, s = _validate(labels, scores)
    thresholds, tps, fps = _cumulative_counts(y, s)
    n_pos, n_neg = tps[-1], fps[-1]
    thresholds = np.r_[np.inf, thresholds]
    if n_pos == 0 or n_neg == 0:
        nan = np.full(thresholds.shape, np.nan)
        return nan, nan.copy(), thresholds
    return np.r_[0.0, fps / n_neg], np.r_[0.0, tps / n_pos], thresholds


def roc_auc(labels: Any, scores: Any) -> float:
    """Area under the ROC curve (trapezoidal, so tied scores count one half).

    Equals the probability that a random positive scores above a random
    negative. ``nan`` when only one class is present.
    """
    fpr, tpr, _ = roc_curve(labels, scores)
    if np.isnan(fpr[0]):
        return math.nan
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def precision_recall_curve(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision-recall points, one per distinct score (descending thresholds).

    Returns
    -------
    precision, recall : (k + 1,) the first point is (precision 1, recall 0),
        the no-prediction end of the curve; all-``nan`` without positives.
    thresholds : (k + 1,) first ``+inf``, then the distinct scores, descending.
    """
    y, s = _validate(labels, scores)
    thresholds, tps, fps = _cumulative_counts(y, s)
    thresholds = np.r_[np.inf, thresholds]
    if tps[-1] == 0:
        nan = np.full(thresholds.shape, np.nan)
        return nan, nan.copy(), thresholds
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return np.r_[1.0, precision], np.r_[0.0, recall], thresholds


def average_precision(labels: Any, scores: Any) -> float:
    """Average precision: ``sum_k (R_k - R_{k-1}) * P_k`` over descending thresholds.

    The step-wise (non-interpolated) area under the PR curve. ``nan`` without
    positives; equals the positive fraction for constant scores.
    """
    precision, recall, _ = precision_recall_curve(labels, scores)
    if np.isnan(precision[0]):
        return math.nan
    return float(np.sum(np.diff(recall) * precision[1:]))


def best_threshold(labels: Any, scores: Any) -> float:
    """The F1-optimal decision threshold for ``score >= threshold``.

    Every distinct score is a candidate cut. Among cuts with the highest F1 the
    highest one wins (fewest alarms for the same F1). The returned value is the
    midpoint between that score and the next lower distinct score, so that it
    sits in the middle of the gap that separates the two decisions rather than on
    a training example; when the chosen score is the lowest, it is returned itself.

    Raises
    ------
    ValueError
        If there are no positive labels (F1 is 0 for every threshold).
    """
    y, s = _validate(labels, scores)
    thresholds, tps, fps = _cumulative_counts(y, s)
    n_pos = tps[-1]
    if n_pos == 0:
        raise ValueError("best_threshold needs at least one positive label; all labels are 0")
    f1 = 2.0 * tps / (tps + fps + n_pos)
    best = int(np.argmax(f1))  # first maximum = highest threshold among ties
    if best + 1 < thresholds.size:
        return float((thresholds[best] + thresholds[best + 1]) / 2.0)
    return float(thresholds[best])


def binary_report(labels: Any, scores: Any, threshold: float) -> dict[str, Any]:
    """Every metric of this module in one JSON-serialisable dict.

    Keys: ``n``, ``positives``, ``threshold``, ``tp fp tn fn``, ``precision``,
    ``recall``, ``f1``, ``accuracy``, ``roc_auc``, ``average_precision``,
    ``confusion_matrix`` (nested list ``[[tn, fp], [fn, tp]]``). AUC and AP
    are ``None`` (not ``nan``) when undefined, so the dict is valid JSON.
    """
    at = metrics_at_threshold(labels, scores, threshold)
    auc = roc_auc(labels, scores)
    ap = average_precision(labels, scores)
    report: dict[str, Any] = {"n": at.tp + at.fp + at.tn + at.fn, "positives": at.tp + at.fn}
    report.update(at.to_dict())
    report["roc_auc"] = None if math.isnan(auc) else auc
    report["average_precision"] = None if math.isnan(ap) else ap
    report["confusion_matrix"] = at.confusion_matrix().tolist()
    return report


def max_by_recording(
    recording_ids: Sequence[Hashable], window_scores: Any
) -> dict[Hashable, float]:
    """Recording-level score = the maximum over the recording's window scores.

    Parameters
    ----------
    recording_ids : (n,) the recording each window belongs to (e.g. its path)
    window_scores : (n,) window probabilities or logits

    Returns
    -------
    dict
        recording id -> max score, in order of first appearance.
    """
    values = np.asarray(window_scores, dtype=np.float64)
    if values.ndim != 1 or len(recording_ids) != values.size:
        raise ValueError(
            f"need one score per window id: {len(recording_ids)} ids vs scores of shape {values.shape}"
        )
    result: dict[Hashable, float] = {}
    for rid, value in zip(recording_ids, values.tolist()):
        previous = result.get(rid)
        if previous is None or value > previous:
            result[rid] = value
    return result


def operating_threshold(labels: np.ndarray, scores: np.ndarray, source: str) -> tuple[float, str]:
    """The threshold a trained model ships with, and how it was chosen.

    `best_threshold` over validation recordings (max over windows); 0.5 with a
    warning naming ``source`` when the validation data holds no artifact
    recording.
    """
    if np.asarray(labels).any():
        return best_threshold(labels, scores), "F1-optimal on the validation recordings (max over windows)"
    warnings.warn(f"{source}: no artifact recordings; threshold left at 0.5", stacklevel=3)
    return 0.5, "default 0.5: no artifact recording in the validation data"

