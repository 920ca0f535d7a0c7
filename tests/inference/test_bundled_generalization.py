"""The bundled model on what it was not designed on: real speech and music, short recordings.

A small fixed set, simulated through held-out (foreign) device families with
the committed fixture bank's real clips (recorded speech, a synthetic voice of
an engine not used in training, music through a soundfont not used in
training) and quiet input, 0.5-20 s long. Clean ones must not be flagged,
artifacts under them must be found; the bounds leave a margin so that the
test judges the model, not one unlucky draw.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audio_artifacts.audio import write_audio
from audio_artifacts.inference.detector import Detector
from audio_artifacts.simulate.recording import SimulatorConfig, simulate_recording

FIXTURE_BANK = Path(__file__).resolve().parents[1] / "fixtures" / "bank"
N_EACH = 16
SEED = 7


def _write_set(root: Path, artifact_fraction: float, short_fraction: float, seed: int) -> list[tuple[Path, dict]]:
    config = SimulatorConfig(
        duration_s=(6.0, 20.0), short_fraction=short_fraction, artifact_fraction=artifact_fraction,
        bank_dir=str(FIXTURE_BANK), stimuli=("quiet", "speech", "speech_synth", "music"),
        stimulus_weights=(0.2, 0.3, 0.2, 0.3),
    )
    out = []
    index = 0
    while len(out) < N_EACH:
        recording = simulate_recording(config, seed, "foreign", index, n_devices=8)
        index += 1
        if artifact_fraction and (not recording.events or max(e.level_db for e in recording.events) < 6.0):
            continue  # artifacts >= 6 dB over the floor: what the model must find
        path = root / f"{recording.recording_id}_{recording.stimulus}.wav"
        write_audio(path, recording.samples[:, 0], recording.sample_rate, subtype="FLOAT")
        out.append((path, {"stimulus": recording.stimulus, "label": recording.label,
                           "duration_s": recording.samples.shape[0] / recording.sample_rate}))
    return out


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(backend="torch")


@pytest.fixture(scope="module")
def clean_set(tmp_path_factory) -> list[tuple[Path, dict]]:
    return _write_set(tmp_path_factory.mktemp("clean"), 0.0, 0.4, SEED)


@pytest.fixture(scope="module")
def artifact_set(tmp_path_factory) -> list[tuple[Path, dict]]:
    return _write_set(tmp_path_factory.mktemp("artifacts"), 1.0, 0.3, SEED + 1)


def test_the_fixed_sets_hold_what_they_claim(clean_set, artifact_set):
    stimuli = {meta["stimulus"] for _, meta in clean_set}
    assert {"speech", "music"} <= stimuli
    assert any(meta["duration_s"] < 5.0 for _, meta in clean_set)
    assert all(meta["label"] == 0 for _, meta in clean_set)
    assert all(meta["label"] == 1 for _, meta in artifact_set)


def test_clean_speech_music_and_short_recordings_are_not_flagged(detector, clean_set):
    results = list(detector.scan_many([path for path, _ in clean_set]))
    assert all(r.status == "ok" for r in results)
    flagged = [(path.name, round(r.probability, 3)) for (path, _), r in zip(clean_set, results)
               if r.verdict == "artifact"]
    assert len(flagged) <= 1, f"clean recordings flagged: {flagged}"
    # and with margin: the clean recordings' median probability sits well under the threshold
    assert float(np.median([r.probability for r in results])) < 0.5 * detector.threshold


def test_artifacts_under_speech_music_and_in_short_recordings_are_found(detector, artifact_set):
    results = list(detector.scan_many([path for path, _ in artifact_set]))
    missed = [(path.name, round(r.probability, 3)) for (path, _), r in zip(artifact_set, results)
              if r.verdict != "artifact"]
    # the bundled model's measured recall on the foreign split is about 0.87 (docs/models.md);
    # 12 of 16 leaves room for a draw, and a model that flags everything fails the clean test
    assert len(missed) <= 4, f"artifacts missed: {missed}"
