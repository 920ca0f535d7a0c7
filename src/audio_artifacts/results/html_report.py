"""The batch report: one self-contained HTML page for a whole scan, rewritten as results arrive.

The page (:class:`HtmlReport`) holds, for every recording scanned: the
counts (files, verdicts, errors, artifacts by type), statistics per value of
each named group of a user's regular expression on the file names (``--group-by``:
which units or modes fail), a sortable and filterable table, and for each
flagged recording its events, its picture and players for its isolated
artifact and residual.

Self-contained: the CSS and JavaScript are inline (the template is the
package file ``report_template.html``), nothing is fetched; pictures and
audio are files linked relative to the page, so the page and its folder can
be copied anywhere together and opened offline. Without JavaScript the
table is still complete, only not sortable.

Written as results arrive: every row is appended (fsync'ed) to a state file
beside the page (``<page stem>_files/rows.jsonl``) and the page is rewritten
atomically (temporary file + rename), so an interrupted scan leaves a
readable page of what is done; ``resume=True`` reads the state file back.
The page is rewritten after every row; only once a rewrite takes more than
50 ms (about 1000 flagged recordings) is the next skipped until ``10 x`` its duration
has passed (at most ~10 % of the scan's time); :meth:`HtmlReport.close`
always writes the final page.
"""

from __future__ import annotations

import html
import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import quote

from audio_artifacts.results.schema import EVENT_TYPES, Event, ScanResult
from audio_artifacts.results.writers import ResultsWriteError, _os_reason, replace_atomically

_UNTYPED = "untyped"
#: A rewrite slower than this (s) defers the next one (see the module docstring).
_SLOW_WRITE_S = 0.05
_NO_MATCH = "(no match)"


@dataclass(frozen=True)
class ReportRow:
    """One recording on the page: its result and the files shown with it.

    Attributes
    ----------
    result : ScanResult
    picture, artifact_audio, residual_audio : str or None
        Paths of the picture and of the isolated artifact / residual WAVs,
        relative to the page (``None`` when there are none).
    isolation : str or None
        How the artifact was isolated (one line per event), for the reader.
    """

    result: ScanResult
    picture: str | None = None
    artifact_audio: str | None = None
    residual_audio: str | None = None
    isolation: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result.to_dict(), "picture": self.picture, "artifact_audio": self.artifact_audio,
                "residual_audio": self.residual_audio, "isolation": self.isolation}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReportRow:
        return cls(ScanResult.from_dict(data["result"]), data.get("picture"), data.get("artifact_audio"),
                   data.get("residual_audio"), data.get("isolation"))


def compile_group_by(pattern: str) -> re.Pattern[str]:
    """The ``--group-by`` expression, checked: it must compile and have at least one named group.

    Raises
    ------
    ValueError
        Saying what is wrong and giving an example.
    """
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"--group-by {pattern!r} is not a regular expression: {exc}") from None
    if not compiled.groupindex:
        raise ValueError(f"--group-by {pattern!r} has no named group; name the part to group by, "
                         "e.g. '(?P<unit>[^_]+)_'")
    return compiled


def group_values(pattern: re.Pattern[str], path: str) -> dict[str, str]:
    """Each named group's value for one recording: searched in the file name, then in the whole path."""
    match = pattern.search(Path(path).name) or pattern.search(path)
    return {name: (match.group(name) if match and match.group(name) is not None else _NO_MATCH)
            for name in pattern.groupindex}


def main_event(result: ScanResult) -> Event | None:
    """The event a one-line summary describes: the most probable one."""
    return max(result.events, key=lambda e: e.probability) if result.events else None


def result_types(result: ScanResult) -> list[str]:
    """The distinct types of a flagged result's events, in schema order (``untyped`` for events without)."""
    if not result.flagged:
        return []
    found = {e.type or _UNTYPED for e in result.events} or {_UNTYPED}
    order = {name: i for i, name in enumerate((*EVENT_TYPES, _UNTYPED))}
    return sorted(found, key=order.__getitem__)


def _number(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _hz_list(frequencies: Iterable[float], limit: int = 4) -> str:
    values = list(frequencies)
    text = ", ".join(f"{f:.0f}" for f in values[:limit])
    return text + (" …" if len(values) > limit else "")


def _link(relative: str) -> str:
    return html.escape(quote(relative.replace(os.sep, "/")), quote=True)


def _anchor(index: int) -> str:
    return f"rec-{index}"


class HtmlReport:
    """The batch report page, rewritten atomically as rows are added.

    Parameters
    ----------
    path : path-like
        The ``.html`` page; its folder is created. Its assets folder is
        ``<stem>_files`` beside it (:attr:`assets`).
    group_by : re.Pattern, optional
        A compiled expression with named groups (:func:`compile_group_by`).
    title : str, optional
        Page title; by default ``"audio-artifacts scan report"``.
    resume : bool
        Keep the rows of an earlier run (its state file) instead of starting afresh.
    previous : iterable of ScanResult
        Rows already scanned (e.g. the ``--out`` JSONL on ``--resume``) to
        show when the state file does not have them.

    Raises
    ------
    ResultsWriteError
        When the page or its state file cannot be written.
    """

    def __init__(self, path: str | os.PathLike[str], *, group_by: re.Pattern[str] | None = None,
                 title: str | None = None, resume: bool = False, previous: Iterable[ScanResult] = ()) -> None:
        self.path = Path(path)
        self.assets = self.path.with_name(f"{self.path.stem}_files")
        self.state = self.assets / "rows.jsonl"
        self.group_by = group_by
        self.title = title or "audio-artifacts scan report"
        self.rows: dict[str, ReportRow] = {}
        try:
            self.assets.mkdir(parents=True, exist_ok=True)
            if resume and self.state.is_file():
                for line in self.state.read_text(encoding="utf-8", errors="replace").splitlines():
                    try:
                        row = ReportRow.from_dict(json.loads(line))
                    except (ValueError, KeyError, TypeError):
                        continue  # a row torn by a crash
                    self.rows[row.result.path] = row
            elif self.state.exists():
                self.state.unlink()
        except OSError as exc:
            raise ResultsWriteError(self.state, _os_reason(exc), 0) from None
        for result in previous:
            if result.path not in self.rows:
                self._append_state(ReportRow(result))
        self._next_write = 0.0
        self.write()

    def relative(self, target: str | os.PathLike[str]) -> str:
        """``target`` as a link relative to the page."""
        return os.path.relpath(os.path.abspath(target), os.path.abspath(self.path.parent))

    def add(self, row: ReportRow) -> None:
        """Record one finished recording (replacing an earlier row of the same path) and rewrite the page."""
        self._append_state(row)
        if time.monotonic() >= self._next_write:
            self.write()

    def close(self) -> None:
        """Write the final page."""
        self.write()

    def _append_state(self, row: ReportRow) -> None:
        self.rows.pop(row.result.path, None)
        self.rows[row.result.path] = row
        line = json.dumps(row.to_dict(), ensure_ascii=False, allow_nan=False) + "\n"
        try:
            with open(self.state, "a", encoding="utf-8", errors="backslashreplace") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise ResultsWriteError(self.state, _os_reason(exc), 0) from None

    def write(self) -> None:
        """Rewrite the page now (atomically)."""
        started = time.monotonic()
        replace_atomically(self.path, self.render())
        took = time.monotonic() - started
        # Small pages are rewritten after every row; a page that takes long to write waits 10x as long.
        self._next_write = time.monotonic() + 10 * took if took > _SLOW_WRITE_S else 0.0

    # -- rendering -------------------------------------------------------

    def render(self) -> str:
        """The whole page as text."""
        rows = list(self.rows.values())
        template = Template(resources.files("audio_artifacts.results").joinpath("report_template.html")
                            .read_text(encoding="utf-8"))
        models = sorted({f"{r.result.model.name} {r.result.model.version}".strip() for r in rows} - {""})
        thresholds = sorted({r.result.threshold for r in rows})
        meta = (f"{len(rows)} recording(s) · written {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
                + (f" · model {', '.join(models)}" if models else "")
                + (f" · threshold {', '.join(f'{t:g}' for t in thresholds)}" if thresholds else ""))
        types_present = sorted({t for r in rows for t in result_types(r.result)},
                               key=lambda t: (*EVENT_TYPES, _UNTYPED).index(t))
        return template.substitute(
            title=html.escape(self.title),
            meta=html.escape(meta),
            summary=self._summary(rows),
            groups=self._groups(rows),
            type_options="".join(f'<option value="{t}">{t}</option>' for t in types_present),
            table=self._table(rows),
            details=self._details(rows),
        )

    @staticmethod
    def _summary(rows: list[ReportRow]) -> str:
        results = [r.result for r in rows]
        flagged = sum(r.flagged for r in results)
        errors = sum(not r.ok for r in results)
        cards = [("files", len(results), ""), ("artifact", flagged, "artifact"),
                 ("no_artifact", len(results) - flagged - errors, "ok"), ("error", errors, "error")]
        html_cards = "".join(f'<div class="card {cls}" id="count-{name}"><b>{n}</b>{name}</div>'
                             for name, n, cls in cards)
        by_type = Counter(e.type or _UNTYPED for r in results if r.flagged for e in r.events)
        recordings_by_type = Counter(t for r in results for t in result_types(r))
        type_rows = "".join(
            f'<tr data-type="{t}"><td>{t}</td><td class="num">{recordings_by_type[t]}</td>'
            f'<td class="num">{by_type[t]}</td></tr>'
            for t in (*EVENT_TYPES, _UNTYPED) if recordings_by_type[t])
        table = ("<table id=\"types\"><thead><tr><th>artifact type</th><th class=\"num\">recordings</th>"
                 f"<th class=\"num\">events</th></tr></thead><tbody>{type_rows}</tbody></table>"
                 if type_rows else "")
        return f'<div class="cards">{html_cards}</div>{table}'

    def _groups(self, rows: list[ReportRow]) -> str:
        if self.group_by is None:
            return ""
        parts = []
        for name in self.group_by.groupindex:
            stats: dict[str, Counter] = {}
            for row in rows:
                value = group_values(self.group_by, row.result.path)[name]
                counter = stats.setdefault(value, Counter())
                counter["files"] += 1
                counter["artifact"] += row.result.flagged
                counter["error"] += not row.result.ok
                for t in result_types(row.result):
                    counter["type:" + t] += 1
            lines = []
            for value, c in sorted(stats.items(), key=lambda kv: (-kv[1]["artifact"] / kv[1]["files"], kv[0])):
                share = c["artifact"] / c["files"]
                types = ", ".join(f"{k[5:]} {n}" for k, n in c.most_common() if k.startswith("type:"))
                lines.append(
                    f'<tr data-group="{html.escape(value, quote=True)}"><td>{html.escape(value)}</td>'
                    f'<td class="num">{c["files"]}</td><td class="num">{c["artifact"]}</td>'
                    f'<td class="num"><span class="bar" style="width:{share * 4:.2f}rem"></span>{share:.0%}</td>'
                    f'<td class="num">{c["error"]}</td><td>{html.escape(types)}</td></tr>')
            parts.append(
                f'<h2>By {html.escape(name)}</h2><table class="groups" id="group-{html.escape(name, quote=True)}">'
                f'<thead><tr><th>{html.escape(name)}</th><th class="num">files</th><th class="num">artifact</th>'
                '<th class="num">share</th><th class="num">error</th><th>types</th></tr></thead>'
                f'<tbody>{"".join(lines)}</tbody></table>')
        return "".join(parts)

    def _table(self, rows: list[ReportRow]) -> str:
        head = ('<table id="results"><thead><tr>'
                '<th data-type="text">file</th><th data-type="text">verdict</th>'
                '<th data-type="number" class="num">probability</th><th data-type="text">type</th>'
                '<th data-type="number">frequencies (Hz)</th><th data-type="number" class="num">period (s)</th>'
                '<th data-type="number" class="num">first hit (s)</th><th data-type="number" class="num">events</th>'
                '<th data-type="text">error</th></tr></thead><tbody>')
        body = []
        for index, row in enumerate(rows):
            r = row.result
            verdict = r.verdict if r.ok else "error"
            event = main_event(r) if r.flagged else None
            types = result_types(r)
            name = html.escape(Path(r.path).name)
            file_cell = f'<a href="#{_anchor(index)}">{name}</a>' if r.flagged else name
            frequencies = event.frequencies_hz if event is not None else ()
            period = event.period_s if event is not None else None
            body.append(
                f'<tr class="{verdict}" data-verdict="{verdict}" data-types="{" ".join(types)}">'
                f'<td data-sort="{html.escape(r.path, quote=True)}" title="{html.escape(r.path, quote=True)}">{file_cell}</td>'
                f'<td class="verdict">{verdict}</td>'
                f'<td class="num" data-sort="{_number(r.probability, 6)}">{_number(r.probability)}</td>'
                f'<td>{", ".join(types)}</td>'
                f'<td data-sort="{frequencies[0] if frequencies else ""}">{_hz_list(frequencies)}</td>'
                f'<td class="num" data-sort="{"" if period is None else period}">{_number(period, 4)}</td>'
                f'<td class="num" data-sort="{"" if r.triggered_at is None else r.triggered_at}">'
                f'{_number(r.triggered_at, 2)}</td>'
                f'<td class="num">{len(r.events)}</td>'
                f'<td class="error-text">{html.escape(r.error or "")}</td></tr>')
        return head + "".join(body) + "</tbody></table>"

    @staticmethod
    def _details(rows: list[ReportRow]) -> str:
        parts = []
        for index, row in enumerate(rows):
            r = row.result
            if not r.flagged:
                continue
            events = "".join(
                f'<tr><td class="num">{n}</td><td class="num">{e.start:.2f}</td><td class="num">{e.end:.2f}</td>'
                f'<td class="num">{e.probability:.3f}</td><td>{e.type or ""}</td>'
                f'<td>{_hz_list(e.frequencies_hz, 12)}</td><td class="num">{_number(e.period_s, 4)}</td>'
                f'<td class="num">{"" if e.level_db is None else f"{e.level_db:+.1f}"}</td>'
                f'<td>{"" if e.band_hz is None else f"{e.band_hz[0]:.0f}–{e.band_hz[1]:.0f}"}</td></tr>'
                for n, e in enumerate(r.events, start=1))
            picture = (f'<img src="{_link(row.picture)}" alt="spectrogram of {html.escape(Path(r.path).name)}" '
                       'loading="lazy">' if row.picture else '<p class="muted">no picture</p>')
            players = ""
            if row.artifact_audio:
                players = ('<div class="players">'
                           f'<div><label>artifact alone</label><audio controls preload="metadata" class="artifact" '
                           f'src="{_link(row.artifact_audio)}"></audio></div>'
                           + (f'<div><label>residual (recording without it)</label><audio controls preload="metadata" '
                              f'class="residual" src="{_link(row.residual_audio)}"></audio></div>'
                              if row.residual_audio else "")
                           + (f'<div class="muted">{html.escape(row.isolation)}</div>' if row.isolation else "")
                           + "</div>")
            parts.append(
                f'<section class="detail" id="{_anchor(index)}"><h3>{html.escape(Path(r.path).name)}</h3>'
                f'<p class="muted">{html.escape(r.path)} · p = {r.probability:.3f} · first hit '
                f'{_number(r.triggered_at, 2)} s · {_number(r.duration_s, 1)} s long</p>'
                '<table class="events"><thead><tr><th class="num">#</th><th class="num">start (s)</th>'
                '<th class="num">end (s)</th><th class="num">p</th><th>type</th><th>frequencies (Hz)</th>'
                '<th class="num">period (s)</th><th class="num">level (dB)</th><th>band (Hz)</th></tr></thead>'
                f'<tbody>{events}</tbody></table>{players}{picture}</section>')
        return ('<h2>Flagged recordings</h2>' + "".join(parts)) if parts else ""
