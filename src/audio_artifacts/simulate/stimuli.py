"""Test-box input signals: quiet, speech-like, noises, tones, sweeps, music-like.

Every stimulus is synthesised at ``SYNTH_RATE`` (content up to 12 kHz, above
every simulated receiver's roll-off), resampled to the recording's rate and
scaled to its input level in dB SPL (RMS over the active parts), in pascal.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import soxr
from scipy.signal import lfilter

from audio_artifacts.simulate.device import P_REF

SYNTH_RATE = 24000
STIMULI: tuple[str, ...] = ("quiet", "speech", "pink", "speech_shaped", "modulated", "tones", "sweep", "music")
# Quiet (internal-noise measurement) is the most common test condition.
STIMULUS_WEIGHTS: tuple[float, ...] = (0.45, 0.15, 0.06, 0.06, 0.08, 0.07, 0.05, 0.08)
INPUT_LEVELS_DB: tuple[float, ...] = (50.0, 55.0, 60.0, 65.0, 70.0, 75.0, 80.0)


def _spectral_noise(rng: np.random.Generator, n: int, shape_db: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Gaussian noise of length ``n`` at SYNTH_RATE with power spectrum ``shape_db(f)`` (dB)."""
    freqs = np.fft.rfftfreq(n, 1.0 / SYNTH_RATE)
    gain = 10.0 ** (shape_db(np.maximum(freqs, 1.0)) / 20.0)
    gain[0] = 0.0
    spectrum = (rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size)) * gain
    return np.fft.irfft(spectrum, n)


def _pink_db(f: np.ndarray) -> np.ndarray:
    return -10.0 * np.log10(np.maximum(f, 20.0))


def _speech_shape_db(f: np.ndarray) -> np.ndarray:
    # Long-term speech spectrum: flat 100-500 Hz, falling about 9 dB/octave above.
    return -9.0 * np.log2(np.maximum(f / 500.0, 1.0)) - 12.0 * np.log2(np.maximum(100.0 / f, 1.0))


def _syllabic_envelope(rng: np.random.Generator, n: int, pause_probability: float = 0.25) -> np.ndarray:
    """Raised-cosine syllables of 0.12-0.35 s with occasional pauses, ``(n,)`` in [0, 1]."""
    envelope = np.zeros(n)
    t = int(rng.uniform(0.0, 0.2) * SYNTH_RATE)
    while t < n:
        if rng.random() < pause_probability:
            t += int(rng.uniform(0.15, 0.8) * SYNTH_RATE)
            continue
        length = int(rng.uniform(0.12, 0.35) * SYNTH_RATE)
        end = min(n, t + length)
        envelope[t:end] = np.maximum(envelope[t:end], rng.uniform(0.4, 1.0) * np.hanning(length)[: end - t])
        t += int(length * rng.uniform(0.7, 1.0))
    return envelope


def _resonator(frequency: float, bandwidth: float) -> tuple[np.ndarray, np.ndarray]:
    r = np.exp(-np.pi * bandwidth / SYNTH_RATE)
    theta = 2.0 * np.pi * frequency / SYNTH_RATE
    return np.array([1.0 - r]), np.array([1.0, -2.0 * r * np.cos(theta), r * r])


def _speech(rng: np.random.Generator, n: int) -> np.ndarray:
    """Voiced pulse train with a drifting F0 through per-syllable formants, plus fricatives."""
    t = np.arange(n) / SYNTH_RATE
    f0_base = rng.uniform(90.0, 240.0)
    drift = np.interp(t, np.linspace(0, t[-1] + 1e-9, max(2, int(t[-1] * 3) + 2)),
                      rng.normal(0.0, 0.12, max(2, int(t[-1] * 3) + 2)))
    f0 = f0_base * 2.0 ** drift
    phase = np.cumsum(f0) / SYNTH_RATE
    source = np.diff(np.floor(phase), prepend=0.0)  # one impulse per glottal cycle
    source = lfilter([1.0], [1.0, -0.95], lfilter([1.0], [1.0, -0.95], source))  # glottal tilt
    out = np.zeros(n)
    segment = int(0.18 * SYNTH_RATE)
    hop = segment // 2
    # Overlap-add of Hann-windowed segments: formants change without discontinuities.
    window = np.sin(np.pi * (np.arange(segment) + 0.5) / segment) ** 2
    for start in range(-hop, n, hop):
        lo, hi = max(0, start), min(n, start + segment)
        if rng.random() < 0.2:  # fricative
            piece = _spectral_noise(rng, hi - lo, lambda f: 20.0 * np.log10(np.clip(f / 4000.0, 0.05, 1.0))) * 0.3
        else:
            excitation = source[lo:hi] - source[lo:hi].mean()
            piece = np.zeros(hi - lo)
            for formant, width, gain in ((rng.uniform(300, 850), 80.0, 1.0), (rng.uniform(850, 2500), 120.0, 0.6),
                                         (rng.uniform(2300, 3300), 180.0, 0.3)):
                b, a = _resonator(formant, width)
                piece += gain * lfilter(b, a, excitation)
        out[lo:hi] += piece * window[lo - start: hi - start]
    return out * _syllabic_envelope(rng, n)


def _modulated(rng: np.random.Generator, n: int) -> np.ndarray:
    """Speech-shaped noise, three bands modulated independently (ICRA-like)."""
    noise = _spectral_noise(rng, n, _speech_shape_db)
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(n, 1.0 / SYNTH_RATE)
    out = np.zeros(n)
    for lo, hi in ((0.0, 800.0), (800.0, 2400.0), (2400.0, SYNTH_RATE / 2 + 1)):
        band = np.fft.irfft(np.where((freqs >= lo) & (freqs < hi), spectrum, 0.0), n)
        out += band * _syllabic_envelope(rng, n, pause_probability=0.15)
    return out


def _tones(rng: np.random.Generator, n: int) -> np.ndarray:
    """A sequence of short pure tones at random frequencies with 10 ms ramps."""
    out = np.zeros(n)
    t = 0
    while t < n:
        length = int(rng.uniform(0.2, 1.2) * SYNTH_RATE)
        end = min(n, t + length)
        freq = float(np.exp(rng.uniform(np.log(200.0), np.log(6000.0))))
        k = np.arange(end - t)
        ramp = np.minimum(1.0, np.minimum(k, end - t - k) / (0.01 * SYNTH_RATE))
        out[t:end] = np.sin(2 * np.pi * freq * k / SYNTH_RATE) * ramp * rng.uniform(0.5, 1.0)
        t = end + int(rng.uniform(0.0, 0.3) * SYNTH_RATE)
    return out


def _sweep(rng: np.random.Generator, n: int) -> np.ndarray:
    """Repeated logarithmic sweeps between 100 Hz and 8 kHz (up or down)."""
    out = np.zeros(n)
    t = 0
    while t < n:
        length = int(rng.uniform(1.0, 6.0) * SYNTH_RATE)
        end = min(n, t + length)
        f_lo, f_hi = (100.0, 8000.0) if rng.random() < 0.7 else (8000.0, 100.0)
        tau = np.arange(end - t) / SYNTH_RATE
        duration = length / SYNTH_RATE
        rate = np.log(f_hi / f_lo) / duration
        phase = 2 * np.pi * f_lo * (np.exp(rate * tau) - 1.0) / rate
        ramp = np.minimum(1.0, np.minimum(tau, tau[-1] - tau) / 0.01)
        out[t:end] = np.sin(phase) * ramp
        t = end + int(rng.uniform(0.05, 0.5) * SYNTH_RATE)
    return out


def _music(rng: np.random.Generator, n: int) -> np.ndarray:
    """Two or three voices of harmonic notes on a scale, with decays, plus soft percussion."""
    out = np.zeros(n)
    root = rng.uniform(110.0, 330.0)
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12, 14, 16])
    for voice in range(int(rng.integers(2, 4))):
        t = 0
        octave = 2.0 ** voice
        harmonics = np.arange(1, int(rng.integers(4, 10)) + 1)
        amps = rng.uniform(0.3, 1.0) / harmonics ** rng.uniform(0.8, 2.0)
        while t < n:
            length = int(rng.uniform(0.12, 0.8) * SYNTH_RATE)
            end = min(n, t + length)
            freq = root * octave * 2.0 ** (rng.choice(scale) / 12.0)
            k = np.arange(end - t) / SYNTH_RATE
            keep = harmonics * freq < SYNTH_RATE / 2.2
            tone = (amps[keep, None] * np.sin(2 * np.pi * freq * harmonics[keep, None] * k)).sum(axis=0)
            envelope = np.exp(-k / rng.uniform(0.1, 0.6)) * np.minimum(1.0, np.minimum(k, k[-1] - k) / 0.01)
            out[t:end] += tone * envelope
            t = end
    hits = rng.uniform(0, n, int(n / SYNTH_RATE * rng.uniform(0.5, 3.0))).astype(int)
    for hit in hits:
        length = min(n - hit, int(0.08 * SYNTH_RATE))
        k = np.arange(length) / SYNTH_RATE
        out[hit:hit + length] += rng.standard_normal(length) * np.exp(-k / 0.015) * np.minimum(1.0, k / 0.005) * 0.2
    return out


_GENERATORS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "speech": _speech,
    "pink": lambda rng, n: _spectral_noise(rng, n, _pink_db),
    "speech_shaped": lambda rng, n: _spectral_noise(rng, n, _speech_shape_db),
    "modulated": _modulated,
    "tones": _tones,
    "sweep": _sweep,
    "music": _music,
}


def active_rms(signal: np.ndarray, sample_rate: int) -> float:
    """RMS over the 50 ms frames within 30 dB of the loudest one (the speech-level convention)."""
    block = max(1, int(0.05 * sample_rate))
    count = max(1, signal.size // block)
    power = np.mean(signal[: count * block].reshape(count, block) ** 2, axis=1)
    active = power >= power.max() * 1e-3
    return float(np.sqrt(np.mean(power[active]))) if power.max() > 0 else 0.0


def make_stimulus(rng: np.random.Generator, kind: str, n_samples: int, sample_rate: int,
                  level_db: float) -> np.ndarray | None:
    """One input stimulus.

    Parameters
    ----------
    rng : numpy.random.Generator
    kind : str
        One of ``STIMULI``.
    n_samples : int
        Length at ``sample_rate``.
    sample_rate : int
        Hz of the recording.
    level_db : float
        Input level, dB SPL (RMS over the active parts).

    Returns
    -------
    numpy.ndarray or None
        ``(n_samples,)`` float64 pressure in Pa; None for ``"quiet"``.
    """
    if kind == "quiet":
        return None
    if kind not in _GENERATORS:
        raise ValueError(f"unknown stimulus {kind!r}; choose one of {', '.join(STIMULI)}")
    n_synth = int(np.ceil(n_samples * SYNTH_RATE / sample_rate)) + 16
    signal = _GENERATORS[kind](rng, n_synth)
    if sample_rate != SYNTH_RATE:
        signal = soxr.resample(signal, SYNTH_RATE, sample_rate, quality="HQ")
    signal = np.resize(signal, n_samples) if signal.size < n_samples else signal[:n_samples]
    rms = active_rms(signal, sample_rate)
    if rms <= 0:
        return np.zeros(n_samples)
    return signal * (P_REF * 10.0 ** (level_db / 20.0) / rms)
