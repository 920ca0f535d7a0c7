"""explain.peaks finds the peaks scipy.signal.find_peaks finds, and a scan does not import scipy.signal."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.signal import find_peaks as scipy_find_peaks

from audio_artifacts.explain.peaks import find_peaks


def _cases(seed: int, count: int):
    rng = np.random.default_rng(seed)
    for trial in range(count):
        n = int(rng.integers(0, 300))
        # integer steps make plateaus and ties in height, which the distance rule must order as scipy does
        x = rng.integers(0, 5, n).astype(float) if trial % 2 else np.round(rng.normal(size=n), 1 + trial % 3)
        height = (None, float(rng.normal()), rng.normal(size=n))[trial % 3]
        distance = None if trial % 4 == 0 else float(rng.uniform(1, 25))
        yield x, height, distance


def test_the_peaks_are_scipys_with_plateaus_heights_and_distances() -> None:
    for x, height, distance in _cases(7, 1500):
        kwargs = {k: v for k, v in (("height", height), ("distance", distance)) if v is not None}
        expected, _ = scipy_find_peaks(x, **kwargs)
        np.testing.assert_array_equal(find_peaks(x, height=height, distance=distance), expected)


def test_a_flat_top_is_one_peak_at_its_middle_and_the_ends_are_never_peaks() -> None:
    x = np.array([5.0, 1.0, 3.0, 3.0, 3.0, 3.0, 1.0, 2.0, 2.0, 4.0, 0.0, 6.0])
    assert find_peaks(x).tolist() == [3, 9]  # the plateau 2..5 -> 3; 0 and 11 are ends; 7..8 rises on
    assert find_peaks(x, height=3.5).tolist() == [9]
    assert find_peaks(x, distance=7).tolist() == [9]  # the higher one keeps its neighbourhood


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="distance"):
        find_peaks(np.zeros(5), distance=0.5)
    with pytest.raises(ValueError, match="one-dimensional"):
        find_peaks(np.zeros((2, 5)))


def test_a_describing_scan_imports_no_scipy_signal() -> None:
    code = ("import sys, numpy as np\n"
            "from audio_artifacts.explain.measure import analyse\n"
            "from audio_artifacts.explain.measure import EventAudio\n"
            "rate = 16000; t = np.arange(3 * rate) / rate\n"
            "x = (0.01 * np.sin(2 * np.pi * 1000 * t) + 1e-4 * np.random.default_rng(0).normal(size=t.size))\n"
            "analyse(EventAudio(x.astype(np.float32), rate, 0.0, (0.5, 2.5)))\n"
            "print('scipy.signal' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
