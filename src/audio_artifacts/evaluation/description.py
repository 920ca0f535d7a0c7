"""How well events are described, against the simulator's truth: type, lines, period, times.

Each reported event is compared with the true events it overlaps (0.5 s of
slack). Only true events at least ``min_level_db`` over the floor count
(6 dB by default, the issue's bar); an event whose truth is one kind is a
*single-kind* event, the unit of the type accuracy, period and time figures
(with two kinds at once, the period and the times answer for one of them).

* **type**: accuracy of ``type`` on single-kind events (per kind: recall);
  per-kind F1 over all events, a kind counted as reported when its
  probability is >= 0.5 or it is the ``type``;
* **lines**: every true line (a tonal event's frequencies whose own level,
  event level + relative amplitude, is >= ``min_level_db``; a buzz's
  fundamental) is *found* when a reported frequency is within
  ``max(1 %, 16 Hz)``; errors (Hz, %) of the nearest reported frequency;
* **period**: share of single-kind periodic events (buzzes: 1 / fundamental,
  ticks, thumps, floor modulation) whose ``period_s`` is within 5 %;
* **times**: onset / offset error against the first true start and last true
  end of the overlapping events; shares within 0.5 s and 0.1 s;
* **level**: ``level_db`` of single-kind events against the loudest true
  event's level over the floor (dB, reported minus true): median of the
  absolute error and the share within :data:`LEVEL_TOLERANCE_DB` (a missing
  level is not within it). The simulator's level is
  that of its own band definition, ours the third-octave band where the
  artifact stands out most, so a few dB of difference are expected.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from audio_artifacts.data.manifest import ArtifactEvent, RecordingEntry
from audio_artifacts.results.schema import EVENT_TYPES, Event

MIN_LEVEL_DB = 6.0
SLACK_S = 0.5
PERIOD_TOLERANCE = 0.05
LEVEL_TOLERANCE_DB = 6.0


def true_lines(event: ArtifactEvent, min_level_db: float = MIN_LEVEL_DB) -> list[float]:
    """The line frequencies (Hz) a true event has that stand ``min_level_db`` over the floor."""
    params = event.params
    if event.type == "tonal":
        relative = params.get("relative_amplitudes_db") or [0.0] * len(params.get("frequencies_hz", []))
        return [float(f) for f, r in zip(params.get("frequencies_hz", []), relative)
                if event.level_db + float(r) >= min_level_db]
    if event.type in ("tdma_buzz", "packet_buzz") and params.get("fundamental_hz"):
        return [float(params["fundamental_hz"])]
    return []


def true_period(event: ArtifactEvent) -> float | None:
    """A true event's repetition period (s), None when it has none."""
    params = event.params
    if event.type in ("tdma_buzz", "packet_buzz") and params.get("fundamental_hz"):
        return 1.0 / float(params["fundamental_hz"])
    if event.type in ("periodic_ticks", "thumps") and params.get("period_s"):
        return float(params["period_s"])
    if event.type == "noise_am" and params.get("rate_hz"):
        return 1.0 / float(params["rate_hz"])
    return None


def line_tolerance(frequency_hz: float) -> float:
    """How close a reported line must be to a true one: ``max(1 %, 16 Hz)``."""
    return max(0.01 * frequency_hz, 16.0)


class _Tally:
    def __init__(self) -> None:
        self.type_hits: dict[str, list[bool]] = defaultdict(list)
        self.f1: dict[str, list[int]] = {name: [0, 0, 0] for name in EVENT_TYPES}  # tp, fp, fn
        self.lines: dict[str, list[tuple[bool, float, float]]] = defaultdict(list)  # found, error Hz, error %
        self.periods: dict[str, list[float | None]] = defaultdict(list)  # relative error or None (missing)
        self.onsets: dict[str, list[float]] = defaultdict(list)
        self.offsets: dict[str, list[float]] = defaultdict(list)
        self.window_onsets: dict[str, list[float]] = defaultdict(list)
        self.window_offsets: dict[str, list[float]] = defaultdict(list)
        self.levels: dict[str, list[float | None]] = defaultdict(list)  # reported - true dB, None: missing
        self.strong_events = 0
        self.strong_found = 0


def description_report(recordings: Iterable[tuple[RecordingEntry, Sequence[Event], Sequence[Event]]],
                       min_level_db: float = MIN_LEVEL_DB) -> dict[str, Any]:
    """Description figures over recordings (see the module docstring), JSON-ready.

    Parameters
    ----------
    recordings : iterable of (entry, events, window_events)
        The manifest row, the reported events, and the same events as plain
        runs of flagged windows (for the before / after comparison of times;
        may be empty).
    """
    tally = _Tally()
    for entry, events, window_events in recordings:
        truth = [e for e in (entry.events or ()) if e.level_db >= min_level_db]
        tally.strong_events += len(truth)
        tally.strong_found += sum(any(_overlaps(t, d) for d in events) for t in truth)
        for event in events:
            _add_event(tally, event, entry, truth, window_events, min_level_db)
    return _summarise(tally, min_level_db)


def _overlaps(truth: ArtifactEvent, event: Event) -> bool:
    return truth.start_s <= event.end + SLACK_S and truth.end_s >= event.start - SLACK_S


def _add_event(tally: _Tally, event: Event, entry: RecordingEntry, strong: list[ArtifactEvent],
               window_events: Sequence[Event], min_level_db: float) -> None:
    matched = [t for t in strong if _overlaps(t, event)]
    if not matched:
        return
    every = [t for t in (entry.events or ()) if _overlaps(t, event)]
    kinds = {t.type for t in every}
    strong_kinds = {t.type for t in matched}
    reported = {name for name, p in event.type_probabilities if p >= 0.5} | ({event.type} if event.type else set())
    for name in EVENT_TYPES:
        counts = tally.f1[name]
        truth_has, said = name in strong_kinds, name in reported
        counts[0] += truth_has and said
        counts[1] += said and name not in kinds  # a weak true kind reported is no false alarm
        counts[2] += truth_has and not said
    for t in matched:
        for f in true_lines(t, min_level_db):
            if event.frequencies_hz:
                nearest = min(event.frequencies_hz, key=lambda g: abs(g - f))
                error = abs(nearest - f)
                tally.lines[t.type].append((error <= line_tolerance(f), error, 100 * error / f))
            else:
                tally.lines[t.type].append((False, float("nan"), float("nan")))
    if len(kinds) != 1:
        return
    (kind,) = kinds
    tally.type_hits[kind].append(event.type == kind)
    period = next((true_period(t) for t in matched if true_period(t) is not None), None)
    if period is not None:
        tally.periods[kind].append(None if event.period_s is None else abs(event.period_s - period) / period)
    loudest = max(t.level_db for t in matched)
    tally.levels[kind].append(None if event.level_db is None else float(event.level_db) - loudest)
    start, end = min(t.start_s for t in every), max(t.end_s for t in every)
    tally.onsets[kind].append(event.start - start)
    tally.offsets[kind].append(event.end - end)
    plain = [w for w in window_events if w.start <= event.end and w.end >= event.start]
    if plain:
        tally.window_onsets[kind].append(min(w.start for w in plain) - start)
        tally.window_offsets[kind].append(max(w.end for w in plain) - end)


def _share(values: list[float], limit: float) -> float | None:
    return None if not values else float(np.mean(np.abs(values) <= limit))


def _median_abs(values: list[float]) -> float | None:
    return None if not values else float(np.median(np.abs(values)))


def _level_figures(errors: list[float | None]) -> dict[str, Any]:
    """Level figures of reported - true errors (dB; None: no level reported, never within tolerance)."""
    measured = [e for e in errors if e is not None]
    return {
        "levels": len(errors),
        "level_error_db_median": float(np.median(np.abs(measured))) if measured else None,
        "levels_within_tolerance": float(np.mean([e is not None and abs(e) <= LEVEL_TOLERANCE_DB for e in errors]))
        if errors else None,
    }


def _summarise(tally: _Tally, min_level_db: float) -> dict[str, Any]:
    per_type = {}
    for kind in EVENT_TYPES:
        hits = tally.type_hits.get(kind, [])
        tp, fp, fn = tally.f1[kind]
        lines = tally.lines.get(kind, [])
        found = [line for line in lines if line[0]]
        periods = tally.periods.get(kind, [])
        per_type[kind] = {
            "events": len(hits),
            "type_accuracy": float(np.mean(hits)) if hits else None,
            "f1": 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else None,
            "lines": len(lines),
            "lines_found": float(len(found) / len(lines)) if lines else None,
            "line_error_hz_median": float(np.median([e for _, e, _ in found])) if found else None,
            "line_error_pct_median": float(np.median([p for _, _, p in found])) if found else None,
            "periods": len(periods),
            "periods_within_5pct": float(np.mean([e is not None and e <= PERIOD_TOLERANCE for e in periods]))
            if periods else None,
            "period_error_pct_median": float(np.median([100 * e for e in periods if e is not None]))
            if any(e is not None for e in periods) else None,
            "onset_error_s_median": _median_abs(tally.onsets.get(kind, [])),
            "offset_error_s_median": _median_abs(tally.offsets.get(kind, [])),
            "onsets_within_0.5s": _share(tally.onsets.get(kind, []), 0.5),
            "offsets_within_0.5s": _share(tally.offsets.get(kind, []), 0.5),
            "onsets_within_0.1s": _share(tally.onsets.get(kind, []), 0.1),
            "offsets_within_0.1s": _share(tally.offsets.get(kind, []), 0.1),
            "window_onsets_within_0.5s": _share(tally.window_onsets.get(kind, []), 0.5),
            "window_offsets_within_0.5s": _share(tally.window_offsets.get(kind, []), 0.5),
            **_level_figures(tally.levels.get(kind, [])),
        }
    hits = [h for kind in EVENT_TYPES for h in tally.type_hits.get(kind, [])]
    lines = [line for kind in EVENT_TYPES for line in tally.lines.get(kind, [])]
    periods = [e for kind in EVENT_TYPES for e in tally.periods.get(kind, [])]
    errors = [line for line in lines if line[0]]
    return {
        "min_level_db": min_level_db,
        "strong_true_events": tally.strong_events,
        "strong_true_events_reported": tally.strong_found,
        "single_kind_events": len(hits),
        "type_accuracy": float(np.mean(hits)) if hits else None,
        "lines": len(lines),
        "lines_found": float(np.mean([line[0] for line in lines])) if lines else None,
        "line_error_hz_median": float(np.median([e for _, e, _ in errors])) if errors else None,
        "line_error_pct_median": float(np.median([p for _, _, p in errors])) if errors else None,
        "periods": len(periods),
        "periods_within_5pct": float(np.mean([e is not None and e <= PERIOD_TOLERANCE for e in periods]))
        if periods else None,
        **_level_figures([e for kind in EVENT_TYPES for e in tally.levels.get(kind, [])]),
        "per_type": per_type,
    }


def _cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def description_markdown(report: dict[str, Any]) -> str:
    """The figures of :func:`description_report` as Markdown tables (overall line, then per type)."""
    head = (f"Events >= {report['min_level_db']:g} dB over the floor: {report['strong_true_events_reported']} of "
            f"{report['strong_true_events']} true events reported; type accuracy "
            f"{_cell(report['type_accuracy'])} on {report['single_kind_events']} single-kind events; "
            f"lines found {_cell(report['lines_found'])} of {report['lines']} (median error "
            f"{_cell(report['line_error_hz_median'], 1)} Hz, {_cell(report['line_error_pct_median'], 2)} %); "
            f"periods within 5 %: {_cell(report['periods_within_5pct'])} of {report['periods']}; "
            f"levels within {LEVEL_TOLERANCE_DB:g} dB: {_cell(report['levels_within_tolerance'])} of "
            f"{report['levels']} (median error {_cell(report['level_error_db_median'], 1)} dB)")
    rows = [("| type | events | type acc. | F1 | lines | found | err Hz | periods | within 5 % | "
             "onset med. s | offset med. s | on <= 0.5 s | off <= 0.5 s | on <= 0.1 s | off <= 0.1 s | "
             "windows: on <= 0.5 s | off <= 0.5 s | level err. dB | level <= 6 dB |"),
            "|---|" + "---:|" * 18]
    for kind, r in report["per_type"].items():
        rows.append(
            f"| {kind} | {r['events']} | {_cell(r['type_accuracy'])} | {_cell(r['f1'])} | {r['lines']} | "
            f"{_cell(r['lines_found'])} | {_cell(r['line_error_hz_median'], 1)} | {r['periods']} | "
            f"{_cell(r['periods_within_5pct'])} | {_cell(r['onset_error_s_median'], 2)} | "
            f"{_cell(r['offset_error_s_median'], 2)} | {_cell(r['onsets_within_0.5s'], 2)} | "
            f"{_cell(r['offsets_within_0.5s'], 2)} | {_cell(r['onsets_within_0.1s'], 2)} | "
            f"{_cell(r['offsets_within_0.1s'], 2)} | {_cell(r['window_onsets_within_0.5s'], 2)} | "
            f"{_cell(r['window_offsets_within_0.5s'], 2)} | {_cell(r['level_error_db_median'], 1)} | "
            f"{_cell(r['levels_within_tolerance'], 2)} |")
    return head + "\n\n" + "\n".join(rows)
