"""Comparison tables across models.

``| model | F1 | precision | recall | ROC AUC |`` with four decimals, one
row per evaluated model directory; at window level (what the prototype
reported, for 5 s windows) or recording level (max over windows).

:func:`condition_table` adds, at recording level, the per-condition figures
(:mod:`~audio_artifacts.evaluation.conditions`) that decide whether a
detector is usable: the worst per-stimulus false-positive rate, the FPR of
recordings shorter than 5 s and the recall at ``>= 0 dB``, so models and
the DSP baseline sit side by side.
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


CONDITION_COLUMNS = ("F1", "precision", "recall", "ROC AUC", "worst stimulus FPR", "FPR < 5 s", "recall >= 0 dB")


def _rate_cell(rate: Mapping[str, Any] | None, with_group: bool = False) -> str:
    if rate is None or not rate["of"]:
        return "n/a"
    cell = f"{rate['rate']:.4f} ({rate['count']}/{rate['of']})"
    return f"{cell} {rate['group']}" if with_group else cell


def condition_comparison_rows(evaluations: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per model: recording-level F1 / precision / recall / ROC AUC and the condition summary.

    ``worst stimulus FPR``, ``FPR < 5 s``, ``recall >= 0 dB`` are dicts
    ``{rate, count, of}`` (the first also ``group``) or None.
    """
    rows = []
    for row, evaluation in zip(comparison_rows(evaluations, "recordings"), evaluations):
        summary = (evaluation.get("conditions") or {}).get("summary", {})
        row.update({
            "worst stimulus FPR": summary.get("worst_stimulus_fpr"),
            "FPR < 5 s": summary.get("fpr_short"),
            "recall >= 0 dB": summary.get("recall_at_0db"),
        })
        rows.append(row)
    return rows


def condition_table(evaluations: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table of :func:`condition_comparison_rows` (rates with their counts)."""
    lines = ["| model | " + " | ".join(CONDITION_COLUMNS) + " |", "|---|" + "---|" * len(CONDITION_COLUMNS)]
    for row in condition_comparison_rows(evaluations):
        cells = [format_metric(row[c]) for c in CONDITION_COLUMNS[:4]]
        cells += [_rate_cell(row["worst stimulus FPR"], with_group=True), _rate_cell(row["FPR < 5 s"]),
                  _rate_cell(row["recall >= 0 dB"])]
        lines.append(f"| {row['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stimulus_side_by_side(output_only: Mapping[str, Any], aware: Mapping[str, Any]) -> str:
    """Markdown table per stimulus kind: FPR and recall output-only next to stimulus-aware.

    ``output_only`` and ``aware`` are two evaluations (``to_dict()`` form) of
    the same model on the same recordings.
    """
    def rows(evaluation: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        return {r["group"]: r for r in (evaluation.get("conditions") or {}).get("conditions", {}).get("stimulus", [])}

    def cell(row: Mapping[str, Any] | None, count: str, of: str) -> str:
        if row is None or not row[of]:
            return "n/a"
        return f"{row[count] / row[of]:.4f} ({row[count]}/{row[of]})"

    plain, judged = rows(output_only), rows(aware)
    lines = ["| stimulus | FPR output-only | FPR stimulus-aware | recall output-only | recall stimulus-aware |",
             "|---|---|---|---|---|"]
    for group in sorted(set(plain) | set(judged)):
        a, b = plain.get(group), judged.get(group)
        lines.append(f"| {group} | {cell(a, 'false_positives', 'clean')} | {cell(b, 'false_positives', 'clean')} | "
                     f"{cell(a, 'detected', 'artifacts')} | {cell(b, 'detected', 'artifacts')} |")
    return "\n".join(lines)
