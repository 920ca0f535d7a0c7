"""Evaluation of one model on scored recordings, and its JSON / Markdown reports.

Two levels, both at the model's operating threshold (``probability >=
threshold`` is an artifact):

* windows -- every window of every recording, labelled by
  :func:`audio_artifacts.data.labels.window_label`;
* recordings -- one score per recording, the maximum over its windows,
  labelled by the manifest class.

Each level gets precision, recall, F1, accuracy, ROC AUC, average precision
and the confusion matrix (:func:`audio_artifacts.evaluation.metrics.binary_report`).
The F1-optimal threshold on the evaluated data is reported too, marked as
optimistic: it is chosen on the same data it is measured on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from audio_artifacts.evaluation.breakdown import breakdown
from audio_artifacts.evaluation.calibration import calibration_report
from audio_artifacts.evaluation.compare import comparison_table, condition_table, format_metric
from audio_artifacts.evaluation.conditions import condition_report
from audio_artifacts.evaluation.metrics import best_threshold, binary_report
from audio_artifacts.evaluation.predictions import FailedRecording, RecordingScores, recording_arrays, window_arrays


@dataclass
class ModelEvaluation:
    """Everything measured for one model directory on one manifest (JSON-ready via ``to_dict``)."""

    label: str
    model_dir: str
    model: dict[str, Any]
    manifest: str
    threshold: float
    window: dict[str, float]
    n_recordings: int
    windows: dict[str, Any]
    recordings: dict[str, Any]
    optimistic: dict[str, Any]
    breakdowns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)
    description: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_scores(
    scores: Sequence[RecordingScores],
    failures: Sequence[FailedRecording],
    threshold: float,
    *,
    label: str,
    model_dir: str | os.PathLike[str],
    model: dict[str, Any],
    manifest: str | os.PathLike[str],
    window: dict[str, float],
    by: Sequence[str] = (),
) -> ModelEvaluation:
    """Window- and recording-level metrics, optimistic threshold and breakdowns.

    Parameters
    ----------
    scores, failures
        From :func:`audio_artifacts.evaluation.predictions.score_entries`.
    threshold : float
        The model's operating threshold (probability).
    label : str
        Name of the model in tables.
    model_dir, model, manifest, window
        Recorded in the report (``model``: name / version / architecture;
        ``window``: duration_s / overlap).
    by : sequence of str
        Columns to break the metrics down by (see :mod:`~audio_artifacts.evaluation.breakdown`).

    Raises
    ------
    ValueError
        When no recording could be scored.

    The per-condition figures (:mod:`~audio_artifacts.evaluation.conditions`)
    are always computed, at the same threshold, and so is the calibration of
    both levels (:func:`~audio_artifacts.evaluation.calibration.calibration_report`:
    Brier score, expected calibration error over 10 bins, the reliability bins).
    """
    scores = list(scores)
    if not scores:
        raise ValueError(f"no recording of {manifest} could be scored ({len(failures)} failed)")
    win_labels, win_probs = window_arrays(scores)
    rec_labels, rec_probs = recording_arrays(scores)
    optimistic: dict[str, Any] = {"note": "threshold chosen on the evaluated data itself: an upper bound"}
    for level, (labels, probs) in {"recordings": (rec_labels, rec_probs), "windows": (win_labels, win_probs)}.items():
        if labels.any():
            best = best_threshold(labels, probs)
            optimistic[level] = {"threshold": best, "f1": binary_report(labels, probs, best)["f1"]}
        else:
            optimistic[level] = None
    return ModelEvaluation(
        label=label,
        model_dir=str(model_dir),
        model=dict(model),
        manifest=str(manifest),
        threshold=float(threshold),
        window=dict(window),
        n_recordings=len(scores) + len(failures),
        windows=binary_report(win_labels, win_probs, threshold),
        recordings=binary_report(rec_labels, rec_probs, threshold),
        optimistic=optimistic,
        breakdowns={column: breakdown(scores, column, threshold) for column in by},
        conditions=condition_report(scores, threshold),
        description=_description(scores),
        calibration={level: calibration_report(labels, probs) for level, (labels, probs)
                     in {"recordings": (rec_labels, rec_probs), "windows": (win_labels, win_probs)}.items()},
        failures=[{"path": str(f.entry.path), "error": f.error} for f in failures],
    )


def _description(scores: Sequence[RecordingScores]) -> dict[str, Any]:
    """Description figures (:mod:`~audio_artifacts.evaluation.description`) when the manifest has event truth."""
    from audio_artifacts.evaluation.description import description_report
    from audio_artifacts.results.schema import Span, merge_events

    with_truth = [s for s in scores if s.entry.events is not None]
    if not any(s.entry.events for s in with_truth):
        return {}

    def plain(s: RecordingScores):
        windows = [Span(a, b, p) for a, b, p in zip(s.starts.tolist(), s.ends.tolist(), s.probabilities.tolist())]
        return merge_events(windows, s.threshold) if s.threshold is not None else ()

    return description_report((s.entry, s.events, plain(s)) for s in with_truth)


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented JSON (atomically: temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path


def _level_table(evaluation: ModelEvaluation) -> list[str]:
    lines = [
        "| level | n | artifacts | F1 | precision | recall | ROC AUC | AP | TP | FP | TN | FN |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for level in ("windows", "recordings"):
        m = getattr(evaluation, level)
        values = " | ".join(format_metric(m[k]) for k in ("f1", "precision", "recall", "roc_auc", "average_precision"))
        lines.append(
            f"| {level} | {m['n']} | {m['positives']} | {values} | {m['tp']} | {m['fp']} | {m['tn']} | {m['fn']} |"
        )
    return lines


def _breakdown_table(rows: list[dict[str, Any]]) -> list[str]:
    """One line per group; rates undefined for the group (no artifacts, no alarms) read ``n/a``."""
    lines = [
        "| group | recordings | artifacts | recall | precision | F1 | false alarms | ROC AUC | AUC vs all clean "
        "| windows | window F1 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r, w = row["recordings"], row["windows"]
        has_pos, has_alarm = r["positives"] > 0, r["tp"] + r["fp"] > 0
        recall = format_metric(r["recall"] if has_pos else None)
        precision = format_metric(r["precision"] if has_alarm else None)
        f1 = format_metric(r["f1"] if has_pos else None)
        alarms = f"{r['fp']}/{r['fp'] + r['tn']}" if r["fp"] + r["tn"] else "n/a"
        window_f1 = format_metric(w["f1"] if w["positives"] else None)
        lines.append(
            f"| {row['group']} | {r['n']} | {r['positives']} | {recall} | {precision} | {f1} | {alarms} | "
            f"{format_metric(r['roc_auc'])} | {format_metric(row['roc_auc_vs_all_negatives'])} | {w['n']} | "
            f"{window_f1} |"
        )
    return lines


CONDITION_TITLES = {
    "stimulus": "False alarms and recall by stimulus",
    "duration": "By recording duration",
    "artifact_type": "Recall by artifact type",
    "level_band": "Recall by artifact level (loudest event, artifact-to-floor dB)",
}


def _ratio(count: int, of: int) -> str:
    return f"{count / of:.4f} ({count}/{of})" if of else "n/a"


def _summary_lines(conditions: dict[str, Any]) -> list[str]:
    s = conditions["summary"]
    worst = s["worst_stimulus_fpr"]
    worst_text = "n/a" if worst is None else f"{_ratio(worst['count'], worst['of'])} ({worst['group']})"
    return [
        f"- false-positive rate of clean recordings: {_ratio(s['fpr']['count'], s['fpr']['of'])}; "
        f"worst stimulus: {worst_text}; recordings < 5 s: {_ratio(s['fpr_short']['count'], s['fpr_short']['of'])}",
        f"- recall: {_ratio(s['recall']['count'], s['recall']['of'])}; "
        f"recall at >= 0 dB: {_ratio(s['recall_at_0db']['count'], s['recall_at_0db']['of'])}",
    ]


def conditions_markdown(conditions: dict[str, Any], heading: str = "###", label: str = "") -> list[str]:
    """Summary lines and one table per condition (FPR of clean recordings, recall of artifact ones).

    ``heading`` is the Markdown level of the section (tables one below);
    ``label`` is put before its title (the model, on the terminal).
    """
    lines = [f"{heading} {label}Per condition at threshold {conditions['threshold']:.4f} (recording level)", "",
             *_summary_lines(conditions), ""]
    for name, rows in conditions["conditions"].items():
        if not rows:
            continue
        show_fpr = any(r["clean"] for r in rows)
        show_recall = any(r["artifacts"] for r in rows)
        header = ["group"] + (["clean", "FPR (fp/clean)"] if show_fpr else []) \
            + (["artifacts", "recall (detected/artifacts)"] if show_recall else [])
        lines += [f"{heading}# {CONDITION_TITLES.get(name, f'By {name}')}", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in rows:
            cells = [r["group"]]
            if show_fpr:
                cells += [str(r["clean"]), _ratio(r["false_positives"], r["clean"])]
            if show_recall:
                cells += [str(r["artifacts"]), _ratio(r["detected"], r["artifacts"])]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _calibration_lines(e: ModelEvaluation) -> list[str]:
    temperature = e.model.get("temperature")
    note = "" if temperature is None else f" (model temperature T = {float(temperature):.4g})"
    lines = [f"### Calibration{note}", "",
             "| level | Brier score | ECE (10 bins) |", "|---|---|---|"]
    for level in ("windows", "recordings"):
        c = e.calibration.get(level)
        if c:
            lines.append(f"| {level} | {format_metric(c['brier'])} | {format_metric(c['ece'])} |")
    return lines + ["", "Brier: mean squared error of the probabilities; ECE: the count-weighted gap "
                    "between mean probability and artifact frequency per probability bin "
                    "(0 = probabilities mean what they say; `reliability.png`).", ""]


def model_markdown(evaluation: ModelEvaluation, figure_prefix: str = "") -> str:
    """Markdown section of one model (figures linked relative to the report)."""
    e = evaluation
    lines = [
        f"## {e.label}",
        "",
        f"- model: `{e.model.get('name', '')}` {e.model.get('version', '')} "
        f"({e.model.get('architecture', '')}), directory `{e.model_dir}`",
        f"- threshold (probability): {e.threshold:.4f}; windows {e.window.get('duration_s')} s, "
        f"{e.window.get('overlap', 0):.0%} overlap; recording score = max over its windows",
        f"- recordings: {e.n_recordings} ({len(e.failures)} could not be read)",
        "",
        *_level_table(e),
        "",
        "Confusion matrices (rows: true no_artifact / artifact; columns: predicted):",
        "",
    ]
    for level in ("windows", "recordings"):
        (tn, fp), (fn, tp) = getattr(e, level)["confusion_matrix"]
        lines += [f"- {level}: `[[{tn}, {fp}], [{fn}, {tp}]]`"]
    lines.append("")
    opt = [
        f"{level} F1 {v['f1']:.4f} at {v['threshold']:.4f}"
        for level, v in e.optimistic.items()
        if isinstance(v, dict)
    ]
    if opt:
        lines += [f"Optimistic (threshold tuned on this data): {'; '.join(opt)}.", ""]
    if e.calibration:
        lines += _calibration_lines(e)
    if e.conditions:
        lines += conditions_markdown(e.conditions)
    if e.description:
        from audio_artifacts.evaluation.description import description_markdown

        lines += ["### What the events are (against the simulator's truth)", "",
                  description_markdown(e.description), ""]
    for column, rows in e.breakdowns.items():
        lines += [f"### By {column}", "", *_breakdown_table(rows), ""]
    for name, file in e.figures.items():
        lines.append(f"![{name}]({figure_prefix}{file})")
    if e.figures:
        lines.append("")
    if e.failures:
        lines += ["### Recordings that could not be read", ""]
        lines += [f"- {f['error']}" for f in e.failures]
        lines.append("")
    return "\n".join(lines)


def markdown_report(evaluations: Sequence[ModelEvaluation], manifest: str, figures: dict[str, str] | None = None) -> str:
    """The whole report: comparison tables, shared figures, then one section per model."""
    dicts = [e.to_dict() for e in evaluations]
    lines = [
        "# Evaluation",
        "",
        f"Manifest: `{manifest}`",
        "",
        "## Comparison (recording level: max over windows)",
        "",
        comparison_table(dicts, "recordings"),
        "",
        "## Comparison (window level, like the prototype's table)",
        "",
        comparison_table(dicts, "windows"),
        "",
        "## Comparison per condition (recording level, each model at its threshold)",
        "",
        condition_table(dicts),
        "",
    ]
    for name, file in (figures or {}).items():
        lines.append(f"![{name}]({file})")
    if figures:
        lines.append("")
    for evaluation in evaluations:
        lines += [model_markdown(evaluation, figure_prefix=f"{evaluation.label}/"), ""]
    return "\n".join(lines).rstrip() + "\n"
