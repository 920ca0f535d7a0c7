"""ROC and precision-recall curves as PNG files.

One picture holds one or more curves (e.g. window and recording level of one
model, or the recording level of several models), each labelled with its
area. The operating point at the decision threshold is marked on each curve.
Drawn on matplotlib's Agg canvas directly (no pyplot, no global state).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio_artifacts.evaluation.metrics import (
    average_precision,
    metrics_at_threshold,
    precision_recall_curve,
    roc_auc,
    roc_curve,
)

KINDS = ("roc", "pr")


@dataclass(frozen=True)
class CurveSeries:
    """Labels and scores of one curve.

    Attributes
    ----------
    name : str
        Legend text (e.g. ``"fast / recordings"``).
    labels : numpy.ndarray
        0/1, shape ``(n,)``.
    scores : numpy.ndarray
        Probabilities, shape ``(n,)``.
    threshold : float
        Decision threshold; its operating point is marked.
    """

    name: str
    labels: np.ndarray
    scores: np.ndarray
    threshold: float


def plot_curves(series: list[CurveSeries], kind: str, path: str | os.PathLike[str], title: str = "") -> Path | None:
    """Draw ROC (``kind="roc"``) or precision-recall (``kind="pr"``) curves into a PNG.

    Series whose curve is undefined (one class only) are left out; when none
    is left, no file is written and None is returned.

    Returns
    -------
    Path or None
        The PNG written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    figure = Figure(figsize=(5.5, 5.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    drawn = 0
    for item in series:
        labels, scores = np.asarray(item.labels), np.asarray(item.scores)
        if labels.size == 0:
            continue
        at = metrics_at_threshold(labels, scores, item.threshold)
        if kind == "roc":
            x, y, _ = roc_curve(labels, scores)
            area = roc_auc(labels, scores)
            point = (at.fp / max(at.fp + at.tn, 1), at.recall)
            legend = f"{item.name} (AUC {area:.4f})"
        else:
            y, x, _ = precision_recall_curve(labels, scores)
            area = average_precision(labels, scores)
            point = (at.recall, at.precision if at.tp + at.fp else 1.0)
            legend = f"{item.name} (AP {area:.4f})"
        if math.isnan(area):
            continue
        line = axes.step(x, y, where="post", label=legend, linewidth=1.5)[0]
        axes.plot(*point, marker="o", color=line.get_color(), markersize=6)
        drawn += 1
    if not drawn:
        return None
    if kind == "roc":
        axes.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1)
        axes.set_xlabel("false positive rate")
        axes.set_ylabel("true positive rate (recall)")
    else:
        axes.set_xlabel("recall")
        axes.set_ylabel("precision")
    axes.set_xlim(-0.01, 1.01)
    axes.set_ylim(-0.01, 1.01)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right" if kind == "roc" else "lower left", fontsize=8)
    axes.set_title(title or ("ROC" if kind == "roc" else "precision-recall") + " (dot: operating threshold)", fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def plot_reliability(series: list[CurveSeries], path: str | os.PathLike[str], bins: int = 10,
                     title: str = "") -> Path | None:
    """Reliability diagram: per probability bin, the fraction of artifacts against the mean probability.

    A calibrated model lies on the diagonal. Each series is labelled with its
    expected calibration error and Brier score; the grey bars show how many
    items of the first series fall into each bin. Empty series are left out;
    when none is left, no file is written and None is returned.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from audio_artifacts.evaluation.calibration import brier_score, expected_calibration_error, reliability_bins

    figure = Figure(figsize=(5.5, 5.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    counts = axes.twinx()
    drawn = 0
    for item in series:
        labels, scores = np.asarray(item.labels), np.asarray(item.scores)
        if labels.size == 0:
            continue
        rows = reliability_bins(labels, scores, bins)
        ece, brier = expected_calibration_error(labels, scores, bins), brier_score(labels, scores)
        axes.plot([r["confidence"] for r in rows], [r["frequency"] for r in rows], marker="o",
                  linewidth=1.5, label=f"{item.name} (ECE {ece:.4f}, Brier {brier:.4f})")
        if not drawn:
            counts.bar([(r["low"] + r["high"]) / 2 for r in rows], [r["n"] for r in rows],
                       width=0.9 / bins, color="grey", alpha=0.2)
        drawn += 1
    if not drawn:
        return None
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1)
    axes.set_xlabel("mean predicted probability (bin)")
    axes.set_ylabel("fraction of artifacts (bin)")
    counts.set_ylabel("items per bin", color="grey")
    axes.set_xlim(-0.01, 1.01)
    axes.set_ylim(-0.01, 1.01)
    axes.set_zorder(counts.get_zorder() + 1)
    axes.patch.set_visible(False)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left", fontsize=8)
    axes.set_title(title or "reliability", fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
