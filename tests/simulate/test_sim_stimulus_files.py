"""The simulator writes what each recording's test system played: deterministic, not aligned, findable."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from audio_artifacts.audio import AudioConfig, load_audio
from audio_artifacts.data.manifest import read_manifest
from audio_artifacts.inference.stimulus import find_offset
from audio_artifacts.simulate.dataset import write_dataset
from audio_artifacts.simulate.recording import SimulatorConfig

# Broadband kinds: their alignment is unique (a steady tone's is only up to its period).
CONFIG = SimulatorConfig(stimuli=("quiet", "speech_like", "pink", "music_like"), stimulus_weights=(1, 1, 1, 1),
                         duration_s=(2.0, 3.0), short_fraction=0.0, conditions={})


def test_stimulus_files_are_deterministic_and_their_offsets_are_what_the_manifest_says(
        tmp_path: Path, dataset_digest) -> None:
    for name in ("a", "b"):
        write_dataset(tmp_path / name, 10, seed=5, config=CONFIG)
    assert dataset_digest(tmp_path / "a") == dataset_digest(tmp_path / "b")
    entries = read_manifest(tmp_path / "a" / "manifest.csv")
    played = [e for e in entries if e.columns["stimulus_path"]]
    quiet = [e for e in entries if e.columns["stimulus"] == "quiet"]
    assert played and quiet and all(not e.columns["stimulus_path"] for e in quiet)
    assert {p.name for p in (tmp_path / "a" / "stimuli" / "all").iterdir()} == \
        {Path(e.columns["stimulus_path"]).name for e in played}
    config = AudioConfig(sample_rate=32000)
    for entry in played:
        stimulus_path = tmp_path / "a" / entry.columns["stimulus_path"]
        info = sf.info(str(stimulus_path))
        assert info.channels == 1 and info.samplerate in (44100, 48000, 96000)
        lag, _ = find_offset(load_audio(entry.path, config), load_audio(stimulus_path, config), 32000)
        assert abs(lag / 32000 - float(entry.columns["stimulus_offset_s"])) < 1.5e-3, entry.path
