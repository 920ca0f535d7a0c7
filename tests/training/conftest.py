"""Tiny synthetic datasets and configs for the training tests (real files, real training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from audio_artifacts.audio import write_audio
from audio_artifacts.data.manifest import ArtifactEvent, RecordingEntry, write_manifest

# Small and quick: 16 kHz, 2 s windows; 3 s recordings give two windows each
# (0-2 s and the end-aligned 1-3 s)
RATE = 16000
SECONDS = 3.0
WINDOW_S = 2.0
MODEL_ARGUMENTS = {"sample_rate": RATE, "n_fft": 512, "hop": 256, "fmax": 8000.0,
                   "bands": [0.0, 1000.0, 4000.0, 8000.0], "max_lag_s": 0.5,
                   "block_seconds": 0.5, "channels": 8, "hidden": 16}


def write_split(root: Path, split: str, n: int, seed: int) -> Path:
    """``n`` recordings: noise floor; odd ones carry a 3 kHz line (+ a 217 Hz buzz)."""
    rng = np.random.default_rng(seed)
    entries = []
    t = np.arange(int(SECONDS * RATE)) / RATE
    for i in range(n):
        signal = rng.standard_normal(t.size) * 0.01
        events: tuple[ArtifactEvent, ...] = ()
        if i % 2:
            signal += 0.01 * np.sin(2 * np.pi * 3000 * t) + 0.004 * np.sign(np.sin(2 * np.pi * 217 * t))
            events = (ArtifactEvent("tonal", 0.0, SECONDS, 10.0),)
        path = root / split / f"{split}_{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_audio(path, signal.astype(np.float32), RATE)
        entries.append(RecordingEntry(path, int(bool(events)), events, {"device": f"d{i % 3}"}))
    return write_manifest(root / f"{split}.csv", entries, root)


@pytest.fixture(scope="session")
def make_split():
    """``make_split(root, split, n, seed) -> manifest`` (see :func:`write_split`)."""
    return write_split


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny_data")
    return {"root": root, "train": write_split(root, "train", 6, 0), "val": write_split(root, "val", 4, 1)}


def _tiny_config(paths: dict[str, Path], **sections) -> dict:
    raw = {
        "name": "tiny",
        "seed": 0,
        "data": {"train_manifest": str(paths["train"]), "val_manifest": str(paths["val"]),
                 "batch_size": 2, "sample_rate": RATE, "window_s": WINDOW_S},
        "model": {"name": "fast", "arguments": dict(MODEL_ARGUMENTS)},
        "optim": {"max_backbone_lr": 1e-2, "max_head_lr": 1e-2},
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "devices": 1, "progress_bar": False,
                    "log_every_n_steps": 1},
    }
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    return raw


@pytest.fixture(scope="session")
def tiny_config(tiny_data):
    """``tiny_config(**sections) -> raw dict`` of a run that takes seconds on a CPU;
    ``sections`` update the defaults per section (``trainer={"max_epochs": 2}``)."""
    return lambda **sections: _tiny_config(tiny_data, **sections)


@pytest.fixture()
def write_config(tmp_path):
    """``write_config(raw) -> path`` of a YAML file holding ``raw``."""
    def write(raw: dict, name: str = "tiny.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(raw))
        return path
    return write
