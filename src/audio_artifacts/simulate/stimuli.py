"""Test-box input signals: quiet, speech- and music-like, noises, tones, sweeps,
and hard negatives (stationary lines, gated noise, pulses, pumping, breathing).

Every synthetic stimulus is synthesised at ``SYNTH_RATE`` (content up to
12 kHz, above every simulated receiver's roll-off), resampled to the
recording's rate and scaled to its input level in dB SPL (RMS over the
active parts), in pascal. With a stimulus bank (``simulate.bank``) the kinds
``BANK_KINDS`` come from real recordings instead. The synthetic speech- and
music-like generators are called ``speech_like`` and ``music_like``;
``speech`` and ``music`` name the bank's recorded kinds (``make_stimulus``
without a bank still accepts them as aliases of the synthetic ones).

Hard negatives on purpose: things a test system plays that look like device
artifacts but come from the input: stepped tones and multitones (stationary
lines for seconds), slow sweeps, gated noise (sharp onsets), sustained
vibrato notes, rhythmic pulses (metronome ticks, kick drums), loud/soft
alternation (pumping through fast WDRC) and low-level intermittent input
near the expansion knee (breathing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import soxr
from scipy.signal import lfilter

from audio_artifacts.simulate.device import P_REF

SYNTH_RATE = 24000
# Kinds a stimulus bank provides (audio_artifacts.simulate.bank.BANK_KINDS); speech = recorded human.
BANK_KINDS: tuple[str, ...] = ("speech", "speech_synth", "ists", "music", "everyday")
STIMULI: tuple[str, ...] = (
    "quiet", "speech_like", "pink", "speech_shaped", "modulated", "tones", "sweep", "multitone",
    "gated_noise", "vibrato", "pulses", "music_like", "pumping", "breathing",
)
# Quiet (internal-noise measurement) is still the most common test condition.
STIMULUS_WEIGHTS: tuple[float, ...] = (
    0.30, 0.10, 0.04, 0.04, 0.06, 0.07, 0.05, 0.05, 0.05, 0.04, 0.05, 0.07, 0.04, 0.04,
)
# With a bank: real speech and music well represented, the synthetic kinds kept as hard negatives.
BANK_STIMULI: tuple[str, ...] = ("quiet",) + BANK_KINDS + STIMULI[1:]
BANK_STIMULUS_WEIGHTS: tuple[float, ...] = (
    0.27, 0.12, 0.04, 0.05, 0.10, 0.05,
    0.03, 0.03, 0.03, 0.03, 0.05, 0.03, 0.03, 0.03, 0.02, 0.03, 0.02, 0.02, 0.02,
)
ALL_STIMULI: tuple[str, ...] = BANK_STIMULI
ALIASES: dict[str, str] = {"speech": "speech_like", "music": "music_like"}  # without a bank
INPUT_LEVELS_DB: tuple[float, ...] = (50.0, 55.0, 60.0, 65.0, 70.0, 75.0, 80.0, 85.0, 90.0)
# Breathing needs an input near the expansion kneepoint.
KIND_LEVELS_DB: dict[str, tuple[float, ...]] = {"breathing": (35.0, 40.0, 45.0, 50.0, 55.0)}

Meta = dict[str, Any]


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


def _ramp(n: int, ramp_s: float) -> np.ndarray:
    k = np.arange(n)
    r = max(1.0, ramp_s * SYNTH_RATE)
    return np.minimum(1.0, np.minimum(k + 0.5, n - k - 0.5) / r)


def _tones(rng: np.random.Generator, n: int) -> tuple[np.ndarray, Meta]:
    """Stepped pure tones of many durations (0.2-5 s per step): stationary lines for seconds."""
    out = np.zeros(n)
    steps = []
    t = 0
    ramp = float(rng.choice([0.002, 0.01, 0.02]))
    while t < n:
        length = int(np.exp(rng.uniform(np.log(0.2), np.log(5.0))) * SYNTH_RATE)
        end = min(n, t + length)
        freq = float(np.exp(rng.uniform(np.log(125.0), np.log(8000.0))))
        out[t:end] = np.sin(2 * np.pi * freq * np.arange(end - t) / SYNTH_RATE) * _ramp(end - t, ramp) \
            * rng.uniform(0.5, 1.0)
        steps.append([round(t / SYNTH_RATE, 4), round(end / SYNTH_RATE, 4), round(freq, 2)])
        t = end + int(rng.choice([0.0, rng.uniform(0.0, 0.3)]) * SYNTH_RATE)
    return out, {"steps": steps}


def _sweep(rng: np.random.Generator, n: int) -> tuple[np.ndarray, Meta]:
    """Logarithmic sweeps, fast (1 s) to slow (20 s), full range or a part of it, up or down."""
    out = np.zeros(n)
    t = 0
    durations = []
    while t < n:
        duration = float(np.exp(rng.uniform(np.log(1.0), np.log(20.0))))
        length = int(duration * SYNTH_RATE)
        end = min(n, t + length)
        if rng.random() < 0.6:
            f_lo, f_hi = 100.0, 8000.0
        else:
            f_lo = float(np.exp(rng.uniform(np.log(100.0), np.log(2000.0))))
            f_hi = float(min(10000.0, f_lo * np.exp(rng.uniform(np.log(2.0), np.log(16.0)))))
        if rng.random() < 0.3:
            f_lo, f_hi = f_hi, f_lo
        tau = np.arange(end - t) / SYNTH_RATE
        rate = np.log(f_hi / f_lo) / duration
        phase = 2 * np.pi * f_lo * (np.exp(rate * tau) - 1.0) / rate
        out[t:end] = np.sin(phase) * _ramp(end - t, 0.01)
        durations.append(round(duration, 3))
        t = end + int(rng.uniform(0.05, 0.5) * SYNTH_RATE)
    return out, {"sweep_s": durations}


def _multitone(rng: np.random.Generator, n: int) -> tuple[np.ndarray, Meta]:
    """2-8 stationary tones at once (harmonic or scattered), held for the whole stimulus or in blocks."""
    out = np.zeros(n)
    t = 0
    k = np.arange(n) / SYNTH_RATE
    blocks = []
    hold = float(rng.choice([1e9, np.exp(rng.uniform(np.log(1.0), np.log(10.0)))]))
    while t < n:
        end = min(n, t + int(min(hold, n / SYNTH_RATE + 1) * SYNTH_RATE))
        count = int(rng.integers(2, 9))
        if rng.random() < 0.5:
            f0 = float(np.exp(rng.uniform(np.log(100.0), np.log(1000.0))))
            freqs = [f0 * h for h in range(1, count + 1) if f0 * h < 10000.0]
        else:
            freqs = sorted(float(f) for f in np.exp(rng.uniform(np.log(125.0), np.log(8000.0), count)))
        tone = sum(rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * f * k[: end - t] + rng.uniform(0, 2 * np.pi))
                   for f in freqs)
        out[t:end] = tone * _ramp(end - t, 0.01)
        blocks.append([round(t / SYNTH_RATE, 4), round(end / SYNTH_RATE, 4), [round(f, 2) for f in freqs]])
        t = end
    return out, {"blocks": blocks}


def _gated_noise(rng: np.random.Generator, n: int) -> tuple[np.ndarray, Meta]:
    """Noise bursts with sharp on/off (rise 0-1 ms): broadband impulses at every onset."""
    shape = [_pink_db, _speech_shape_db, lambda f: np.zeros_like(f)][int(rng.integers(3))]
    noise = _spectral_noise(rng, n, shape)
    gate = np.zeros(n)
    rise = float(rng.choice([0.0, rng.uniform(0.0002, 0.001)]))
    onsets = []
    t = int(rng.uniform(0.0, 0.3) * SYNTH_RATE)
    while t < n:
        length = int(np.exp(rng.uniform(np.log(0.05), np.log(2.0))) * SYNTH_RATE)
        end = min(n, t + length)
        gate[t:end] = _ramp(end - t, rise) if rise > 0 else 1.0
        onsets.append(round(t / SYNTH_RATE, 4))
        t = end + int(np.exp(rng.uniform(np.log(0.05), np.log(2.0))) * SYNTH_RATE)
    return noise * gate, {"onsets_s": onsets, "rise_s": rise}


def _vibrato(rng: np.random.Generator, n: int) -> tuple[np.ndarray, Meta]:
    """Sustained harmonic notes (0.5-5 s) with vibrato (4-7 Hz, 0-2 %) and slight tremolo."""
    out = np.zeros(n)
    t = 0
    rate = float(rng.uniform(4.0, 7.0))
    depth = float(rng.choice([0.0, rng.uniform(0.003, 0.02)]))
    while t < n:
        length = int(rng.uniform(0.5, 5.0) * SYNTH_RATE)
        end = min(n, t + length)
        k = np.arange(end - t) / SYNTH_RATE
        f0 = float(np.exp(rng.uniform(np.log(110.0), np.log(1000.0))))
        inst = 1.0 + depth * np.sin(2 * np.pi * rate * k + rng.uniform(0, 2 * np.pi))
        phase = 2 * np.pi * f0 * np.cumsum(inst) / SYNTH_RATE
        harmonics = int(rng.integers(1, 8))
        tone = sum(np.sin(h * phase) / h ** rng.uniform(0.8, 2.0) for h in range(1, harmonics + 1)
                   if h * f0 * (1 + depth) < 10000.0)
        tremolo = 1.0 + rng.uniform(0.0, 0.15) * np.sin(2 * np.pi * rate * k)
        out[t:end] = tone * tremolo * _ramp(end - t, rng.uniform(0.01, 0.1))
        t = end + int(rng.uniform(0.0, 0.2) * SYNTH_RATE)
    return out, {"vibrato_hz": rate, "vibrato_depth": depth}


def _pulses(rng: np.random.Generator, n: int) -> tuple[np.ndarray, Meta]:
    """Rhythmic pulses: metronome ticks (woodblock 1-5 kHz) or kick drums (50-120 Hz), 0.2-1.5 s period."""
    kind = str(rng.choice(["metronome", "kick", "mixed"]))
    period = float(np.exp(rng.uniform(np.log(0.2), np.log(1.5))))
    out = np.zeros(n)
    onsets = []
    t = rng.uniform(0.0, period)
    beat = 0
    while int(t * SYNTH_RATE) < n:
        start = int(t * SYNTH_RATE)
        use_kick = kind == "kick" or (kind == "mixed" and beat % 2 == 0)
        if use_kick:
            decay, freq = rng.uniform(0.03, 0.15), rng.uniform(50.0, 120.0)
        else:
            decay, freq = rng.uniform(0.003, 0.02), rng.uniform(1000.0, 5000.0)
        k = np.arange(min(n - start, int(6 * decay * SYNTH_RATE) + 1)) / SYNTH_RATE
        sweep = freq * (1.0 + (1.5 if use_kick else 0.0) * np.exp(-k / 0.01))
        hit = np.sin(2 * np.pi * np.cumsum(sweep) / SYNTH_RATE) * np.exp(-k / decay)
        accent = 1.0 if beat % 4 == 0 else rng.uniform(0.5, 0.9)
        out[start:start + k.size] += hit * accent
        onsets.append(round(t, 4))
        beat += 1
        t += period * (1.0 + rng.normal(0.0, 0.003))
    return out, {"pulse_kind": kind, "period_s": period, "onsets_s": onsets[:64]}


def _pumping(rng: np.random.Generator, n: int) -> tuple[np.ndarray, Meta]:
    """Loud / soft alternation (15-30 dB, 0.1-1.5 s segments): pumps a fast WDRC."""
    base = _spectral_noise(rng, n, _speech_shape_db) if rng.random() < 0.6 else _music(rng, n)
    drop = float(rng.uniform(15.0, 30.0))
    envelope = np.zeros(n)
    t = 0
    loud = bool(rng.random() < 0.5)
    while t < n:
        end = min(n, t + int(rng.uniform(0.1, 1.5) * SYNTH_RATE))
        envelope[t:end] = 1.0 if loud else 10.0 ** (-drop / 20.0)
        loud = not loud
        t = end
    envelope = lfilter([0.02], [1.0, -0.98], envelope, zi=[0.98 * envelope[0]])[0]  # ~2 ms edges
    return base * envelope, {"drop_db": drop}


def _breathing(rng: np.random.Generator, n: int) -> tuple[np.ndarray, Meta]:
    """Low-level speech-like input with long pauses: opens and closes an expander / noise gate."""
    source = _speech(rng, n) if rng.random() < 0.6 else _modulated(rng, n)
    gate = np.zeros(n)
    t = 0
    while t < n:
        end = min(n, t + int(rng.uniform(0.3, 2.0) * SYNTH_RATE))
        gate[t:end] = _ramp(end - t, 0.02)
        t = end + int(rng.uniform(0.3, 2.0) * SYNTH_RATE)
    return source * gate, {}


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


Generator = Callable[[np.random.Generator, int], tuple[np.ndarray, Meta]]


def _plain(generator: Callable[[np.random.Generator, int], np.ndarray]) -> Generator:
    return lambda rng, n: (generator(rng, n), {})


_GENERATORS: dict[str, Generator] = {
    "speech_like": _plain(_speech),
    "pink": _plain(lambda rng, n: _spectral_noise(rng, n, _pink_db)),
    "speech_shaped": _plain(lambda rng, n: _spectral_noise(rng, n, _speech_shape_db)),
    "modulated": _plain(_modulated),
    "tones": _tones,
    "sweep": _sweep,
    "multitone": _multitone,
    "gated_noise": _gated_noise,
    "vibrato": _vibrato,
    "pulses": _pulses,
    "music_like": _plain(_music),
    "pumping": _pumping,
    "breathing": _breathing,
}
HARD_NEGATIVES: tuple[str, ...] = ("tones", "sweep", "multitone", "gated_noise", "vibrato", "pulses", "pumping",
                                   "breathing")


def active_rms(signal: np.ndarray, sample_rate: int) -> float:
    """RMS over the 50 ms frames within 30 dB of the loudest one (the speech-level convention)."""
    block = max(1, int(0.05 * sample_rate))
    count = max(1, signal.size // block)
    if signal.size < block:
        return float(np.sqrt(np.mean(signal**2))) if signal.size else 0.0
    power = np.mean(signal[: count * block].reshape(count, block) ** 2, axis=1)
    active = power >= power.max() * 1e-3
    return float(np.sqrt(np.mean(power[active]))) if power.max() > 0 else 0.0


def render_stimulus(rng: np.random.Generator, kind: str, n_samples: int, sample_rate: int, level_db: float,
                    *, bank: Any = None, split: str = "all") -> tuple[np.ndarray | None, Meta]:
    """One input stimulus and what was drawn for it.

    Parameters
    ----------
    rng : numpy.random.Generator
    kind : str
        ``"quiet"``, one of the synthetic ``STIMULI`` or, with ``bank``, one of
        its kinds (``BANK_KINDS``). Without a bank ``speech`` / ``music`` mean
        ``speech_like`` / ``music_like``.
    n_samples, sample_rate : int
        Length and rate of the recording.
    level_db : float
        Input level, dB SPL (RMS over the active parts).
    bank : simulate.bank.StimulusBank, optional
        Source of the real-sound kinds.
    split : str
        Which of the bank's clip groups to use (``train``, ``val``, ``test``,
        ``foreign`` or ``all``).

    Returns
    -------
    signal : numpy.ndarray or None
        ``(n_samples,)`` float64 pressure in Pa; None for ``"quiet"``.
    meta : dict
        ``stimulus_source`` (``synthetic``, ``none`` or the bank's source), the
        bank's ``clips``, and kind-specific parameters in seconds (tone steps,
        burst onsets, pulse period ...).
    """
    if kind == "quiet":
        return None, {"stimulus_source": "none"}
    if bank is not None and kind in BANK_KINDS:
        if kind not in bank.kinds:
            raise ValueError(f"the stimulus bank has no {kind!r} clips (it has {', '.join(bank.kinds)})")
        signal, meta = bank.render(rng, kind, n_samples, sample_rate, level_db, split)
        return np.asarray(signal, dtype=np.float64), dict(meta)
    kind = ALIASES.get(kind, kind) if bank is None else kind
    if kind not in _GENERATORS:
        raise ValueError(f"unknown stimulus {kind!r}; choose one of {', '.join(STIMULI)}"
                         + ("" if bank is not None else " (bank kinds need a stimulus bank)"))
    n_synth = int(np.ceil(n_samples * SYNTH_RATE / sample_rate)) + 16
    signal, meta = _GENERATORS[kind](rng, n_synth)
    meta = {"stimulus_source": "synthetic", **meta}
    if sample_rate != SYNTH_RATE:
        signal = soxr.resample(signal, SYNTH_RATE, sample_rate, quality="HQ")
    signal = np.resize(signal, n_samples) if signal.size < n_samples else signal[:n_samples]
    rms = active_rms(signal, sample_rate)
    if rms <= 0:
        return np.zeros(n_samples), meta
    return signal * (P_REF * 10.0 ** (level_db / 20.0) / rms), meta


def make_stimulus(rng: np.random.Generator, kind: str, n_samples: int, sample_rate: int,
                  level_db: float) -> np.ndarray | None:
    """One synthetic input stimulus (see ``render_stimulus``; ``speech`` / ``music`` are the synthetic ones).

    Returns
    -------
    numpy.ndarray or None
        ``(n_samples,)`` float64 pressure in Pa; None for ``"quiet"``.
    """
    return render_stimulus(rng, kind, n_samples, sample_rate, level_db)[0]
