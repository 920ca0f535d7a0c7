"""The batch report page: counts, groups, table, details; rewritten atomically; resumed."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from audio_artifacts.results.html_report import HtmlReport, ReportRow, compile_group_by, group_values
from audio_artifacts.results.schema import Event, ScanResult

MODEL = {"name": "tiny", "version": "0.1"}


def result(path, probability, events=(), threshold=0.5):
    windows = [{"start": 0.0, "end": 5.0, "probability": probability}]
    r = ScanResult.from_windows(path, windows=windows, threshold=threshold, model=MODEL, duration_s=5.0,
                                sample_rate=48000, channels=1)
    import dataclasses
    return dataclasses.replace(r, events=tuple(events)) if events else r


TONAL = Event(0.5, 4.0, 0.9, type="tonal", frequencies_hz=(12000.0,), level_db=21.0, band_hz=(11900, 12100))
BUZZ = Event(1.0, 5.0, 0.95, type="tdma_buzz", frequencies_hz=(217.0, 434.0, 651.0), period_s=1 / 217,
             level_db=12.0)


def batch():
    return [
        result("line/u01_P1_wide_BT_x_10dB.wav", 0.9, [TONAL]),
        result("line/u01_P1_wide_LE_x_10dB.wav", 0.1),
        result("line/u02_P1_wide_BT_x_10dB.wav", 0.97, [BUZZ, TONAL]),
        result("line/u02_P2_wide_LE_x_10dB.wav", 0.8, [Event(0, 5, 0.8)]),  # an old row: nothing measured
        ScanResult.failure("line/u03_<bad>&_10dB.wav", "line/u03_<bad>&_10dB.wav: empty file", MODEL, 0.5),
    ]


class Cells(HTMLParser):
    """Text of every <td>/<th> per table id, and elements by id."""

    def __init__(self):
        super().__init__()
        self.tables, self.ids, self._table, self._cell, self._row = {}, {}, None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids[attrs["id"]] = attrs
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("id") or f"t{len(self.tables)}", [])
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(path):
    cells = Cells()
    cells.feed(path.read_text(encoding="utf-8"))
    return cells


def test_counts_types_groups_and_table(tmp_path):
    report = HtmlReport(tmp_path / "r.html", group_by=compile_group_by(r"^(?P<unit>[^_]+)_(?:[^_]+_[^_]+_(?P<mode>[^_]+)_)?"))
    for r in batch():
        report.add(ReportRow(r))
    report.close()
    page = parse(tmp_path / "r.html")
    text = (tmp_path / "r.html").read_text()
    assert "<script src" not in text and "<link" not in text and "http" not in text  # nothing fetched
    assert re.search(r'id="count-files"><b>5<', text) and re.search(r'id="count-artifact"><b>3<', text)
    assert re.search(r'id="count-error"><b>1<', text)
    types = {row[0]: row[1:] for row in page.tables["types"][1:]}
    assert types == {"tonal": ["2", "2"], "tdma_buzz": ["1", "1"], "untyped": ["1", "1"]}
    units = {row[0]: row[1:5] for row in page.tables["group-unit"][1:]}
    assert units == {"u01": ["2", "1", "50%", "0"], "u02": ["2", "2", "100%", "0"], "u03": ["1", "0", "0%", "1"]}
    modes = {row[0]: row[1:3] for row in page.tables["group-mode"][1:]}
    assert modes == {"BT": ["2", "2"], "LE": ["2", "1"], "(no match)": ["1", "0"]}
    header, *rows = page.tables["results"]
    assert header == ["file", "verdict", "probability", "type", "frequencies (Hz)", "period (s)",
                      "first hit (s)", "events", "error"]
    by_file = {row[0]: row for row in rows}
    buzz_row = by_file["u02_P1_wide_BT_x_10dB.wav"]
    assert buzz_row[1:6] == ["artifact", "0.970", "tonal, tdma_buzz", "217, 434, 651", "0.0046"]
    error_row = by_file["u03_<bad>&_10dB.wav"]  # escaped in the page, read back as written
    assert error_row[1] == "error" and error_row[8] == "line/u03_<bad>&_10dB.wav: empty file"
    assert "u03_&lt;bad&gt;&amp;_10dB.wav" in text
    assert len([k for k in page.ids if k.startswith("rec-")]) == 3  # a section per flagged recording


def test_page_is_written_at_once_and_after_rows_and_resumed(tmp_path):
    page = tmp_path / "out" / "report.html"
    report = HtmlReport(page)
    assert page.is_file() and "count-files\"><b>0<" in page.read_text()  # readable before the first row
    first, second, *_ = batch()
    report.add(ReportRow(first, picture="report_files/pictures/a.png", artifact_audio="iso/a.artifact.wav",
                         residual_audio="iso/a.residual.wav", isolation="event 1: lines 12000 Hz"))
    assert "u01_P1_wide_BT_x_10dB.wav" in page.read_text()
    assert not list(page.parent.glob(".*rewrite*"))  # no temporary left behind

    # an interrupted scan resumed: the earlier row is kept, a rescanned one replaces its old row
    resumed = HtmlReport(page, resume=True, previous=[second])
    resumed.add(ReportRow(result(first.path, 0.2)))
    resumed.close()
    header, *rows = parse(page).tables["results"]
    assert sorted(r[0] for r in rows) == ["u01_P1_wide_BT_x_10dB.wav", "u01_P1_wide_LE_x_10dB.wav"]
    assert {r[0]: r[1] for r in rows}["u01_P1_wide_BT_x_10dB.wav"] == "no_artifact"

    fresh = HtmlReport(page)  # without resume: a new page
    fresh.close()
    assert parse(page).tables["results"][1:] == []


def test_players_and_pictures_link_relative_to_the_page(tmp_path):
    page = tmp_path / "report.html"
    report = HtmlReport(page)
    iso = tmp_path / "iso dir" / "a.artifact.wav"
    report.add(ReportRow(batch()[0], picture=report.relative(tmp_path / "pics" / "a.png"),
                         artifact_audio=report.relative(iso), residual_audio=report.relative(iso.with_name("a.residual.wav"))))
    text = page.read_text()
    assert 'src="pics/a.png"' in text
    assert 'src="iso%20dir/a.artifact.wav"' in text and 'src="iso%20dir/a.residual.wav"' in text


def test_group_by_needs_a_named_group_and_reports_no_match():
    with pytest.raises(ValueError, match="no named group"):
        compile_group_by(r"([^_]+)_")
    with pytest.raises(ValueError, match="not a regular expression"):
        compile_group_by(r"(?P<unit>[^_+_")
    pattern = compile_group_by(r"(?P<unit>u\d+)_")
    assert group_values(pattern, "x/u07_P1.wav") == {"unit": "u07"}
    assert group_values(pattern, "x/other.wav") == {"unit": "(no match)"}
