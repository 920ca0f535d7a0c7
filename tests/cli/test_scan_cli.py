"""`audio-artifacts scan` end to end: real files, a real model directory, the real CLI."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from audio_artifacts.audio import write_audio
from audio_artifacts.cli import main
from audio_artifacts.results.schema import CSV_COLUMNS, ScanResult

CONTRACT_KEYS = [
    "path", "status", "error", "duration_s", "sample_rate", "channels", "probability",
    "verdict", "threshold", "triggered_at", "windows", "events", "model", "identity", "stimulus",
]
CLI = [sys.executable, "-c", "import sys; from audio_artifacts.cli import main; sys.exit(main())"]




def tone_bursts(seconds: float, sample_rate: int, seed: int = 0, channels: int = 1) -> np.ndarray:
    """Noise with a whine and ticks in the second half: window probabilities differ along the file."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    x = 0.02 * rng.standard_normal(t.size)
    late = t >= seconds / 2
    x[late] += 0.2 * np.sin(2 * np.pi * 3000 * t[late])
    x[late & (t % 0.5 < 0.004)] += 0.6
    return np.repeat(x[:, None], channels, axis=1) if channels > 1 else x


@pytest.fixture
def make_recording(tmp_path):
    """``make_recording(name, seconds, sample_rate, channels)`` -> path of a real audio file."""

    def make(name: str, seconds: float = 4.0, sample_rate: int = 16000, channels: int = 1, seed: int = 0):
        return write_audio(tmp_path / name, tone_bursts(seconds, sample_rate, seed, channels), sample_rate)

    return make


def scan(capsys, *args):
    """Run the CLI in this process; returns (exit code, stdout, stderr)."""
    code = main(["scan", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_jsonl_contract_for_each_field(tmp_path, capsys, tiny_model_dir, make_recording):
    files = [
        make_recording("stereo48k.wav", seconds=12.0, sample_rate=48000, channels=2),
        make_recording("mono16k.flac", seconds=9.3, sample_rate=16000),
        make_recording("short44k.wav", seconds=2.5, sample_rate=44100),
    ]
    out = tmp_path / "results.jsonl"
    code, stdout, _ = scan(capsys, tmp_path, "--model", tiny_model_dir, "--out", out)
    assert code == 0 and stdout == ""
    results = {r["path"]: r for r in rows(out)}
    assert sorted(results) == sorted(map(str, files))
    for path, (rate, channels, seconds) in zip(map(str, files), [(48000, 2, 12.0), (16000, 1, 9.3), (44100, 1, 2.5)]):
        r = results[path]
        assert list(r) == CONTRACT_KEYS
        assert r["status"] == "ok" and r["error"] is None
        assert (r["sample_rate"], r["channels"]) == (rate, channels)
        assert r["duration_s"] == pytest.approx(seconds, abs=1e-3)
        assert r["model"] == {"name": "tiny-test", "version": "0.0.1", "backend": "torch"}
        assert r["threshold"] == 0.5
        data = open(path, "rb").read()
        assert r["identity"] == {"size": len(data), "mtime_ns": os.stat(path).st_mtime_ns,
                                 "sha256": hashlib.sha256(data[: 1 << 20]).hexdigest(),
                                 "hashed_bytes": min(len(data), 1 << 20)}
        windows = r["windows"]
        # windows cover the file: from 0 to the end, no gaps, at most 5 s each
        assert windows[0]["start"] == 0.0
        assert windows[-1]["end"] == pytest.approx(seconds, abs=1e-3)
        assert all(b["start"] <= a["end"] for a, b in zip(windows, windows[1:]))
        assert all(0 < w["end"] - w["start"] <= 5.0 + 1e-9 for w in windows)
        probabilities = [w["probability"] for w in windows]
        assert all(0.0 <= p <= 1.0 for p in probabilities)
        assert r["probability"] == max(probabilities)
        assert r["verdict"] == ("artifact" if r["probability"] >= 0.5 else "no_artifact")
        ScanResult.from_dict(r)  # the schema's own validation
    assert len(results[str(files[0])]["windows"]) == 3  # 0, 3.75, and one aligned to the end (7)
    assert len(results[str(files[2])]["windows"]) == 1


def test_threshold_override_drives_verdict_trigger_and_events(tmp_path, capsys, tiny_model_dir, make_recording):
    make_recording("long.wav", seconds=30.0)
    first = tmp_path / "first.jsonl"
    assert scan(capsys, tmp_path / "long.wav", "--model", tiny_model_dir, "--out", first)[0] == 0
    probabilities = sorted({w["probability"] for w in rows(first)[0]["windows"]})
    assert len(probabilities) >= 3, "the tiny model should score different windows differently"
    threshold = probabilities[len(probabilities) // 2]

    out = tmp_path / "mid.jsonl"
    assert scan(capsys, tmp_path / "long.wav", "--model", tiny_model_dir, "--out", out,
                "--threshold", threshold)[0] == 0
    (r,) = rows(out)
    assert r["threshold"] == threshold and r["verdict"] == "artifact"
    flagged = [w for w in r["windows"] if w["probability"] >= threshold]
    assert r["triggered_at"] == flagged[0]["start"]
    # one event per run of flagged windows, with the run's probability, described in or just around it
    from audio_artifacts.results.schema import Span, merge_events

    runs = merge_events([Span.coerce(w) for w in r["windows"]], threshold)
    assert [e["probability"] for e in r["events"]] == [run.probability for run in runs]
    for e, run in zip(r["events"], runs):
        assert run.start - 1.5 - 1e-6 <= e["start"] <= e["end"] <= run.end + 1.5 + 1e-6

    everything = tmp_path / "all.jsonl"
    scan(capsys, tmp_path / "long.wav", "--model", tiny_model_dir, "--out", everything, "--threshold", 0)
    (r,) = rows(everything)
    assert r["verdict"] == "artifact" and r["triggered_at"] == 0.0
    (e,) = r["events"]  # every window flagged: one event, its times measured inside the recording
    assert e["probability"] == r["probability"] and 0.0 <= e["start"] <= e["end"] <= r["windows"][-1]["end"]
    nothing = tmp_path / "none.jsonl"
    scan(capsys, tmp_path / "long.wav", "--model", tiny_model_dir, "--out", nothing, "--threshold", 1)
    (r,) = rows(nothing)
    assert r["verdict"] == "no_artifact" and r["triggered_at"] is None and r["events"] == []


def test_csv_summary_to_file_and_stdout(tmp_path, capsys, tiny_model_dir, make_recording):
    make_recording("a.wav")
    make_recording("b.wav", seed=1)
    (tmp_path / "broken.wav").write_bytes(b"")
    jsonl, summary = tmp_path / "r.jsonl", tmp_path / "summary.csv"
    scan(capsys, tmp_path, "--model", tiny_model_dir, "--out", jsonl)
    code, _, _ = scan(capsys, tmp_path, "--model", tiny_model_dir, "--out", summary)
    assert code == 1
    with open(summary, newline="") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == list(CSV_COLUMNS)
    by_path = {r["path"]: r for r in rows(jsonl)}
    assert sorted(r["path"] for r in table) == sorted(by_path)
    for row in table:
        full = by_path[row["path"]]
        assert row["status"] == full["status"] and row["verdict"] == (full["verdict"] or "")
        assert int(row["n_events"]) == len(full["events"])
        if full["status"] == "ok":
            assert float(row["probability"]) == full["probability"]
            assert int(row["sample_rate"]) == full["sample_rate"]
        else:
            assert "empty file" in row["error"] and row["probability"] == ""

    code, stdout, _ = scan(capsys, tmp_path / "a.wav", "--model", tiny_model_dir, "--format", "csv")
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS) and lines[1].startswith(str(tmp_path / "a.wav") + ",ok,")


def test_terminal_table(tmp_path, capsys, tiny_model_dir, make_recording):
    make_recording("unit1_quiet.wav")
    (tmp_path / "unit2_broken.wav").write_text("not audio at all")
    code, stdout, stderr = scan(capsys, tmp_path, "--model", tiny_model_dir)
    assert code == 1
    lines = stdout.splitlines()
    assert lines[0].split()[:2] == ["file", "verdict"]
    ok_line = next(line for line in lines if "unit1_quiet.wav" in line)
    assert ok_line.split()[1] in ("artifact", "no_artifact")
    bad_line = next(line for line in lines if "unit2_broken.wav" in line)
    assert "ERROR" in bad_line and "not an audio file" in bad_line
    assert lines[-1] == lines[-1].strip() and "2 file(s):" in lines[-1] and "1 error" in lines[-1]
    assert "%|" not in stderr  # no progress bar when stderr is not a terminal


def test_exit_codes(tmp_path, capsys, tiny_model_dir, make_recording):
    good = make_recording("good.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    model = ("--model", tiny_model_dir)
    assert scan(capsys, good, *model)[0] == 0
    assert scan(capsys, good, bad, *model)[0] == 1
    assert scan(capsys, good, *model, "--threshold", 1, "--fail-on-artifact")[0] == 0
    assert scan(capsys, good, *model, "--threshold", 0, "--fail-on-artifact")[0] == 3
    assert scan(capsys, good, *model, "--threshold", 0)[0] == 0  # artifacts alone do not fail a scan
    assert scan(capsys, good, bad, *model, "--threshold", 0, "--fail-on-artifact")[0] == 3  # 3 over 1
    assert scan(capsys, good, bad, *model, "--threshold", 1, "--fail-on-artifact")[0] == 1

    empty = tmp_path / "empty_folder"
    empty.mkdir()
    code, _, err = scan(capsys, empty, *model)
    assert code == 2 and "no recordings found" in err
    assert scan(capsys, tmp_path / "*.nothing", *model)[0] == 2
    assert scan(capsys, good, *model, "--threshold", 1.5)[0] == 2
    assert scan(capsys, good, *model, "--resume")[0] == 2
    assert scan(capsys, good, *model, "--plots-all")[0] == 2
    assert scan(capsys, good, *model, "--batch-size", 0)[0] == 2
    code, _, err = scan(capsys, good, "--model", tmp_path / "no_model")
    assert code == 2 and "no_model" in err


def _write_nan_wav(path):
    samples = np.zeros(16000 * 3, dtype=np.float32)
    samples[24000] = np.nan
    sf.write(path, samples, 16000, subtype="FLOAT")


def test_every_bad_input_gets_an_error_row_and_the_scan_goes_on(tmp_path, capsys, tiny_model_dir, make_recording):
    folder = tmp_path / "in"
    folder.mkdir()
    good = make_recording("in/ok.wav")
    (folder / "zero.wav").write_bytes(b"")
    (folder / "text.wav").write_text("this is a text file, not a recording\n" * 20)
    whole = good.read_bytes()
    (folder / "header_cut.wav").write_bytes(whole[:30])
    (folder / "data_cut.wav").write_bytes(whole[: len(whole) // 2])  # header promises twice the data
    _write_nan_wav(folder / "nan.wav")
    (folder / "folder.wav").mkdir()
    missing = tmp_path / "missing.wav"
    out = tmp_path / "r.jsonl"
    code, _, _ = scan(capsys, folder, missing, "--model", tiny_model_dir, "--out", out)
    assert code == 1
    results = {os.path.basename(r["path"]): r for r in rows(out)}
    expected_reasons = {
        "zero.wav": "empty file",
        "text.wav": "not an audio file",
        "header_cut.wav": "header",
        "nan.wav": "non-finite sample",
        "folder.wav": "directory",
        "missing.wav": "does not exist",
        "data_cut.wav": "truncated file",
    }
    assert set(results) == set(expected_reasons) | {"ok.wav"}
    for name, reason in expected_reasons.items():
        r = results[name]
        assert r["status"] == "error" and r["verdict"] is None and r["windows"] == []
        assert name in r["error"] and reason in r["error"], r["error"]
    assert "1.500 s" in results["nan.wav"]["error"]  # the time of the bad sample
    assert results["ok.wav"]["status"] == "ok"


def test_folders_globs_and_recursion(tmp_path, capsys, tiny_model_dir, make_recording):
    make_recording("top.wav", seconds=1.0)
    make_recording("TOP2.WAV", seconds=1.0)
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "._top.wav").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")  # hidden: skipped
    (tmp_path / "sub").mkdir()
    make_recording("sub/deep.flac", seconds=1.0)
    (tmp_path / ".trash").mkdir()
    make_recording(".trash/old.wav", seconds=1.0)
    model = ("--model", tiny_model_dir)

    def names(*args):
        out = tmp_path.parent / f"{tmp_path.name}-{len(args)}-{time.monotonic_ns()}.jsonl"
        scan(capsys, *args, *model, "--out", out)
        return sorted(os.path.basename(r["path"]) for r in rows(out))

    assert names(tmp_path) == ["TOP2.WAV", "deep.flac", "top.wav"]
    assert names(tmp_path, "--no-recursive") == ["TOP2.WAV", "top.wav"]
    # extensions match in any case, as on Windows (where the docs' examples come from)
    assert names(tmp_path / "*.wav") == ["TOP2.WAV", "top.wav"]
    assert names(tmp_path / "**" / "*.flac") == ["deep.flac"]
    assert names(tmp_path / "top.wav", tmp_path) == ["TOP2.WAV", "deep.flac", "top.wav"]  # no duplicates


def test_kill_mid_run_then_resume_reports_every_file_exactly_once(tmp_path, capsys, tiny_model_dir, make_recording):
    # two short recordings first, then ten longer ones (links to one file): the kill
    # after the first rows lands well before the end, the resume scans the rest
    folder = tmp_path / "many"
    make_recording("many/rec_00.wav", seconds=2.0)
    make_recording("many/rec_01.wav", seconds=2.0, seed=1)
    source = make_recording("source.wav", seconds=30.0)
    for i in range(2, 12):
        os.symlink(source, folder / f"rec_{i:02d}.wav")
    out = tmp_path / "r.jsonl"
    command = [*CLI, "scan", str(folder), "--model", str(tiny_model_dir), "--out", str(out), "--batch-size", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if out.exists() and out.read_text().count("\n") >= 2:
                break
            time.sleep(0.01)
        assert process.poll() is None, "the scan finished before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    before = out.read_text()
    n_before = before.count("\n")
    assert 2 <= n_before < 12
    # a kill in the middle of writing leaves a torn row: resume must drop and redo it
    out.write_text(before + before.splitlines()[0][:50])

    code, _, err = scan(capsys, folder, "--model", tiny_model_dir, "--out", out, "--resume")
    assert code == 0, err
    assert f"{n_before} of 12" in err
    final = rows(out)  # every line parses
    paths = [r["path"] for r in final]
    assert sorted(paths) == sorted(str(folder / f"rec_{i:02d}.wav") for i in range(12))
    assert len(set(paths)) == 12
    assert out.read_text().startswith(before)  # rows written before the kill are kept as they were


def test_resume_with_csv_and_exit_code_counts_earlier_rows(tmp_path, capsys, tiny_model_dir, make_recording):
    make_recording("a.wav")
    make_recording("b.wav", seed=1)
    (tmp_path / "c.wav").write_bytes(b"")
    out = tmp_path / "summary.csv"
    model = ("--model", tiny_model_dir, "--out", out)
    assert scan(capsys, tmp_path / "a.wav", *model, "--threshold", 0)[0] == 0  # a: artifact
    code, _, err = scan(capsys, tmp_path, *model, "--resume", "--threshold", 1)
    assert "1 of 3" in err and "used threshold(s) 0.0; this run uses 1.0" in err
    assert code == 1  # c failed
    with open(out, newline="") as handle:
        table = {r["path"]: r for r in csv.DictReader(handle)}
    assert sorted(table) == sorted(str(tmp_path / n) for n in ("a.wav", "b.wav", "c.wav"))
    assert [table[str(tmp_path / n)]["verdict"] for n in ("a.wav", "b.wav", "c.wav")] == ["artifact", "no_artifact", ""]
    # nothing left to scan: the code comes from the rows already there (3 over 1)
    code, _, err = scan(capsys, tmp_path, *model, "--resume", "--threshold", 1, "--fail-on-artifact")
    assert code == 3 and "3 of 3" in err
    assert out.read_text().count("\n") == 4


def test_plots_for_flagged_or_all(tmp_path, capsys, tiny_model_dir, make_recording):
    make_recording("in/one.wav")
    make_recording("in/two.wav", seed=3)
    (tmp_path / "in" / "bad.wav").write_bytes(b"")
    model = ("--model", tiny_model_dir, "--out", tmp_path / "r.jsonl")
    scan(capsys, tmp_path / "in", *model, "--plots", tmp_path / "none", "--threshold", 1)
    assert not (tmp_path / "none").exists() or not list((tmp_path / "none").iterdir())
    scan(capsys, tmp_path / "in", *model, "--plots", tmp_path / "all", "--threshold", 1, "--plots-all")
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["one.png", "two.png"]
    scan(capsys, tmp_path / "in", *model, "--plots", tmp_path / "flagged", "--threshold", 0)
    pictures = sorted((tmp_path / "flagged").iterdir())
    assert [p.name for p in pictures] == ["one.png", "two.png"]
    for picture in pictures:
        data = picture.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
        assert f"{picture.stem}.wav — artifact (p = ".encode() in data  # the Title text chunk


def test_bundled_default_model(tmp_path, capsys, make_recording):
    from audio_artifacts.models.model_dir import INFO_FILE, default_model_dir, read_model_info

    if not (default_model_dir() / INFO_FILE).is_file():
        pytest.skip(f"the bundled default model is not in this build yet ({default_model_dir()} has no {INFO_FILE})")
    make_recording("a.wav")
    out = tmp_path / "r.jsonl"
    assert scan(capsys, tmp_path / "a.wav", "--out", out)[0] == 0
    (r,) = rows(out)
    info = read_model_info(default_model_dir())
    assert r["model"] == {"name": info.name, "version": info.version, "backend": "torch"} and r["threshold"] == info.threshold


def test_resume_refuses_to_append_to_a_file_of_another_kind(tmp_path, capsys, tiny_model_dir, make_recording):
    good = make_recording("a.wav")
    notes = tmp_path / "notes.csv"
    notes.write_text("these are my notes\nplease keep them\n")
    code, _, err = scan(capsys, good, "--model", tiny_model_dir, "--out", notes, "--resume")
    assert code == 2 and "holds no csv scan results" in err
    assert notes.read_text() == "these are my notes\nplease keep them\n"


def test_progress_bar_on_a_terminal_only(tmp_path, tiny_model_dir, make_recording):
    pty = pytest.importorskip("pty")
    import fcntl
    import struct
    import termios

    make_recording("a.wav", seconds=2.0)
    make_recording("b.wav", seconds=2.0, seed=1)
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    process = subprocess.Popen([*CLI, "scan", str(tmp_path), "--model", str(tiny_model_dir)],
                               stdout=subprocess.PIPE, stderr=terminal)
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closes when the scan exits
            break
        if not chunk:
            break
        drawn += chunk
    stdout = process.stdout.read().decode()
    process.wait(timeout=60)
    os.close(controller)
    assert process.returncode == 0
    assert b"scanning:" in drawn and b"/2 [" in drawn
    # the table on stdout (a pipe here) is untouched by the bar
    assert "\r" not in stdout and stdout.splitlines()[-1] == "2 file(s): " + stdout.splitlines()[-1].split(": ", 1)[1]


def test_no_describe_keeps_verdicts_and_window_times_and_skips_the_measurement(tmp_path, capsys, tiny_model_dir):
    from audio_artifacts.audio import write_audio

    rate = 16000
    t = np.arange(8 * rate) / rate
    write_audio(tmp_path / "tone.wav", 0.1 * np.sin(2 * np.pi * 1000 * t), rate, "PCM_16")
    described, plain = tmp_path / "described.jsonl", tmp_path / "plain.jsonl"
    assert scan(capsys, tmp_path / "tone.wav", "--model", tiny_model_dir, "--out", described, "--threshold", 0)[0] == 0
    assert scan(capsys, tmp_path / "tone.wav", "--model", tiny_model_dir, "--out", plain, "--threshold", 0,
                "--no-describe")[0] == 0
    (a,), (b,) = rows(described), rows(plain)
    assert a["verdict"] == b["verdict"] == "artifact" and a["windows"] == b["windows"]
    assert any(abs(f - 1000) < 16 for f in a["events"][0]["frequencies_hz"])  # measured when describing
    assert b["events"][0]["frequencies_hz"] == [] and b["events"][0]["level_db"] is None
    assert (b["events"][0]["start"], b["events"][0]["end"]) == (0.0, b["windows"][-1]["end"])
