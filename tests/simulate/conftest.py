"""Fixtures of the simulator tests: a clean recording of one simulated device."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_artifacts.simulate.device import P_REF, draw_device, render_device

SAMPLE_RATE = 16000


def clean_quiet(seed: int, seconds: float = 4.0, sample_rate: int = SAMPLE_RATE,
                family: str = "ric_fast") -> np.ndarray:
    """Internal noise of a freshly drawn ``family`` device, digital scale (full scale 120 dB SPL), analyzer noise."""
    rng = np.random.default_rng(seed)
    device = draw_device(rng, f"test-{seed}", family)
    n = int(seconds * sample_rate)
    out = render_device(device, None, n, sample_rate, rng) / (P_REF * 10 ** (120 / 20))
    return out + rng.standard_normal(n) * 10 ** (-105 / 20)


@pytest.fixture(scope="session", name="clean_quiet")
def clean_quiet_factory():
    """The ``clean_quiet(seed, seconds=4.0, sample_rate=16000)`` function."""
    return clean_quiet


@pytest.fixture(scope="session")
def quiet_recording() -> np.ndarray:
    """4 s of one device's internal noise at 16 kHz, ``(64000,)`` float64."""
    return clean_quiet(7)


FIXTURE_BANK = Path(__file__).resolve().parents[1] / "fixtures" / "bank"


def _build_bank(folder: Path) -> Path:
    """A small stimulus bank of 1.5 s clips (train / val / foreign groups), for when the fixture is absent."""
    import soundfile as sf

    from audio_artifacts.simulate.stimuli import render_stimulus

    rows = []
    specs = [  # kind, generator, engine, voice, piece, soundfont, group, split_group
        ("speech", "speech_like", "rec", "alice", "", "", "spk-alice", "train"),
        ("speech", "speech_like", "rec", "bob", "", "", "spk-bob", "train"),
        ("speech", "speech_like", "rec", "carol", "", "", "spk-carol", "val"),
        ("speech", "speech_like", "rec", "dave", "", "", "spk-dave", "foreign"),
        ("speech", "speech_like", "rec", "erin", "", "", "spk-erin", "foreign"),
        ("speech_synth", "speech_like", "tts-a", "v1", "", "", "tts-a-v1", "train"),
        ("speech_synth", "speech_like", "tts-b", "v2", "", "", "tts-b-v2", "foreign"),
        ("music", "music_like", "midi", "", "p1", "sfA", "p1@sfA", "train"),
        ("music", "music_like", "midi", "", "p2", "sfA", "p2@sfA", "val"),
        ("music", "music_like", "midi", "", "p3", "sfB", "p3@sfB", "foreign"),
        ("everyday", "pink", "field", "", "door", "", "door", "train"),
        ("everyday", "gated_noise", "field", "", "keys", "", "keys", "foreign"),
    ]
    (folder / "clips").mkdir(parents=True, exist_ok=True)
    for i, (kind, generator, engine, voice, piece, soundfont, group, split_group) in enumerate(specs):
        signal, _ = render_stimulus(np.random.default_rng(100 + i), generator, 24000, 16000, 60.0)
        path = f"clips/{i:02d}_{kind}.wav"
        sf.write(str(folder / path), (signal / np.abs(signal).max() * 0.5).astype(np.float32), 16000, subtype="FLOAT")
        rows.append([path, kind, "fixture", engine, voice, piece, soundfont, "" if not soundfont else "piano",
                     "CC0", "1.5", "16000", group, split_group])
    header = ["path", "kind", "source", "engine", "voice", "piece", "soundfont", "instrument", "licence",
              "duration_s", "sample_rate", "group", "split_group"]
    (folder / "index.csv").write_text("\n".join(";".join(r) for r in [header, *rows]) + "\n")
    return folder


@pytest.fixture(scope="session")
def bank_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture bank (tests/fixtures/bank) when present, else a small one built here."""
    if (FIXTURE_BANK / "index.csv").is_file():
        return FIXTURE_BANK
    return _build_bank(tmp_path_factory.mktemp("bank"))


def _dataset_digest(folder: Path) -> dict[str, str]:
    """Hash of each manifest's bytes and each WAV's / FLAC's (stimuli) format + decoded samples.

    (Float WAVs carry libsndfile's PEAK chunk with a write timestamp, so their
    bytes differ between two runs even when every sample is equal.)
    """
    digests = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".csv":
            digests[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.suffix in (".wav", ".flac"):
            info = sf.info(str(path))
            samples, _ = sf.read(str(path), dtype="float32" if info.subtype == "FLOAT" else "int32")
            key = f"{info.samplerate}/{info.channels}/{info.subtype}".encode()
            digests[str(path.relative_to(folder))] = hashlib.sha256(key + samples.tobytes()).hexdigest()
    return digests


@pytest.fixture()
def dataset_digest():
    """`_dataset_digest`: what must be equal between two simulated datasets."""
    return _dataset_digest
