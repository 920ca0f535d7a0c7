"""Fixtures of the scan CLI tests: a tiny real model directory and real recordings."""

from __future__ import annotations

import numpy as np
import pytest

from audio_artifacts.audio import write_audio


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A small untrained FastArtifactNet saved as a real model directory (16 kHz, 5 s windows)."""
    import torch

    from audio_artifacts import __version__
    from audio_artifacts.models.model_dir import ModelInfo, save_model_dir
    from audio_artifacts.models.registry import build_model
    from audio_artifacts.windows import WindowSpec

    torch.manual_seed(7)
    # the cheapest configuration of the fast model: short FFT, no periodicity branches
    model = build_model("fast", sample_rate=16000, n_fft=512, hop=512, fmax=8000.0,
                        bands=[0, 1000, 3000, 8000], channels=4, hidden=8, periodicity=False).eval()
    info = ModelInfo(name="tiny-test", version="0.0.1", architecture="fast", arguments=model.arguments(),
                     sample_rate=16000, window=WindowSpec(), threshold=0.5, package_version=__version__)
    return save_model_dir(tmp_path_factory.mktemp("model") / "tiny", model, info)


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
