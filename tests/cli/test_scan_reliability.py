"""`scan` under faults: 20 SIGKILLs with resume, a full disk, unwritable outputs, replaced
recordings, and the test-line contract (summary and exit code of the whole output,
case-insensitive globs, the Excel CSV dialect). Real processes, real files."""

from __future__ import annotations

import csv
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from audio_artifacts.audio import write_audio
from audio_artifacts.cli import main

CLI = [sys.executable, "-c", "import sys; from audio_artifacts.cli import main; sys.exit(main())"]
KILLS = 20


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    """The cheapest real model directory (untrained fast model, 16 kHz; tests/cli/conftest.py)."""
    return tiny_model_dir


def noise(seconds: float, seed: int, rate: int = 16000, tone_hz: float | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (0.01 + 0.02 * (seed % 5)) * rng.standard_normal(int(seconds * rate))
    if tone_hz is not None:
        x += 0.3 * np.sin(2 * np.pi * tone_hz * np.arange(x.size) / rate)
    return x.astype(np.float32)


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def scan(capsys, *args) -> tuple[int, str]:
    code = main(["scan", *map(str, args)])
    return code, capsys.readouterr().err


# ----------------------------------------------------------------------------- kill and resume


def test_twenty_sigkills_with_resume_end_equal_to_one_uninterrupted_run(tmp_path, capsys, model_dir,
                                                                        same_rows) -> None:
    folder = tmp_path / "line"
    for i in range(40):
        write_audio(folder / f"unit{i:03d}.wav", noise(12.0, seed=i), 16000)
    (folder / "unit_broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")  # an error row among them
    reference = tmp_path / "reference.jsonl"
    args = [folder, "--model", model_dir, "--batch-size", "1", "--workers", "1"]
    ref_code, _ = scan(capsys, *args, "--out", reference)
    out = tmp_path / "killed.jsonl"
    command = [*CLI, "scan", *map(str, args), "--out", str(out), "--resume"]
    rng = random.Random(20261202)
    kills, runs = 0, 0
    deadline = time.monotonic() + 480  # a hang guard, not a timing check: a loaded machine is slow
    while kills < KILLS and time.monotonic() < deadline:
        before = out.read_text().count("\n") if out.exists() else 0
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        runs += 1
        # a random moment once this run has made progress: anywhere in reading, scanning or writing
        while process.poll() is None and (out.read_text().count("\n") if out.exists() else 0) <= before:
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                pytest.fail("a resumed scan made no progress")
            time.sleep(0.001)
        time.sleep(rng.uniform(0, 0.02))
        if process.poll() is not None:
            break  # finished before the kill: every file is done
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        text = out.read_text()
        complete = text[: text.rfind("\n") + 1]
        rows = [json.loads(line) for line in complete.splitlines()]  # every complete row parses
        assert len({r["path"] for r in rows}) == len(rows), "a file was reported twice"
    assert kills == KILLS, f"only {kills} kills before the scan finished ({runs} runs)"
    code, _ = scan(capsys, *args, "--out", out, "--resume")
    assert code == ref_code == 1  # the broken file: its error row counts, before and after the kills
    assert out.read_text().endswith("\n")  # no torn row left
    assert same_rows(jsonl(out), jsonl(reference))
    print(f"kill-and-resume: {kills} SIGKILLs survived over {len(jsonl(out))} files")


# ----------------------------------------------------------------------------- full disk, unwritable


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_full_disk_gives_exit_4_keeps_whole_rows_and_resume_completes(tmp_path, capsys, model_dir) -> None:
    folder = tmp_path / "line"
    for i in range(8):
        write_audio(folder / f"unit{i}.wav", noise(3.0, seed=i), 16000)
    out = tmp_path / "out" / "rows.jsonl"
    out.parent.mkdir()
    command = [*CLI, "scan", str(folder), "--model", str(model_dir), "--out", str(out)]
    # a file system that fills up after about three rows
    full = subprocess.run(command, capture_output=True, text=True, timeout=120, preexec_fn=_limit_file_size(2500))
    assert full.returncode == 4, full.stderr
    assert f"cannot write results to {out}: file too large" in full.stderr
    assert "--resume" in full.stderr
    text = out.read_text()
    assert text.endswith("\n")  # the row that did not fit was cut back: no torn row
    written = [json.loads(line) for line in text.splitlines()]
    assert 1 <= len(written) < 8 and f"{len(written)} row(s) written in this run are intact" in full.stderr
    with capsys.disabled():
        print(f"full disk: exit 4 after {len(written)} of 8 rows ({len(text)} bytes, limit 2500)")
    code, err = scan(capsys, folder, "--model", model_dir, "--out", out, "--resume")  # space is back
    assert code == 0, err
    final = jsonl(out)
    assert final[: len(written)] == written
    assert sorted(r["path"] for r in final) == sorted(str(p) for p in folder.iterdir())
    # a device that is always full (ENOSPC): the same clear error and code
    code, err = scan(capsys, folder, "--model", model_dir, "--out", "/dev/full")
    assert code == 4 and "cannot write results to /dev/full: no space left on the device" in err


def test_unwritable_output_is_exit_4_naming_the_file(tmp_path, capsys, model_dir) -> None:
    recording = write_audio(tmp_path / "a.wav", noise(3.0, seed=1), 16000)
    (tmp_path / "plain_file").write_text("not a folder")
    code, err = scan(capsys, recording, "--model", model_dir, "--out", tmp_path / "plain_file" / "rows.jsonl")
    assert code == 4 and f"cannot write results to {tmp_path / 'plain_file' / 'rows.jsonl'}" in err
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        code, err = scan(capsys, recording, "--model", model_dir, "--out", locked / "rows.jsonl")
        assert code == 4 and "permission denied" in err


# ----------------------------------------------------------------------------- identity (item 10)


def test_resume_rescans_a_replaced_recording_and_says_so(tmp_path, capsys, model_dir) -> None:
    from audio_artifacts.inference.detector import Detector

    unit = tmp_path / "retest" / "unit42.wav"
    old, new = noise(6.0, seed=3), noise(6.0, seed=3, tone_hz=3000.0)
    write_audio(unit, old, 16000)
    detector = Detector(model_dir, backend="torch")
    p_old = detector.scan_file(unit).probability
    write_audio(tmp_path / "probe.wav", new, 16000)
    p_new = detector.scan_file(tmp_path / "probe.wav").probability
    assert abs(p_new - p_old) > 1e-4
    threshold = (p_old + p_new) / 2
    out = tmp_path / "retest.jsonl"
    options = ("--model", model_dir, "--out", out, "--fail-on-artifact", "--threshold", threshold)
    code_old, _ = scan(capsys, unit, *options)
    assert code_old == (3 if p_old > p_new else 0)
    stat = unit.stat()
    write_audio(unit, new, 16000)  # same path, same length, now with a tone ...
    os.utime(unit, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... and even the old time (cp -p)
    assert unit.stat().st_size == stat.st_size
    code, err = scan(capsys, unit, *options, "--resume")
    assert f"rescanning {unit}: it changed since its row was written" in err
    assert "already in" not in err
    assert code == (3 if p_new > p_old else 0) != code_old
    (row,) = jsonl(out)  # the stale row is gone, the new one is the only one
    assert row["probability"] == pytest.approx(p_new, rel=1e-6)
    assert "1 file(s):" in err
    # unchanged now: skipped
    code, err = scan(capsys, unit, *options, "--resume")
    assert "1 of 1 recording(s) already in" in err and len(jsonl(out)) == 1
    # rows of an older version (no identity) are not trusted either
    out.write_text(json.dumps({**row, "identity": None}) + "\n")
    code, err = scan(capsys, unit, *options, "--resume")
    assert "no file identity" in err and len(jsonl(out)) == 1 and jsonl(out)[0]["identity"] is not None


# ----------------------------------------------------------------------------- test-line contract (item 11)


def test_summary_and_exit_code_describe_the_whole_output_after_resume(tmp_path, capsys, model_dir) -> None:
    write_audio(tmp_path / "a.wav", noise(3.0, seed=1), 16000)
    write_audio(tmp_path / "b.wav", noise(3.0, seed=2), 16000)
    out = tmp_path / "summary.csv"
    assert scan(capsys, tmp_path / "a.wav", "--model", model_dir, "--out", out, "--threshold", 0)[0] == 0
    code, err = scan(capsys, tmp_path, "--model", model_dir, "--out", out, "--resume", "--threshold", 1,
                     "--fail-on-artifact")
    assert code == 3  # a's artifact row counts ...
    assert "2 file(s): 1 artifact, 1 no_artifact, 0 error (1 scanned now, 1 already there)" in err  # ... and is counted


def test_globs_match_extensions_in_any_case_with_non_ascii_names(tmp_path, capsys, model_dir) -> None:
    line = tmp_path / "line"
    write_audio(line / "station 3" / "Ton rechts ü.WAV", noise(3.0, seed=1), 16000)
    write_audio(line / "Ton links.wav", noise(3.0, seed=2), 16000)
    out = tmp_path / "rows.jsonl"
    code, err = scan(capsys, f"{line}/**/*.wav", "--model", model_dir, "--out", out)
    assert code == 0, err
    assert sorted(Path(r["path"]).name for r in jsonl(out)) == ["Ton links.wav", "Ton rechts ü.WAV"]


def test_excel_csv_dialect_opens_in_a_german_excel_and_resumes(tmp_path, capsys, model_dir) -> None:
    write_audio(tmp_path / "in" / "Prüfling 1.wav", noise(7.0, seed=1), 16000)
    write_audio(tmp_path / "in" / "Prüfling 2.wav", noise(7.0, seed=2), 16000)
    out = tmp_path / "summary.csv"
    code, err = scan(capsys, tmp_path / "in" / "Prüfling 1.wav", "--model", model_dir, "--out", out,
                     "--csv-dialect", "excel")
    assert code == 0, err
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\xef\xbb\xbf") == 1
    code, err = scan(capsys, tmp_path / "in", "--model", model_dir, "--out", out, "--resume")
    assert code == 2 and "--csv-dialect excel" in err  # resuming in another dialect is refused
    code, err = scan(capsys, tmp_path / "in", "--model", model_dir, "--out", out, "--resume", "--csv-dialect", "excel")
    assert code == 0 and "1 of 2" in err
    raw = out.read_bytes()
    assert raw.count(b"\xef\xbb\xbf") == 1  # one BOM, one header
    with open(out, encoding="utf-8-sig", newline="") as handle:
        table = list(csv.DictReader(handle, delimiter=";"))
    assert [Path(r["path"]).name for r in table] == ["Prüfling 1.wav", "Prüfling 2.wav"]
    for r in table:
        assert "." not in r["probability"] and "," in r["probability"]  # decimal commas
        assert float(r["duration_s"].replace(",", ".")) == pytest.approx(7.0)
        assert int(r["file_size"]) == Path(r["path"]).stat().st_size


# ----------------------------------------------------------------------------- fuzzed files through scan


def test_a_folder_of_damaged_and_lying_files_gives_one_row_each(tmp_path, capsys, model_dir) -> None:
    import struct

    folder = tmp_path / "fuzzed"
    good = write_audio(tmp_path / "good.wav", noise(6.0, seed=9), 16000).read_bytes()
    good_flac = write_audio(tmp_path / "good.flac", noise(6.0, seed=8), 16000).read_bytes()
    rng = random.Random(7)
    folder.mkdir()
    for i in range(30):
        data = bytearray(rng.choice([good, good_flac]))
        if i % 3 == 0:
            for _ in range(rng.randint(1, 40)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif i % 3 == 1:
            data = data[: rng.randrange(len(data))]
        else:
            offset = rng.randrange(0, 44)
            data[offset:offset + 4] = rng.choice([0, 1, 0xFFFFFFFF, 0x7FFFFFFF]).to_bytes(4, "little")
        (folder / f"fuzz{i:02d}.wav").write_bytes(bytes(data))
    # headers that lie outright: 65535 channels, rate 0 / 1 / 1e9, a data chunk past the end
    for name, (channels, rate, size) in {"ch65535": (65535, 48000, 8000), "rate0": (1, 0, 8000),
                                         "rate1": (1, 1, 8000), "rate1e9": (1, 10**9, 8000),
                                         "past_eof": (1, 16000, 2**31)}.items():
        fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 & 0xFFFFFFFF, channels * 2 & 0xFFFF, 16)
        body = b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", size) + bytes(8000)
        (folder / f"{name}.wav").write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    out = tmp_path / "rows.jsonl"
    started = time.monotonic()
    code, err = scan(capsys, folder, "--model", model_dir, "--out", out)
    assert time.monotonic() - started < 60
    assert code in (0, 1), err
    rows = jsonl(out)
    assert sorted(r["path"] for r in rows) == sorted(str(p) for p in folder.iterdir())
    for row in rows:
        assert row["status"] in ("ok", "error")
        if row["status"] == "error":
            assert row["error"].startswith(row["path"] + ": ") and len(row["error"]) > len(row["path"]) + 10
            assert "unexpected error" not in row["error"], row["error"]
    by_name = {Path(r["path"]).stem: r for r in rows}
    assert "implausible sample rate 1 Hz" in by_name["rate1"]["error"]
    assert "truncated file" in by_name["past_eof"]["error"]


def test_resume_of_a_summary_from_an_older_version_upgrades_it(tmp_path, capsys, model_dir) -> None:
    from audio_artifacts.results.schema import CSV_COLUMNS, LEGACY_CSV_COLUMNS

    a = write_audio(tmp_path / "in" / "a.wav", noise(3.0, seed=1), 16000)
    write_audio(tmp_path / "in" / "b.wav", noise(3.0, seed=2), 16000)
    other = "elsewhere/old.wav,ok,,3.0,16000,1,0.1,no_artifact,0.5,,0,tiny-test,0.0.1\n"
    out = tmp_path / "old.csv"
    out.write_text(",".join(LEGACY_CSV_COLUMNS) + "\n" + other
                   + f"{a},ok,,3.0,16000,1,0.1,no_artifact,0.5,,0,tiny-test,0.0.1\n")
    code, err = scan(capsys, tmp_path / "in", "--model", model_dir, "--out", out, "--resume")
    assert code == 0, err
    assert f"rescanning {a}: its row has no file identity" in err
    with open(out, newline="") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == list(CSV_COLUMNS)
    assert [r["path"] for r in table] == ["elsewhere/old.wav", str(a), str(tmp_path / "in" / "b.wav")]
    assert table[0]["file_sha256"] == "" and table[1]["file_sha256"] and table[2]["file_sha256"]
    assert "3 file(s)" in err


def test_a_named_pipe_gets_an_error_row_and_does_not_hang(tmp_path, capsys, model_dir) -> None:
    pipe = tmp_path / "station.wav"
    os.mkfifo(pipe)
    out = tmp_path / "rows.jsonl"
    # in a process of its own: opening a pipe without a writer would block for ever
    done = subprocess.run([*CLI, "scan", str(pipe), "--model", str(model_dir), "--out", str(out)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    (row,) = jsonl(out)
    assert row["identity"] is None and "not a regular file" in row["error"]
