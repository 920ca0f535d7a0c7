"""Comparison table across models, in the prototype's format.

``| model | F1 | precision | recall | ROC AUC |`` with four decimals, one
row per evaluated model directory; at window level (what the prototype
reported, for 5 s windows) or recording level (max over windows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

LEVELS = ("windows", "recordings")
COLUMNS = ("F1", "precision", "recall", "ROC AUC")
_KEYS = ("f1", "precision", "recall", "roc_auc")


def format_metric(value: float | None) -> str:
    """Four decimals, or ``n/a`` for an undefined value."""
    return "n/a" if value is None else f"{value:.4f}"


def comparison_rows(evaluations: Sequence[Mapping[str, Any]], level: str = "recordings") -> list[dict[str, Any]]:
    """``{model, F1, precision, recall, ROC AUC}`` per evaluation (``to_dict()`` form) at ``level``."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    rows = []
    for evaluation in evaluations:
        metrics = evaluation[level]
        row = {"model": evaluation["label"]}
        row.update({column: metrics[key] for column, key in zip(COLUMNS, _KEYS)})
        rows.append(row)
    return rows


def comparison_table(evaluations: Sequence[Mapping[str, Any]], level: str = "recordings") -> str:
    """Markdown table ``| model | F1 | precision | recall | ROC AUC |`` (no trailing newline)."""
    lines = ["| model | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for row in comparison_rows(evaluations, level):
        lines.append(f"| {row['model']} | " + " | ".join(format_metric(row[c]) for c in COLUMNS) + " |")
    return "\n".join(lines)
