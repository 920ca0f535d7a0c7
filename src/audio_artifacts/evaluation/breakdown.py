"""Metrics per group of recordings, grouped by any manifest column.

A column is a manifest column (``stimulus``, ``device``, ``split``, ...) or
one of the derived columns:

* ``class`` -- the recording's class;
* ``artifact_types`` -- from the manifest when it has the column, else from
  the events; multi-valued (``tick+tonal`` counts in the ``tick`` and in the
  ``tonal`` group; ``none`` for clean recordings);
* ``artifact_level_db`` -- the highest ``level_db`` of the recording's events.

Numeric columns with fractional values or more than 8 distinct values
(levels, durations) are grouped into at most 8 bands of a round width
(``[0, 5)``, ``[5, 10)``, ...); few integer values (sample rates, nominal
input levels) stay as they are.

Each group reports recording-level metrics within the group and, because a
group such as ``artifact_types = tick`` holds only positives (so precision
is 1 and ROC AUC undefined there), also ``roc_auc_vs_all_negatives``: the
group's artifact recordings against every clean recording of the evaluation
-- how well this kind of artifact is told apart from clean recordings.
Window-level metrics over the group's windows complete the row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from audio_artifacts.data.manifest import NO_TYPES, TYPES_SEPARATOR, RecordingEntry, artifact_types_of
from audio_artifacts.evaluation.metrics import binary_report, roc_auc
from audio_artifacts.evaluation.predictions import RecordingScores, recording_arrays, window_arrays

#: Columns whose cells hold several values joined by ``+``.
MULTI_VALUED = frozenset({"artifact_types"})
#: Columns computed from the entry itself when the manifest lacks them.
DERIVED = ("class", "artifact_types", "artifact_level_db")
MISSING = "(missing)"
#: More distinct numeric values than this are grouped into bands.
MAX_NUMERIC_GROUPS = 8


def available_columns(entries: Iterable[RecordingEntry]) -> list[str]:
    """Columns a breakdown can use for these entries (manifest columns, then derived ones)."""
    entries = list(entries)
    names: list[str] = []
    for entry in entries:
        names.extend(name for name in entry.columns if name not in names)
    has_events = any(entry.events is not None for entry in entries)
    for name in DERIVED:
        if name not in names and (name == "class" or has_events):
            names.append(name)
    return names


def check_columns(entries: Iterable[RecordingEntry], columns: Sequence[str]) -> None:
    """Raise ValueError naming every requested column these entries do not have."""
    available = available_columns(entries)
    unknown = [c for c in columns if c not in available]
    if unknown:
        raise ValueError(
            f"cannot break down by {', '.join(repr(c) for c in unknown)}: "
            f"not a column of this manifest (available: {', '.join(available)})"
        )


def column_value(entry: RecordingEntry, column: str) -> str:
    """The entry's value in ``column`` (manifest or derived); ``(missing)`` when it has none."""
    if column in entry.columns and entry.columns[column].strip():
        return entry.columns[column].strip()
    if column == "class":
        return entry.class_name
    if column == "artifact_types" and entry.events is not None:
        return artifact_types_of(entry.events)
    if column == "artifact_level_db" and entry.events is not None:
        return repr(max(e.level_db for e in entry.events)) if entry.events else NO_TYPES
    return MISSING


def _as_float(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _nice_width(span: float, max_groups: int) -> float:
    """Smallest 1/2/5 x 10^k width that cuts ``span`` into at most ``max_groups`` bands."""
    raw = span / max_groups if span > 0 else 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 5.0, 10.0):
        if factor * power >= raw:
            return factor * power
    return 10.0 * power  # pragma: no cover


def _format_edge(value: float) -> str:
    return f"{value:g}"


def group_labels(entries: Sequence[RecordingEntry], column: str) -> list[list[str]]:
    """The group(s) each entry falls in for ``column`` (several for multi-valued columns)."""
    raw = [column_value(entry, column) for entry in entries]
    if column in MULTI_VALUED:
        return [[part for part in value.split(TYPES_SEPARATOR) if part] or [NO_TYPES] for value in raw]
    numbers = [_as_float(value) for value in raw]
    present = [n for n, value in zip(numbers, raw) if value not in (MISSING, NO_TYPES)]
    continuous = present and all(n is not None for n in present) and (
        len(set(present)) > MAX_NUMERIC_GROUPS or any(not float(n).is_integer() for n in present)
    )
    if continuous:
        low, high = min(present), max(present)
        width = _nice_width(high - low, MAX_NUMERIC_GROUPS)
        labels = []
        for number, value in zip(numbers, raw):
            if number is None:
                labels.append([value])
                continue
            edge = math.floor(number / width) * width
            labels.append([f"[{_format_edge(edge)}, {_format_edge(edge + width)})"])
        return labels
    return [[value] for value in raw]


def _sort_key(label: str) -> tuple[int, float, str]:
    if label in (MISSING, NO_TYPES):
        return (2, 0.0, label)
    number = _as_float(label[1:].split(",")[0]) if label.startswith("[") else _as_float(label)
    return (0, number, label) if number is not None else (1, 0.0, label)


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


def breakdown(scores: Sequence[RecordingScores], column: str, threshold: float) -> list[dict[str, Any]]:
    """Metrics per group of ``column``.

    Parameters
    ----------
    scores : sequence of RecordingScores
        Every scored recording of the evaluation.
    column : str
        A manifest or derived column (see the module docstring).
    threshold : float
        Decision threshold on probabilities.

    Returns
    -------
    list of dict
        One row per group, ordered by value: ``group``, ``recordings`` and
        ``windows`` (each a :func:`~audio_artifacts.evaluation.metrics.binary_report`
        dict of the group), ``roc_auc_vs_all_negatives`` (recording level).
    """
    scores = list(scores)
    labels_per_entry = group_labels([s.entry for s in scores], column)
    groups: dict[str, list[RecordingScores]] = {}
    for item, labels in zip(scores, labels_per_entry):
        for label in labels:
            groups.setdefault(label, []).append(item)
    all_labels, all_probs = recording_arrays(scores)
    negatives = all_probs[all_labels == 0]
    rows = []
    for label in sorted(groups, key=_sort_key):
        members = groups[label]
        rec_labels, rec_probs = recording_arrays(members)
        win_labels, win_probs = window_arrays(members)
        positives = rec_probs[rec_labels == 1]
        vs_all = math.nan
        if positives.size and negatives.size:
            vs_all = roc_auc(np.r_[np.ones(positives.size), np.zeros(negatives.size)], np.r_[positives, negatives])
        rows.append(
            {
                "group": label,
                "recordings": binary_report(rec_labels, rec_probs, threshold),
                "windows": binary_report(win_labels, win_probs, threshold),
                "roc_auc_vs_all_negatives": _none_if_nan(vs_all),
            }
        )
    return rows
