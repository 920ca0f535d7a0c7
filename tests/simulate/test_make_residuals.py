"""scripts/make_residuals.py: the residuals `scan --stimulus` judges, written as training data with their labels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from audio_artifacts.audio import AudioConfig
from audio_artifacts.data.manifest import read_manifest
from audio_artifacts.inference.stimulus import residual_of_files
from audio_artifacts.simulate.dataset import write_dataset
from audio_artifacts.simulate.recording import SimulatorConfig

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_residuals.py"
CONFIG = SimulatorConfig(stimuli=("quiet", "speech_like", "pink", "music_like"), stimulus_weights=(1, 1, 1, 1),
                         duration_s=(2.0, 3.0), short_fraction=0.0, conditions={})


def _run(manifest: Path, out: Path) -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), str(manifest), str(out), "--workers", "2"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_residuals_are_the_scanners_with_the_recordings_labels(tmp_path: Path) -> None:
    write_dataset(tmp_path / "sim", 8, seed=3, config=CONFIG)
    manifest = tmp_path / "sim" / "manifest.csv"
    played = {e.path.name: e for e in read_manifest(manifest) if e.columns["stimulus_path"]}
    assert played
    out = tmp_path / "residuals"
    printed = _run(manifest, out)
    rows = read_manifest(out / "manifest.csv")
    assert f"{len(rows)} residuals of 8 recordings" in printed
    assert rows and {r.columns["residual_of"] for r in rows} <= set(played)
    left_out = len(played) - len(rows)
    assert f"({left_out} left out" in printed
    for row in rows:
        source = played[row.columns["residual_of"]]
        assert row.label == source.label and row.events == source.events
        assert row.columns["stimulus"] == source.columns["stimulus"] and not row.columns["stimulus_path"]
        expected, _ = residual_of_files(source.path, tmp_path / "sim" / source.columns["stimulus_path"],
                                        AudioConfig(sample_rate=32000))
        samples, rate = sf.read(str(row.path), dtype="float32")
        assert rate == 32000
        np.testing.assert_array_equal(samples, expected)

    # A second run keeps what is on disk and writes the same manifest.
    stamps = {r.path: r.path.stat().st_mtime_ns for r in rows}
    before = (out / "manifest.csv").read_text()
    _run(manifest, out)
    assert {r.path: r.path.stat().st_mtime_ns for r in rows} == stamps
    assert (out / "manifest.csv").read_text() == before
