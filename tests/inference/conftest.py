"""Shared fixtures of the inference tests: a tiny real model directory, its ONNX
export (real onnxruntime), and real audio files written by the tests."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from audio_artifacts import __version__
from audio_artifacts.audio import write_audio
from audio_artifacts.models.model_dir import ModelInfo, save_model_dir
from audio_artifacts.models.registry import build_model
from audio_artifacts.windows import WindowSpec

# A small configuration of the default architecture: same graph, fewer weights.
TINY_ARGUMENTS = {"channels": 8, "hidden": 16}


def make_model_dir(directory: Path, seed: int = 0, threshold: float = 0.5) -> Path:
    """A model directory of the fast architecture with random weights (structure tests only)."""
    torch.manual_seed(seed)
    model = build_model("fast", **TINY_ARGUMENTS)
    info = ModelInfo(
        name="tiny-test", version=f"seed{seed}", architecture="fast", arguments=model.arguments(),
        sample_rate=32000, window=WindowSpec(5.0, 0.25), threshold=threshold,
        package_version=__version__,
    )
    return save_model_dir(directory, model, info)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def exported(tiny_model_dir, tmp_path_factory):
    """A copy of the tiny model directory with model.onnx installed by the export CLI.

    Returns ``(directory, report, exit_code, onnx_path)``; ``report`` is the
    CLI's ``--json`` output (the `ParityReport` plus ``installed``). Exporting
    is the slow part of these tests, so it happens once per session.
    """
    from audio_artifacts.cli import main

    root = tmp_path_factory.mktemp("tiny_onnx")
    directory = root / "model"
    shutil.copytree(tiny_model_dir, directory)
    onnx_path = root / "exports" / "tiny.onnx"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["export", str(directory), "--onnx", str(onnx_path), "--copy-into-model-dir", "--json"])
    return directory, json.loads(printed.getvalue()), code, onnx_path


def box_noise(seconds: float, rate: int, seed: int, level_db: float = -50.0) -> np.ndarray:
    """Coloured noise floor like a hearing aid's output in a quiet test box."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(int(round(seconds * rate)))
    floor = np.convolve(white, np.ones(4) / 4, mode="same")
    return (floor * 10 ** (level_db / 20) / floor.std()).astype(np.float32)


@pytest.fixture(scope="session")
def noise():
    """``box_noise(seconds, rate, seed, level_db=-50)`` for tests that write their own files."""
    return box_noise


@pytest.fixture(scope="session")
def model_dir_factory():
    """``make_model_dir(directory, seed=0, threshold=0.5)``."""
    return make_model_dir


@pytest.fixture(scope="session")
def recordings(tmp_path_factory) -> dict[str, Path]:
    """Real files: 20 s stereo 48 kHz, 11.3 s mono 44.1 kHz, 3 s mono 16 kHz (shorter than a window)."""
    root = tmp_path_factory.mktemp("recordings")
    stereo = np.stack([box_noise(20.0, 48000, 1), box_noise(20.0, 48000, 2)], axis=1)
    return {
        "stereo48": write_audio(root / "stereo48.wav", stereo, 48000),
        "mono44": write_audio(root / "mono44.flac", box_noise(11.3, 44100, 3), 44100),
        "short16": write_audio(root / "short16.wav", box_noise(3.0, 16000, 4), 16000),
    }
