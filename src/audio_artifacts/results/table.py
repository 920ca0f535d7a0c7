"""The fixed-width terminal table ``scan`` prints as files finish.

Each recording is one row; each of its events follows on its own indented
line: times, type, line frequencies, period and level (:meth:`Event.summary`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from audio_artifacts.results.schema import ScanResult


class TableFormatter:
    """Fixed-width terminal table, printable one row at a time as files finish."""

    def __init__(self, name_width: int = 40) -> None:
        if name_width < 8:
            raise ValueError(f"name_width must be >= 8, got {name_width}")
        self.name_width = name_width

    def header(self) -> str:
        w = self.name_width
        head = f"{'file':<{w}}  {'verdict':<11}  {'prob':>6}  {'first hit':>9}  {'events':>6}  {'duration':>9}"
        return head + "\n" + "-" * len(head)

    def row(self, result: ScanResult) -> str:
        """The recording's row, then one indented line per event."""
        w = self.name_width
        name = result.path if len(result.path) <= w else "…" + result.path[-(w - 1):]
        if not result.ok:
            return f"{name:<{w}}  {'ERROR':<11}  {result.error}"
        hit = "-" if result.triggered_at is None else f"{result.triggered_at:.2f}s"
        line = (
            f"{name:<{w}}  {result.verdict:<11}  {result.probability:>6.3f}  {hit:>9}  "
            f"{len(result.events):>6}  {_duration(result.duration_s):>9}"
        )
        ref = result.stimulus
        if ref is not None:  # stimulus-aware: say against what, and warn when it was not used
            line += f"  stimulus {Path(ref.file).name} at {ref.offset_s:+.3f}s"
            if ref.warning:
                line += f"  WARNING: {ref.warning}"
        return "\n".join([line, *(f"    event {e.summary()}" for e in result.events)])

    @staticmethod
    def footer(n_files: int, n_artifact: int, n_error: int) -> str:
        """One line of counts, e.g. ``"3 file(s): 1 artifact, 1 no_artifact, 1 error"``."""
        return (
            f"{n_files} file(s): {n_artifact} artifact, "
            f"{n_files - n_artifact - n_error} no_artifact, {n_error} error"
        )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_table(results: Sequence[ScanResult], name_width: int = 40) -> str:
    """A readable table of ``results`` with a one-line count at the end."""
    table = TableFormatter(name_width)
    footer = table.footer(len(results), sum(r.flagged for r in results), sum(not r.ok for r in results))
    lines = [table.header(), *(table.row(r) for r in results), "", footer]
    return "\n".join(lines)
