"""Fixtures of the simulator tests: a clean recording of one simulated device."""

from __future__ import annotations

import numpy as np
import pytest

from audio_artifacts.simulate.device import P_REF, draw_device, render_device

SAMPLE_RATE = 16000


def clean_quiet(seed: int, seconds: float = 4.0, sample_rate: int = SAMPLE_RATE,
                family: str = "ric_fast") -> np.ndarray:
    """Internal noise of a freshly drawn device of ``family``, digital scale (full scale = 120 dB SPL) plus analyzer noise."""
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
