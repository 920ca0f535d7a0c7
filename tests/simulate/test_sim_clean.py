"""Clean recordings are really clean: no lines, no periodicity, no clicks beyond the device noise.

Each measure is checked on an artifact at the bottom of its default level range
too (the positive control), so the same test fails when an artifact leaks into
a clean recording and shows that the quietest default draws are measurable.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import median_filter

from audio_artifacts.simulate.artifacts import DEFAULT_LEVELS_DB, sample_artifact
from audio_artifacts.simulate.levels import frame_powers
from audio_artifacts.simulate.recording import AnalyzerConfig, SimulatorConfig, simulate_recording


def line_prominence_db(signal: np.ndarray, sample_rate: int) -> float:
    """Largest excess (dB) of the long-term spectrum over its 31-bin running median, 100 Hz - 0.45 fs."""
    spectrum = frame_powers(signal, sample_rate).mean(axis=0)
    excess = 10 * np.log10(spectrum / median_filter(spectrum, size=31, mode="nearest"))
    freqs = np.fft.rfftfreq(2 * (spectrum.size - 1), 1 / sample_rate)
    return float(excess[(freqs > 100) & (freqs < 0.45 * sample_rate)].max())


def frame_jumps_db(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per octave band from 50 Hz: largest frame power over the median frame power, dB, ``(bands,)``."""
    powers = frame_powers(signal, sample_rate)
    freqs = np.fft.rfftfreq(2 * (powers.shape[1] - 1), 1 / sample_rate)
    jumps = []
    low = 50.0
    while low < 0.45 * sample_rate:
        high = max(2 * low, low + 200)
        band = powers[:, (freqs >= low) & (freqs < high)].sum(axis=1)
        jumps.append(10 * np.log10(band.max() / np.median(band)))
        low = high
    return np.array(jumps)


def noise_jumps_db(signal: np.ndarray, sample_rate: int, draws: int = 4) -> np.ndarray:
    """``frame_jumps_db`` of stationary Gaussian noise with the same spectrum (random phases), max of draws."""
    rng = np.random.default_rng(0)
    magnitude = np.abs(np.fft.rfft(signal))
    return np.max([
        frame_jumps_db(np.fft.irfft(magnitude * np.exp(2j * np.pi * rng.random(magnitude.size)), signal.size),
                       sample_rate)
        for _ in range(draws)
    ], axis=0)


@pytest.fixture(scope="module")
def clean_recordings() -> list[np.ndarray]:
    config = SimulatorConfig(duration_s=(4.0, 4.0), artifact_fraction=0.0, short_fraction=0.0, conditions={},
                             stimuli=("quiet", "pink", "speech_shaped"), stimulus_weights=(0.6, 0.2, 0.2),
                             analyzer=AnalyzerConfig(sample_rates=(16000, 24000, 32000), sample_rate_weights=(1, 1, 1)))
    recordings = [simulate_recording(config, 21, "all", i, 6) for i in range(6)]
    assert all(r.label == 0 and r.events == () for r in recordings)
    return [r.samples[:, 0].astype(np.float64) - r.samples[:, 0].mean() for r in recordings] + \
        [r.sample_rate for r in recordings]


def test_clean_recordings_have_no_lines_and_tonal_minimum_is_visible(clean_recordings) -> None:
    signals, rates = clean_recordings[:6], clean_recordings[6:]
    clean = [line_prominence_db(x, fs) for x, fs in zip(signals, rates)]
    assert max(clean) < 3.5, clean
    low = DEFAULT_LEVELS_DB["tonal"][0]
    for seed, (x, fs) in enumerate(zip(signals, rates)):
        artifact, _ = sample_artifact(np.random.default_rng(seed), x.size, fs, x, artifact_type="tonal",
                                      level_db=low, intermittent=False)
        assert line_prominence_db(x + artifact, fs) > clean[seed] + 1.5


@pytest.mark.parametrize("kind", ["clicks", "periodic_ticks"])
def test_clean_recordings_have_no_impulses_and_minimum_impulses_show(kind: str, clean_recordings) -> None:
    signals, rates = clean_recordings[:6], clean_recordings[6:]
    for seed, (x, fs) in enumerate(zip(signals, rates)):
        reference = noise_jumps_db(x, fs)
        # No band jumps more than stationary noise of the same spectrum does.
        assert np.all(frame_jumps_db(x, fs) < reference + 1.5)
        artifact, _ = sample_artifact(np.random.default_rng(seed), x.size, fs, x, artifact_type=kind,
                                      level_db=DEFAULT_LEVELS_DB[kind][0] + 8.0, intermittent=False)
        assert np.max(frame_jumps_db(x + artifact, fs) - reference) > 3.0


def test_clean_recordings_have_no_radio_periodicity(clean_recordings) -> None:
    """Envelope autocorrelation at the TDMA frame (4.615 ms) stays at the noise level without buzz."""
    signals, rates = clean_recordings[:6], clean_recordings[6:]

    def periodicity(x: np.ndarray, fs: int) -> float:
        """Largest envelope autocorrelation at the TDMA frame over octave bands 100 Hz - 3.2 kHz."""
        spectrum = np.fft.rfft(x)
        freqs = np.fft.rfftfreq(x.size, 1 / fs)
        lag = int(round(0.004615 * fs))
        best = -1.0
        for low in (100.0, 200.0, 400.0, 800.0, 1600.0):
            band = np.fft.irfft(np.where((freqs >= low) & (freqs < 2 * low), spectrum, 0), x.size)
            envelope = band**2 - np.mean(band**2)
            corr = np.fft.irfft(np.abs(np.fft.rfft(envelope, 2 * envelope.size)) ** 2)[: lag + 2]
            best = max(best, float(corr[lag - 1: lag + 2].max() / corr[0]))
        return best

    clean = [periodicity(x, fs) for x, fs in zip(signals, rates)]
    assert max(clean) < 0.15, clean
    for seed, (x, fs) in enumerate(zip(signals, rates)):
        artifact, _ = sample_artifact(np.random.default_rng(seed), x.size, fs, x, artifact_type="tdma_buzz",
                                      level_db=20.0, intermittent=False)
        assert periodicity(x + artifact, fs) > clean[seed] + 0.1


def test_every_family_is_clean_when_quiet(clean_quiet) -> None:
    """No family's own noise holds a narrow line or an impulse (gates, humps, saturation stages included).

    Lines against a 9-bin (280 Hz) running median: a receiver resonance of Q 4 is wider than that,
    a tonal artifact is one or two bins. Jumps: this statistic's tail over many clean devices of any
    family reaches ~2.3 dB (few bins in the lowest band), so 3 dB here, where the quietest default
    clicks and ticks already rise above (test above).
    """
    from audio_artifacts.simulate.device import FAMILIES

    def narrow_line_db(x: np.ndarray) -> float:
        spectrum = frame_powers(x, 16000).mean(axis=0)
        excess = 10 * np.log10(spectrum / median_filter(spectrum, size=9, mode="nearest"))
        freqs = np.fft.rfftfreq(2 * (spectrum.size - 1), 1 / 16000)
        return float(excess[(freqs > 100) & (freqs < 7200)].max())

    for seed, family in enumerate(FAMILIES):
        for extra in range(2):
            x = clean_quiet(40 + 10 * extra + seed, seconds=4.0, family=family)
            assert narrow_line_db(x) < 2.0, family
            assert np.all(frame_jumps_db(x, 16000) < noise_jumps_db(x, 16000) + 3.0), family
