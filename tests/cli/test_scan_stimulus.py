"""``scan --stimulus`` / ``--stimulus-map`` end to end: real files, the real CLI in a subprocess."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soxr

from audio_artifacts.audio import write_audio
from audio_artifacts.results.schema import CSV_COLUMNS, IDENTITY_CSV_COLUMNS

CLI = [sys.executable, "-c", "import sys; from audio_artifacts.cli import main; sys.exit(main())"]


def _scan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "scan", *args], capture_output=True, text=True, timeout=300)


def _pair(folder: Path, name: str, seed: int, offset_s: float) -> tuple[Path, Path]:
    """A recording (a filtered, noisy copy of a noise-burst signal) and its stimulus (48 kHz, ``offset_s`` lead)."""
    rng = np.random.default_rng(seed)
    rate = 16000
    signal = rng.standard_normal(6 * rate) * np.repeat(rng.random(48) > 0.3, rate // 8)
    recording = np.convolve(signal, [0.6, 0.3, -0.2], mode="same") * 0.05 + rng.standard_normal(signal.size) * 1e-4
    write_audio(folder / f"{name}.wav", recording, rate, "PCM_16")
    played = soxr.resample(np.concatenate([np.zeros(int(offset_s * rate)), signal * 0.1]), rate, 48000)
    write_audio(folder / "stimuli" / f"{name}.flac", played, 48000, "PCM_24")
    return folder / f"{name}.wav", folder / "stimuli" / f"{name}.flac"


def test_stimulus_map_problems_are_listed_at_once_before_scanning(tmp_path: Path, tiny_model_dir) -> None:
    a, _ = _pair(tmp_path, "a", 1, 0.05)
    (tmp_path / "stimuli" / "broken.wav").write_bytes(b"RIFF not audio at all")
    table = tmp_path / "map.csv"
    table.write_text("recording;stimulus\na.wav;stimuli/missing.flac\nnot_scanned.wav;stimuli/a.flac\n"
                     "a.wav;stimuli/broken.wav\njust one column\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    done = _scan(str(a), "--model", str(tiny_model_dir), "--stimulus-map", str(table), "--out", str(out))
    assert done.returncode == 2, done.stderr
    assert "4 problem(s)" in done.stderr
    for needle in ("line 2: stimulus", "missing.flac", "line 3: recording not_scanned.wav",
                   "line 4: stimulus", "broken.wav", "line 5: expected"):
        assert needle in done.stderr, (needle, done.stderr)
    assert not out.exists()  # nothing was scanned
    bad = _scan(str(a), "--model", str(tiny_model_dir), "--stimulus", str(tmp_path / "nope.wav"))
    assert bad.returncode == 2 and "--stimulus" in bad.stderr and "nope.wav" in bad.stderr


def test_stimulus_map_rows_say_what_was_played_and_where(tmp_path: Path, tiny_model_dir) -> None:
    a, _ = _pair(tmp_path, "a", 1, 0.05)
    b, _ = _pair(tmp_path, "b", 2, 0.12)
    c, _ = _pair(tmp_path, "c", 3, 0.0)  # not in the map: judged on the recording alone, with a warning
    table = tmp_path / "map.csv"
    table.write_text("a.wav;stimuli/a.flac\nb.wav;stimuli/b.flac\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    done = _scan(str(a), str(b), str(c), "--model", str(tiny_model_dir), "--stimulus-map", str(table),
                 "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "names no stimulus for 1 recording" in done.stderr
    rows = {Path(r["path"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["c.wav"]["stimulus"] is None
    for name, offset in (("a.wav", 0.05), ("b.wav", 0.12)):
        ref = rows[name]["stimulus"]
        assert ref["file"] == f"stimuli/{Path(name).stem}.flac"
        assert abs(ref["offset_s"] - offset) < 1e-3, ref
        assert ref["explained"] > 0.9 and ref["warning"] is None
    # The same through --stimulus and the CSV summary: new columns at the end, old ones unchanged.
    summary = tmp_path / "out.csv"
    done = _scan(str(a), "--model", str(tiny_model_dir), "--stimulus", str(tmp_path / "stimuli" / "a.flac"),
                 "--out", str(summary))
    assert done.returncode == 0, done.stderr
    table_rows = list(csv.DictReader(summary.open(encoding="utf-8")))
    assert list(table_rows[0]) == list(CSV_COLUMNS) and CSV_COLUMNS[: len(IDENTITY_CSV_COLUMNS)] == IDENTITY_CSV_COLUMNS
    assert table_rows[0]["stimulus"].endswith("a.flac") and abs(float(table_rows[0]["stimulus_offset_s"]) - 0.05) < 1e-3


def test_resume_keeps_a_summary_written_before_the_stimulus_columns(tmp_path: Path, tiny_model_dir) -> None:
    a, _ = _pair(tmp_path, "a", 1, 0.05)
    b, _ = _pair(tmp_path, "b", 2, 0.05)
    summary = tmp_path / "out.csv"
    assert _scan(str(a), "--model", str(tiny_model_dir), "--out", str(summary)).returncode == 0
    # the same rows as an older version wrote them: only the columns up to the file identity
    with summary.open(encoding="utf-8", newline="") as handle:
        kept = [{k: row[k] for k in IDENTITY_CSV_COLUMNS} for row in csv.DictReader(handle)]
    with summary.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=IDENTITY_CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
    done = _scan(str(a), str(b), "--model", str(tiny_model_dir), "--out", str(summary), "--resume")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(summary.open(encoding="utf-8")))
    assert [Path(r["path"]).name for r in rows] == ["a.wav", "b.wav"]
    assert list(rows[0]) == list(CSV_COLUMNS)


def test_ray_engine_judges_against_the_same_stimuli_as_the_local_engine(tmp_path: Path, tiny_model_dir) -> None:
    a, _ = _pair(tmp_path, "a", 4, 0.03)
    b, _ = _pair(tmp_path, "b", 5, 0.0)
    table = tmp_path / "map.csv"
    table.write_text("a.wav;stimuli/a.flac\n", encoding="utf-8")  # b: no stimulus, judged as it is
    rows = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.jsonl"
        done = _scan(str(a), str(b), "--model", str(tiny_model_dir), "--stimulus-map", str(table),
                     "--engine", engine, "--out", str(out), "--plots", str(tmp_path / f"{engine}-plots"),
                     "--plots-all", "--threshold", "0")
        assert done.returncode == 0, done.stderr
        rows[engine] = {Path(r["path"]).name: r for r in map(json.loads, out.read_text().splitlines())}
        assert sorted(p.name for p in (tmp_path / f"{engine}-plots").iterdir()) == ["a.png", "b.png"]
    assert rows["ray"]["b.wav"]["stimulus"] is None and rows["ray"]["a.wav"]["stimulus"] is not None
    for name in ("a.wav", "b.wav"):
        local, ray = rows["local"][name], rows["ray"][name]
        assert local["stimulus"] == ray["stimulus"]
        assert max(abs(x["probability"] - y["probability"]) for x, y in zip(local["windows"], ray["windows"])) < 1e-6
