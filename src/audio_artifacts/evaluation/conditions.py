"""Per-condition figures at the operating threshold: where a detector fails.

An overall F1 hides the two failures that matter in a test lab: false alarms
on one kind of clean stimulus (music, tones, gated noise) and missed weak
artifacts. So, from the same recording scores as the rest of the report
(maximum over windows, ``probability >= threshold`` is an alarm), every
condition gets both counts:

* false-positive rate of the clean recordings (``false_positives / clean``);
* recall of the artifact recordings (``detected / artifacts``).

Conditions (fixed, named groups, so a target reads off directly):

* ``stimulus`` -- the manifest column (quiet, speech, music, tones, ...);
* ``duration`` -- ``< 5 s`` and ``>= 5 s`` (a shorter recording is one
  zero-padded window); from the manifest ``duration_s``, else the scanned
  duration (the end of the last window's real audio);
* ``artifact_type`` -- multi-valued (``tonal+clicks`` counts in both);
* ``level_band`` -- the loudest event's ``level_db`` (artifact-to-floor ratio)
  in the bands of :data:`LEVEL_BANDS`;
* ``stimulus_source`` (by engine: ``asterisk``, ``flite``, ``fluidsynth``, ...),
  ``family`` -- when the manifest has these columns.

The summary holds the figures the comparison table puts side by side: the
worst per-stimulus FPR, the FPR of recordings shorter than 5 s and the recall
at ``>= 0 dB``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from audio_artifacts.data.manifest import NO_TYPES
from audio_artifacts.evaluation.breakdown import MISSING, column_value, group_labels
from audio_artifacts.evaluation.predictions import RecordingScores

#: ``(name, low, high)``: levels in dB with ``low <= level < high``.
LEVEL_BANDS: tuple[tuple[str, float, float], ...] = (
    ("< -5 dB", -math.inf, -5.0),
    ("[-5, 0) dB", -5.0, 0.0),
    ("[0, 6) dB", 0.0, 6.0),
    ("[6, 12) dB", 6.0, 12.0),
    ("[12, 25) dB", 12.0, 25.0),
    (">= 25 dB", 25.0, math.inf),
)
#: ``(name, low, high)``: recording durations in seconds.
DURATION_BANDS: tuple[tuple[str, float, float], ...] = (("< 5 s", 0.0, 5.0), (">= 5 s", 5.0, math.inf))
SHORT = DURATION_BANDS[0][0]
#: Recall is summarised over artifacts at least this loud (dB): the accuracy target's range.
RECALL_LEVEL_DB = 0.0
#: Manifest columns that get a condition table when present.
OPTIONAL_COLUMNS = ("stimulus_source", "family")


@dataclass(frozen=True)
class ConditionRow:
    """Counts of one condition: clean recordings and alarms, artifact recordings and detections."""

    group: str
    clean: int
    false_positives: int
    artifacts: int
    detected: int

    @property
    def fpr(self) -> float | None:
        """``false_positives / clean``; None without clean recordings."""
        return self.false_positives / self.clean if self.clean else None

    @property
    def recall(self) -> float | None:
        """``detected / artifacts``; None without artifact recordings."""
        return self.detected / self.artifacts if self.artifacts else None

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "clean": self.clean, "false_positives": self.false_positives,
                "fpr": self.fpr, "artifacts": self.artifacts, "detected": self.detected, "recall": self.recall}


def band_of(value: float, bands: Sequence[tuple[str, float, float]]) -> str:
    """Name of the band holding ``value`` (``low <= value < high``)."""
    for name, low, high in bands:
        if low <= value < high:
            return name
    raise ValueError(f"{value} lies in none of the bands {[b[0] for b in bands]}")


def recording_duration_s(item: RecordingScores) -> float:
    """Manifest ``duration_s`` when it holds a number, else the scanned duration."""
    value = item.entry.columns.get("duration_s", "").strip()
    try:
        duration = float(value)
    except ValueError:
        duration = math.nan
    return duration if math.isfinite(duration) else float(item.ends.max())


def artifact_level_db(item: RecordingScores) -> float | None:
    """Level of an artifact recording (manifest ``artifact_level_db`` or its loudest event); None if unknown."""
    if item.entry.label != 1:
        return None
    try:
        level = float(column_value(item.entry, "artifact_level_db"))
    except ValueError:
        return None
    return level if math.isfinite(level) else None


def condition_rows(
    scores: Sequence[RecordingScores], groups_of: Callable[[RecordingScores], list[str]], threshold: float,
    order: Sequence[str] | None = None,
) -> list[ConditionRow]:
    """Counts per group; ``groups_of`` gives each recording's groups (none: left out).

    With ``order`` (fixed named bands) every group of it gets a row, in that
    order, even without recordings; otherwise rows are sorted by name with
    ``(missing)`` / ``none`` last.
    """
    counts: dict[str, list[int]] = {}
    for item in scores:
        alarm = item.probability >= threshold
        for group in groups_of(item):
            c = counts.setdefault(group, [0, 0, 0, 0])
            if item.entry.label == 1:
                c[2] += 1
                c[3] += int(alarm)
            else:
                c[0] += 1
                c[1] += int(alarm)
    if order is not None:
        names = list(order) + sorted(g for g in counts if g not in order)
    else:
        names = sorted(counts, key=lambda g: (g in (MISSING, NO_TYPES), g))
    return [ConditionRow(g, *counts.get(g, (0, 0, 0, 0))) for g in names]


def _column_groups(scores: Sequence[RecordingScores], column: str) -> Callable[[RecordingScores], list[str]]:
    labels = group_labels([s.entry for s in scores], column)
    by_id = {id(item): groups for item, groups in zip(scores, labels)}
    return lambda item: by_id[id(item)]


def _source_engines(groups: Callable[[RecordingScores], list[str]]) -> Callable[[RecordingScores], list[str]]:
    """``stimulus_source`` cells (``engine:voice+engine:piece@font``) as their engines (``engine``)."""
    def engines(item: RecordingScores) -> list[str]:
        names = []
        for cell in groups(item):
            engine = MISSING
            for part in cell.split("+"):
                if ":" in part:  # "engine:detail"; a part without one belongs to the engine before it
                    engine = part.split(":", 1)[0].strip() or MISSING
                elif engine == MISSING:
                    engine = part.strip() or MISSING
                if engine not in names:
                    names.append(engine)
        return names
    return engines


def _level_groups(item: RecordingScores) -> list[str]:
    level = artifact_level_db(item)
    return [] if level is None else [band_of(level, LEVEL_BANDS)]


def _pooled(rows: Sequence[ConditionRow], group: str) -> ConditionRow:
    return ConditionRow(group, sum(r.clean for r in rows), sum(r.false_positives for r in rows),
                        sum(r.artifacts for r in rows), sum(r.detected for r in rows))


def _rate(numerator: int, denominator: int) -> dict[str, Any]:
    return {"rate": numerator / denominator if denominator else None, "count": numerator, "of": denominator}


def condition_report(
    scores: Sequence[RecordingScores], threshold: float, columns: Sequence[str] = ()
) -> dict[str, Any]:
    """Per-condition FPR and recall at ``threshold`` (JSON-ready).

    Parameters
    ----------
    scores : every scored recording of the evaluation
    threshold : decision threshold on the probability
    columns : further manifest columns to group by (``stimulus_source`` and
        ``family`` are added when the manifest has them)

    Returns
    -------
    dict
        ``threshold``; ``conditions``: condition name -> list of
        :meth:`ConditionRow.to_dict`; ``summary``: ``fpr``, ``recall``,
        ``worst_stimulus_fpr`` (``group``, ``rate``, ``count``, ``of``; None
        without clean recordings), ``fpr_short`` (recordings ``< 5 s``),
        ``recall_at_0db`` (artifacts ``>= 0 dB``), each ``rate`` / ``count`` / ``of``.
    """
    scores = list(scores)
    present = {name for item in scores for name in item.entry.columns}
    extra = [c for c in OPTIONAL_COLUMNS if c in present]
    extra += [c for c in columns if c not in extra and c != "stimulus"]
    types_of = _column_groups(scores, "artifact_types")
    conditions: dict[str, list[ConditionRow]] = {
        "stimulus": condition_rows(scores, _column_groups(scores, "stimulus"), threshold),
        "duration": condition_rows(scores, lambda item: [band_of(recording_duration_s(item), DURATION_BANDS)],
                                   threshold, order=[b[0] for b in DURATION_BANDS]),
        "artifact_type": condition_rows(
            scores, lambda item: [g for g in types_of(item) if g != NO_TYPES] if item.entry.label == 1 else [],
            threshold),
        "level_band": condition_rows(scores, _level_groups, threshold, order=[b[0] for b in LEVEL_BANDS]),
    }
    for column in extra:
        groups = _column_groups(scores, column)
        if column == "stimulus_source":  # one row per engine / source, not per clip combination
            groups = _source_engines(groups)
        conditions[column] = condition_rows(scores, groups, threshold)

    everything = _pooled(condition_rows(scores, lambda item: ["all"], threshold), "all")
    stimulus = [r for r in conditions["stimulus"] if r.clean]
    worst = max(stimulus, key=lambda r: (r.fpr, r.clean)) if stimulus else None
    short = _pooled([r for r in conditions["duration"] if r.group == SHORT], SHORT)
    lows = {name: low for name, low, _ in LEVEL_BANDS}
    loud = _pooled([r for r in conditions["level_band"] if lows[r.group] >= RECALL_LEVEL_DB], ">= 0 dB")
    summary = {
        "fpr": _rate(everything.false_positives, everything.clean),
        "recall": _rate(everything.detected, everything.artifacts),
        "worst_stimulus_fpr": None if worst is None else {"group": worst.group,
                                                          **_rate(worst.false_positives, worst.clean)},
        "fpr_short": _rate(short.false_positives, short.clean),
        "recall_at_0db": _rate(loud.detected, loud.artifacts),
    }
    return {
        "threshold": float(threshold),
        "conditions": {name: [r.to_dict() for r in rows] for name, rows in conditions.items()},
        "summary": summary,
    }
