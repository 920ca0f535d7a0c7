"""Band envelopes from one spectrum: the band, the level and the timing a time-domain filter gives."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

from audio_artifacts.explain.envelopes import BandEnvelopes, pass_range, zero_phase_response

RATE = 32000
STEP = RATE // 500


def _filtfilt_envelope(x: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    sos = butter(4, [band[0] / (RATE / 2), band[1] / (RATE / 2)], btype="bandpass", output="sos")
    y = sosfiltfilt(sos, x)
    count = y.size // STEP
    return (y[:count * STEP] ** 2).reshape(count, STEP).mean(axis=1)


def test_a_sine_in_the_band_reads_its_mean_square_and_one_outside_reads_nothing() -> None:
    t = np.arange(4 * RATE) / RATE
    envelopes = BandEnvelopes(0.2 * np.sin(2 * np.pi * 1000.0 * t), RATE, 500)
    inside = envelopes.envelope((710.0, 1420.0))
    assert inside.shape == (4 * 500,)
    assert np.median(inside) == pytest.approx(0.2**2 / 2, rel=0.02)
    assert np.median(envelopes.envelope((88.0, 177.0))) < 1e-6 * 0.02


def test_the_response_is_that_of_a_forward_backward_butterworth() -> None:
    from scipy.signal import sosfreqz

    sos = butter(4, [355.0 / (RATE / 2), 710.0 / (RATE / 2)], btype="bandpass", output="sos")
    freqs = np.linspace(50.0, 3000.0, 400)
    _, h = sosfreqz(sos, worN=freqs, fs=RATE)
    np.testing.assert_allclose(zero_phase_response(freqs, RATE, 355.0, 710.0), np.abs(h) ** 2, atol=1e-6)
    low, high = pass_range(RATE, 355.0, 710.0)
    assert low < 355.0 < 710.0 < high < RATE / 2
    assert zero_phase_response(np.array([low * 0.99, high * 1.01]), RATE, 355.0, 710.0).max() < 1e-4


def test_noise_and_bursts_match_the_time_domain_filter_within_a_db() -> None:
    rng = np.random.default_rng(0)
    x = 0.01 * rng.standard_normal(6 * RATE)
    for start in np.arange(0.5, 5.5, 0.7):  # 1 kHz bursts of 20 ms
        i = int(start * RATE)
        x[i:i + 640] += 0.2 * np.sin(2 * np.pi * 1000.0 * np.arange(640) / RATE)
    new = BandEnvelopes(x, RATE, 500).envelope((710.0, 1420.0))
    old = _filtfilt_envelope(x, (710.0, 1420.0))
    smooth = np.ones(5) / 5  # 10 ms: the carrier ripple of the squared time signal averages out
    ratio_db = 10 * np.log10(np.convolve(new, smooth, "same")[10:-10] / np.convolve(old, smooth, "same")[10:-10])
    assert np.percentile(np.abs(ratio_db), 99) < 1.0
    # the bursts are where they were: the same steps peak
    top_new, top_old = set(np.argsort(new)[-60:].tolist()), set(np.argsort(old)[-60:].tolist())
    assert len(top_new & top_old) >= 54
    assert abs(int(np.argmax(new)) - int(np.argmax(old))) <= 1


def test_the_end_does_not_wrap_onto_the_start() -> None:
    x = np.zeros(3 * RATE)
    x[-RATE // 2:] = 0.3 * np.sin(2 * np.pi * 100.0 * np.arange(RATE // 2) / RATE)  # loud only at the end
    envelope = BandEnvelopes(x, RATE, 500).envelope((88.0, 177.0))
    assert envelope[:250].max() < 1e-6 * envelope[-100:].mean()


def test_short_and_open_bands() -> None:
    assert BandEnvelopes(np.ones(10), RATE, 500).envelope((100.0, 200.0)).size == 0
    x = 0.1 * np.random.default_rng(1).standard_normal(RATE)
    whole = BandEnvelopes(x, RATE, 500).envelope((0.0, RATE / 2))  # nothing to filter: the plain mean square
    np.testing.assert_allclose(whole, (x[:500 * STEP] ** 2).reshape(500, STEP).mean(axis=1))
    high = BandEnvelopes(x, RATE, 500).envelope((8000.0, RATE / 2))  # a high-pass: about half of white noise
    assert np.mean(high) == pytest.approx(0.5 * np.mean(whole), rel=0.1)
