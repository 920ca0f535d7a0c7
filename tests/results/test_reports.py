"""ScanResult schema, the durable JSONL / CSV writers and the terminal table."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_artifacts.results.schema import CSV_COLUMNS, Event, ScanResult, Span, merge_events
from audio_artifacts.results.table import TableFormatter, format_table
from audio_artifacts.results.writers import CsvSummaryWriter, JsonlWriter, done_paths, read_jsonl, write_csv_summary

MODEL = {"name": "tiny", "version": "0.1"}
CONTRACT_KEYS = [
    "path", "status", "error", "duration_s", "sample_rate", "channels", "probability",
    "verdict", "threshold", "triggered_at", "windows", "events", "model", "identity", "stimulus",
]


def sliding(probabilities, duration=5.0, hop=3.75):
    return [{"start": i * hop, "end": i * hop + duration, "probability": p} for i, p in enumerate(probabilities)]


def ok_result(path="rec.wav", probabilities=(0.1, 0.8, 0.9, 0.2, 0.7), threshold=0.5):
    windows = sliding(probabilities)
    return ScanResult.from_windows(
        path, windows=windows, threshold=threshold, model=MODEL,
        duration_s=windows[-1]["end"], sample_rate=48000, channels=2,
    )


def test_from_windows_derives_verdict_trigger_and_events():
    result = ok_result()
    assert result.status == "ok" and result.error is None
    assert result.verdict == "artifact"
    assert result.probability == 0.9
    assert result.triggered_at == 3.75
    assert [{k: e.to_dict()[k] for k in ("start", "end", "probability")} for e in result.events] == [
        {"start": 3.75, "end": 12.5, "probability": 0.9},
        {"start": 15.0, "end": 20.0, "probability": 0.7},
    ]
    assert result.windows[0] == Span(0.0, 5.0, 0.1)


def test_threshold_comparison_is_inclusive_and_override_changes_everything():
    at = ok_result(probabilities=(0.2, 0.5), threshold=0.5)
    assert at.verdict == "artifact" and at.triggered_at == 3.75 and len(at.events) == 1
    above = ok_result(probabilities=(0.2, 0.5), threshold=0.51)
    assert above.verdict == "no_artifact" and above.triggered_at is None and above.events == ()
    assert above.threshold == 0.51


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30), st.floats(0, 1))
def test_events_are_exactly_the_runs_of_flagged_windows(probabilities, threshold):
    windows = [Span(**w) for w in sliding(probabilities)]
    events = merge_events(windows, threshold)
    flagged = [w for w in windows if w.probability >= threshold]
    # every flagged window lies in exactly one event, no unflagged window starts one
    for window in flagged:
        assert sum(e.start <= window.start and window.end <= e.end for e in events) == 1
    assert {e.start for e in events} <= {w.start for w in flagged}
    # events are ordered, and each one's probability is the max of its windows
    assert all(a.end <= b.end and a.start < b.start for a, b in zip(events, events[1:]))
    for event in events:
        inside = [w.probability for w in flagged if event.start <= w.start and w.end <= event.end]
        assert event.probability == max(inside)
    runs = sum(1 for i, w in enumerate(windows) if w.probability >= threshold
               and (i == 0 or windows[i - 1].probability < threshold))
    assert len(events) == runs


def test_to_dict_is_the_contract_and_round_trips_through_json():
    result = ok_result()
    data = json.loads(json.dumps(result.to_dict()))
    assert list(data) == CONTRACT_KEYS
    assert data["model"] == {**MODEL, "backend": None}  # rows made without a backend say so
    assert ScanResult.from_dict({**data, "model": MODEL}).model.backend is None  # older rows read back
    with_backend = ScanResult.from_dict({**data, "model": {**MODEL, "backend": "onnx"}})
    assert with_backend.to_dict()["model"] == {**MODEL, "backend": "onnx"}
    assert all(set(w) == {"start", "end", "probability"} for w in data["windows"])
    assert all(set(e) == {"start", "end", "probability", *EVENT_FIELDS} for e in data["events"])
    assert isinstance(data["sample_rate"], int) and isinstance(data["channels"], int)
    assert ScanResult.from_dict(data) == result


def test_failure_has_no_verdict_and_round_trips():
    failure = ScanResult.failure("bad.wav", "bad.wav: empty file (0 bytes)", MODEL, 0.4)
    data = failure.to_dict()
    assert data["status"] == "error" and data["verdict"] is None and data["probability"] is None
    assert data["windows"] == [] and data["events"] == [] and data["threshold"] == 0.4
    assert ScanResult.from_dict(data) == failure
    assert not failure.ok and not failure.flagged


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"probability": math.nan}, "probability"),
        ({"probability": 1.5}, "probability"),
        ({"status": "done"}, "status"),
        ({"verdict": "maybe"}, "verdict"),
        ({"threshold": -0.1}, "threshold"),
        ({"error": "oops"}, "ok result"),
        ({"windows": [{"start": 2.0, "end": 1.0, "probability": 0.1}]}, "start <= end"),
        ({"windows": [{"begin": 0}]}, "start, end, probability"),
    ],
)
def test_invalid_results_are_rejected(changes, message):
    data = ok_result().to_dict() | changes
    with pytest.raises(ValueError, match=message):
        ScanResult.from_dict(data)


def test_from_dict_names_missing_keys():
    with pytest.raises(ValueError, match="missing status"):
        ScanResult.from_dict({"path": "a.wav", "error": None, "threshold": 0.5, "model": MODEL})


def test_jsonl_rows_are_on_disk_before_the_writer_closes(tmp_path):
    out = tmp_path / "deep" / "results.jsonl"
    writer = JsonlWriter(out)
    writer.write(ok_result("a.wav"))
    # another reader sees the complete row while the writer is still open
    assert [r.path for r in read_jsonl(out)] == ["a.wav"]
    writer.write(ScanResult.failure("b.wav", "b.wav: not audio", MODEL, 0.5))
    writer.close()
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["path"] for line in lines)


def test_resume_drops_a_torn_last_line_and_appends(tmp_path):
    out = tmp_path / "results.jsonl"
    with JsonlWriter(out) as writer:
        writer.write(ok_result("a.wav"))
        writer.write(ok_result("b.wav"))
    torn = out.read_text()
    out.write_text(torn + torn.splitlines()[0][:40])  # a kill in the middle of a row
    assert done_paths(out) == {"a.wav", "b.wav"}
    with JsonlWriter(out, resume=True) as writer:
        writer.write(ok_result("c.wav"))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["path"] for r in rows] == ["a.wav", "b.wav", "c.wav"]


def test_writer_without_resume_starts_afresh(tmp_path):
    out = tmp_path / "results.jsonl"
    out.write_text('{"path": "old.wav"}\n')
    with JsonlWriter(out) as writer:
        writer.write(ok_result("new.wav"))
    assert done_paths(out) == {"new.wav"}


def test_csv_summary_is_flat_and_resumable(tmp_path):
    out = tmp_path / "summary.csv"
    failure = ScanResult.failure("bad,name.wav", "bad,name.wav: line one\nline two", MODEL, 0.5)
    write_csv_summary([ok_result("a.wav"), failure], out)
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert rows[0]["verdict"] == "artifact" and float(rows[0]["probability"]) == 0.9
    assert rows[0]["n_events"] == "2" and rows[0]["triggered_at"] == "3.75"
    assert rows[0]["model_name"] == "tiny" and rows[0]["model_version"] == "0.1"
    assert rows[1]["path"] == "bad,name.wav" and rows[1]["verdict"] == ""
    assert rows[1]["error"] == "bad,name.wav: line one | line two"
    out.write_text(out.read_text() + "c.wav,ok,,5.0,480")  # torn row
    assert done_paths(out) == {"a.wav", "bad,name.wav"}
    with CsvSummaryWriter(out, resume=True) as writer:
        writer.write(ok_result("d.wav"))
    assert [r["path"] for r in CsvSummaryWriter.read_rows(out)] == ["a.wav", "bad,name.wav", "d.wav"]
    assert out.read_text().count("path,status") == 1


def test_stream_writer_writes_to_an_open_stream():
    stream = io.StringIO()
    writer = CsvSummaryWriter.to_stream(stream)
    writer.write(ok_result("a.wav"))
    writer.close()
    assert not stream.closed
    assert stream.getvalue().splitlines()[0] == ",".join(CSV_COLUMNS)


def test_table_shows_each_file_and_errors():
    long_name = "/data/" + "x" * 80 + "/unit7_V212-Tx_10dB.wav"
    results = [ok_result(long_name), ok_result("quiet.wav", probabilities=(0.1, 0.2)),
               ScanResult.failure("broken.wav", "broken.wav: empty file (0 bytes)", MODEL, 0.5)]
    text = format_table(results)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["file", "verdict", "prob"]
    assert "unit7_V212-Tx_10dB.wav" in lines[2] and "artifact" in lines[2] and "0.900" in lines[2]
    assert len(lines[2].split("  ")[0]) == 40  # long names keep their end
    # each event on its own line, with its times
    assert lines[3:5] == ["    event 3.75-12.50 s", "    event 15.00-20.00 s"]
    assert "no_artifact" in lines[5] and "-" in lines[5].split()
    assert "ERROR" in lines[6] and "empty file (0 bytes)" in lines[6]
    assert lines[-1] == "3 file(s): 1 artifact, 1 no_artifact, 1 error"
    with pytest.raises(ValueError, match="name_width"):
        TableFormatter(name_width=3)


def test_a_file_name_that_is_not_utf8_is_kept_and_resumable(tmp_path):
    name = b"unit\xff_10dB.wav".decode("utf-8", "surrogateescape")  # as os.listdir gives it
    out = tmp_path / "results.jsonl"
    with JsonlWriter(out) as writer:
        writer.write(ok_result(name))
    (row,) = read_jsonl(out)
    assert row.path == name and done_paths(out) == {name}
    out.read_text(encoding="utf-8")  # the file itself is valid UTF-8


# --------------------------------------------------------------------------- identity, dialects, write errors


def test_file_identity_is_size_time_and_head_hash(tmp_path):
    import dataclasses
    import hashlib
    import os

    from audio_artifacts.results.schema import IDENTITY_HEAD_BYTES, FileIdentity

    small, big = tmp_path / "small.wav", tmp_path / "big.wav"
    small.write_bytes(b"abc")
    big.write_bytes(b"x" * IDENTITY_HEAD_BYTES + b"tail")
    assert FileIdentity.of(small) == FileIdentity(3, os.stat(small).st_mtime_ns, hashlib.sha256(b"abc").hexdigest(), 3)
    head = FileIdentity.of(big)
    assert head.hashed_bytes == IDENTITY_HEAD_BYTES and head.size == IDENTITY_HEAD_BYTES + 4
    assert FileIdentity.of(tmp_path) is None and FileIdentity.of(tmp_path / "missing.wav") is None
    assert FileIdentity.of(small, with_mtime=False).mtime_ns is None
    result = dataclasses.replace(ok_result(), identity=FileIdentity.of(small))
    assert ScanResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    with pytest.raises(ValueError):
        ScanResult.from_dict({**result.to_dict(), "identity": {"size": 1}})


def test_excel_dialect_round_trips_and_is_detected(tmp_path):
    import dataclasses

    from audio_artifacts.results.schema import FileIdentity

    (tmp_path / "ä.wav").write_bytes(b"abc")
    result = dataclasses.replace(ok_result("Prüfling ä;1.wav"), identity=FileIdentity.of(tmp_path / "ä.wav"))
    out = tmp_path / "excel.csv"
    with CsvSummaryWriter(out, dialect="excel") as writer:
        writer.write(result)
    with CsvSummaryWriter(out, resume=True, dialect="excel") as writer:
        writer.write(ok_result("second.wav"))
    raw = out.read_bytes()
    assert raw.startswith("\ufeff".encode()) and raw.count("\ufeff".encode()) == 1
    assert CsvSummaryWriter.dialect_of(out) == "excel"
    rows = CsvSummaryWriter.read_rows(out)
    assert [r["path"] for r in rows] == ["Prüfling ä;1.wav", "second.wav"]
    assert float(rows[0]["probability"]) == result.probability  # decimal commas read back
    assert rows[0]["file_sha256"] == result.identity.sha256
    assert ";0,9;" in out.read_text(encoding="utf-8-sig").splitlines()[1]
    with pytest.raises(ValueError):
        CsvSummaryWriter(out, dialect="semicolon")


def test_a_failed_write_raises_a_clear_error_and_leaves_only_whole_rows(tmp_path):
    from audio_artifacts.results.writers import ResultsWriteError

    with pytest.raises(ResultsWriteError, match="no space left on the device"):
        with JsonlWriter("/dev/full") as writer:
            writer.write(ok_result())
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ResultsWriteError, match=r"cannot write results to .*file/out\.jsonl"):
        JsonlWriter(blocker / "out.jsonl")


EVENT_FIELDS = ("type", "type_probabilities", "frequencies_hz", "period_s", "level_db", "band_hz")


def test_event_description_round_trips_and_reads_old_rows():
    event = Event(4.0, 7.0, 0.9, type="tdma_buzz", type_probabilities={"tonal": 0.2, "tdma_buzz": 0.95},
                  frequencies_hz=(217.0, 434.0), period_s=1 / 217, level_db=12.5, band_hz=(100, 4000))
    data = json.loads(json.dumps(event.to_dict()))
    assert data["type_probabilities"] == {"tdma_buzz": 0.95, "tonal": 0.2}
    assert data["band_hz"] == [100.0, 4000.0] and data["frequencies_hz"] == [217.0, 434.0]
    assert Event.coerce(data) == event
    old = Event.coerce({"start": 1.0, "end": 2.0, "probability": 0.5})
    assert old.type is None and old.frequencies_hz == () and old.band_hz is None


@pytest.mark.parametrize("bad", [
    {"type": "hum"}, {"type_probabilities": {"hum": 0.5}}, {"type_probabilities": {"tonal": 1.5}},
    {"frequencies_hz": (-5.0,)}, {"frequencies_hz": tuple(range(1, 14))}, {"period_s": 0.0},
    {"level_db": float("nan")}, {"band_hz": (500.0, 100.0)},
])
def test_event_refuses_impossible_descriptions(bad):
    with pytest.raises(ValueError):
        Event(0.0, 1.0, 0.5, **bad)
