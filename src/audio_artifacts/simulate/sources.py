"""Waveforms of the artifact mechanisms (REFERENCE.md section 3), at unit scale.

Each generator takes the activity blocks (sample intervals where the artifact's
cause is active) and returns a ``Source``: the waveform (any scale; levels are
set in ``artifacts.py``), the exact sample intervals where it sounds, whether
it is impulsive (level by the loudest frame) and the drawn physical parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.fft import next_fast_len
from scipy.signal import lfilter

from audio_artifacts.simulate.levels import FloorSpectrum, frame_length

Blocks = list[tuple[int, int]]


@dataclass
class Source:
    """One artifact's waveform before level scaling."""

    signal: np.ndarray                    # (n_samples,) float64
    intervals: Blocks                     # sample intervals where it sounds
    impulsive: bool                       # level from the loudest frame (else mean over intervals)
    params: dict[str, Any] = field(default_factory=dict)


def _gate(signal: np.ndarray, blocks: Blocks, sample_rate: int, ramp_s: float = 0.005) -> np.ndarray:
    """Zero outside the blocks, raised-cosine ramps just inside their edges."""
    mask = np.zeros(signal.size)
    ramp_n = max(1, int(ramp_s * sample_rate))
    for start, end in blocks:
        mask[start:end] = 1.0
        r = min(ramp_n, (end - start) // 2)
        if r > 0:
            edge = 0.5 - 0.5 * np.cos(np.pi * (np.arange(r) + 0.5) / r)
            mask[start:start + r] = edge
            mask[end - r:end] = edge[::-1]
    return signal * mask


def _highpass(signal: np.ndarray, sample_rate: int, corner_hz: float = 20.0) -> np.ndarray:
    """One-pole DC blocker (the device's output coupling)."""
    a = np.exp(-2 * np.pi * corner_hz / sample_rate)
    return lfilter([1.0, -1.0], [1.0, -a], signal)


def _smooth(signal: np.ndarray, sample_rate: int, corner_hz: float, order: int = 2) -> np.ndarray:
    """Cascade of one-pole low-passes (finite rise time of a supply droop)."""
    a = np.exp(-2 * np.pi * min(corner_hz, 0.45 * sample_rate) / sample_rate)
    for _ in range(order):
        signal = lfilter([1.0 - a], [1.0, -a], signal)
    return signal


def _top(sample_rate: int, hz: float) -> float:
    return min(hz, 0.45 * sample_rate)


def _drifting_phase(rng: np.random.Generator, n: int, sample_rate: int, drift: float) -> np.ndarray:
    """Cumulative relative frequency deviation (cycles per Hz of carrier), slow sinusoid + wander."""
    t = np.arange(n) / sample_rate
    period = rng.uniform(2.0, 20.0)
    knots = max(2, int(t[-1] / 2.0) + 2)
    wander = np.interp(t, np.linspace(0.0, t[-1] + 1e-9, knots), rng.uniform(-1, 1, knots))
    deviation = drift * (0.6 * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)) + 0.4 * wander)
    return np.cumsum(1.0 + deviation) / sample_rate


def tonal(rng: np.random.Generator, n: int, sample_rate: int, blocks: Blocks, floor: FloorSpectrum) -> Source:
    """Stationary line(s): a clock spur / idle tone, a DC-DC harmonic family or scattered spurs."""
    top = _top(sample_rate, 9000.0)
    mode = rng.choice(["single", "harmonic", "spurs"], p=[0.5, 0.3, 0.2])
    if mode == "single":
        freqs = [float(np.exp(rng.uniform(np.log(150.0), np.log(top))))]
    elif mode == "harmonic":
        f0 = float(np.exp(rng.uniform(np.log(200.0), np.log(min(2500.0, top / 2)))))
        freqs = [f0 * k for k in range(1, int(rng.integers(2, 7)) + 1) if f0 * k < top]
    else:
        freqs = sorted(float(f) for f in np.exp(rng.uniform(np.log(800.0), np.log(top), int(rng.integers(2, 7)))))
    amps = np.ones(len(freqs)) if mode == "single" else 10.0 ** (-rng.uniform(0.0, 12.0, len(freqs)) / 20.0)
    strongest = int(np.argmax(amps)) if mode != "harmonic" else 0
    amps[strongest] = 1.0
    # Slight drift (a DC-DC tone following its load): relative, up to 0.8 % and 40 Hz.
    drift = float(rng.choice([0.0, rng.uniform(0.001, 0.008)], p=[0.4, 0.6]))
    drift = min(drift, 40.0 / max(freqs))
    phase = _drifting_phase(rng, n, sample_rate, drift)
    signal = np.zeros(n)
    for f, a in zip(freqs, amps):
        signal += a * np.sin(2 * np.pi * f * phase + rng.uniform(0, 2 * np.pi))
    return Source(_gate(signal, blocks, sample_rate), blocks, False,
                  {"mode": str(mode), "frequencies_hz": freqs, "relative_amplitudes_db": list(20 * np.log10(amps)),
                   "drift": drift})


def _pulse_train(n: int, sample_rate: int, period_s: float, width_s: float, offset_s: float) -> np.ndarray:
    t = np.arange(n) / sample_rate + offset_s
    return ((t % period_s) < width_s).astype(np.float64)


def tdma_buzz(rng: np.random.Generator, n: int, sample_rate: int, blocks: Blocks, floor: FloorSpectrum) -> Source:
    """GSM-style TDMA bursts: 4.615 ms frames, one slot of eight (577 us), often the idle 26th frame."""
    frame = 0.004615
    offset = rng.uniform(0, frame)
    bursts = _pulse_train(n, sample_rate, frame, frame / 8.0, offset)
    idle = bool(rng.random() < 0.5)
    if idle:  # every 26th TDMA frame carries no burst (8.3 Hz sub-rhythm)
        bursts *= 1.0 - _pulse_train(n, sample_rate, 26 * frame, frame, offset + rng.uniform(0, 26 * frame))
    rise_hz = float(rng.uniform(2000.0, 10000.0))
    signal = _highpass(_smooth(bursts, sample_rate, rise_hz), sample_rate) * rng.choice([-1.0, 1.0])
    return Source(_gate(signal, blocks, sample_rate), blocks, False,
                  {"frame_s": frame, "duty": 0.125, "fundamental_hz": 1 / frame, "idle_frame": idle,
                   "rise_corner_hz": rise_hz})


def packet_buzz(rng: np.random.Generator, n: int, sample_rate: int, blocks: Blocks, floor: FloorSpectrum) -> Source:
    """BLE / LC3 / ASHA streaming: a radio event (TX, then RX) every connection interval."""
    kind = rng.choice(["lc3", "asha", "ble"], p=[0.35, 0.35, 0.3])
    if kind == "lc3":
        interval = float(rng.choice([0.0075, 0.010]))
    elif kind == "asha":
        interval = float(rng.choice([0.010, 0.020]))
    else:
        interval = 0.00125 * int(rng.integers(6, 33))  # 7.5 - 40 ms in 1.25 ms steps
    width = float(rng.uniform(0.0003, 0.0025))
    offset = rng.uniform(0, interval)
    train = _pulse_train(n, sample_rate, interval, width, offset)
    second = float(rng.uniform(0.0, 1.0))
    gap = float(rng.uniform(0.0005, 0.003))
    if second > 0.3:
        train += second * _pulse_train(n, sample_rate, interval, width * rng.uniform(0.3, 1.0), offset - width - gap)
    rise_hz = float(rng.uniform(2000.0, 10000.0))
    signal = _highpass(_smooth(train, sample_rate, rise_hz), sample_rate) * rng.choice([-1.0, 1.0])
    return Source(_gate(signal, blocks, sample_rate), blocks, False,
                  {"kind": str(kind), "interval_s": interval, "fundamental_hz": 1 / interval, "burst_s": width,
                   "second_burst_amplitude": second if second > 0.3 else 0.0, "rise_corner_hz": rise_hz})


def _impulses(rng: np.random.Generator, n: int, sample_rate: int, blocks: Blocks, period_s: float,
              jitter_s: float, shape: np.ndarray) -> tuple[np.ndarray, Blocks]:
    """Place ``shape`` every ``period_s`` (+ jitter) inside each block; returns signal and per-block spans."""
    signal = np.zeros(n)
    spans: Blocks = []
    for start, end in blocks:
        # The train's phase is uniform, but within a block shorter than one period the
        # first pulse is placed where it fits, so a short recording still holds one.
        room = max(0.0, (end - start - shape.size) / sample_rate)
        t = start + int(rng.uniform(0, min(period_s, room) if room > 0 else 0.0) * sample_rate)
        first = last = None
        while t + shape.size <= end:
            signal[t:t + shape.size] += shape * rng.uniform(0.85, 1.0)
            first = t if first is None else first
            last = t + shape.size
            t += int((period_s + rng.uniform(0.0, jitter_s)) * sample_rate)
        if first is not None:
            spans.append((first, last))
    return signal, spans


def _decay_length(sample_rate: int, decay_s: float) -> int:
    return max(8, int(5 * decay_s * sample_rate))  # down by 43 dB


def periodic_ticks(rng: np.random.Generator, n: int, sample_rate: int, blocks: Blocks, floor: FloorSpectrum) -> Source:
    """BLE advertising: a short tick (three channel bursts) every 0.5-1.3 s plus up to 10 ms advDelay."""
    period = float(rng.uniform(0.5, 1.3))
    corner = float(rng.uniform(400.0, 4000.0))
    burst = int(rng.uniform(0.0003, 0.001) * sample_rate) + 1
    spacing = int(rng.uniform(0.0004, 0.0012) * sample_rate) + burst
    raw = np.zeros(3 * spacing + _decay_length(sample_rate, 2.0 / corner))
    for k in range(3):
        raw[k * spacing:k * spacing + burst] = 1.0
    shape = _highpass(_smooth(raw, sample_rate, corner), sample_rate, 40.0)
    signal, spans = _impulses(rng, n, sample_rate, blocks, period, 0.010, shape * rng.choice([-1.0, 1.0]))
    return Source(signal, spans, True,
                  {"period_s": period + 0.010, "advertising_interval_s": period, "tick_s": shape.size / sample_rate,
                   "corner_hz": corner})


def thumps(rng: np.random.Generator, n: int, sample_rate: int, blocks: Blocks, floor: FloorSpectrum) -> Source:
    """Motorboating: damped low-frequency pulses repeating at 1-20 Hz."""
    rate = float(np.exp(rng.uniform(np.log(1.0), np.log(20.0))))
    freq = float(rng.uniform(40.0, 160.0))
    decay = float(rng.uniform(0.008, 0.05))
    k = np.arange(_decay_length(sample_rate, decay)) / sample_rate
    shape = np.sin(2 * np.pi * freq * k) * np.exp(-k / decay) * np.minimum(1.0, k / 0.002)
    signal, spans = _impulses(rng, n, sample_rate, blocks, 1.0 / rate, 0.03 / rate, shape)
    return Source(signal, spans, True,
                  {"rate_hz": rate, "period_s": 1.03 / rate, "frequency_hz": freq, "decay_s": decay})


def noise_am(rng: np.random.Generator, n: int, sample_rate: int, blocks: Blocks, floor: FloorSpectrum) -> Source:
    """Radio activity gating the noise floor: floor-shaped band noise switched at 1.5-12 Hz."""
    rate = float(rng.uniform(1.5, 12.0))
    # Every block holds at least one full gating period (short recordings, short blocks).
    shortest = min(end - start for start, end in blocks) / sample_rate
    rate = float(min(max(rate, 1.05 / max(shortest, 1e-3)), 0.25 * sample_rate))
    duty = float(rng.uniform(0.2, 0.6))
    low = float(np.exp(rng.uniform(np.log(100.0), np.log(1000.0))))
    high = float(_top(sample_rate, np.exp(rng.uniform(np.log(2000.0), np.log(8000.0)))))
    n_fft = next_fast_len(n, real=True)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    floor_bins = np.fft.rfftfreq(frame_length(sample_rate), 1.0 / sample_rate)
    shape = np.sqrt(np.interp(freqs, floor_bins, floor.power)) * ((freqs >= low) & (freqs <= high))
    noise = np.fft.irfft((rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size)) * shape, n_fft)[:n]
    edge = float(rng.uniform(0.002, 0.01))
    gate = _smooth(_pulse_train(n, sample_rate, 1.0 / rate, duty / rate, rng.uniform(0, 1.0 / rate)),
                   sample_rate, 1.0 / (2 * np.pi * edge), order=1)
    return Source(_gate(noise * gate, blocks, sample_rate), blocks, False,
                  {"rate_hz": rate, "duty": duty, "band_hz": [low, high], "edge_s": edge})


def clicks(rng: np.random.Generator, n: int, sample_rate: int, blocks: Blocks, floor: FloorSpectrum) -> Source:
    """Isolated pops / clicks / zipper bursts (power-state changes, gain steps), 1-4 per recording."""
    count = int(rng.integers(1, 5))
    kind = rng.choice(["pop", "click", "zipper"])
    decay = float(rng.uniform(0.001, 0.015))
    k = np.arange(_decay_length(sample_rate, decay)) / sample_rate
    if kind == "pop":
        shape = _highpass(np.exp(-k / decay), sample_rate, 20.0)
    elif kind == "click":
        shape = np.sin(2 * np.pi * rng.uniform(500.0, _top(sample_rate, 5000.0)) * k) * np.exp(-k / decay)
    else:
        steps = np.zeros(int(rng.uniform(0.02, 0.05) * sample_rate) + k.size)
        for s in np.sort(rng.integers(0, steps.size - k.size, int(rng.integers(3, 9)))):
            steps[s:s + k.size] += np.exp(-k / decay) * rng.choice([-1.0, 1.0])
        shape = _highpass(steps, sample_rate, 20.0)
    signal = np.zeros(n)
    spans: Blocks = []
    min_gap = int(0.5 * sample_rate)
    for _ in range(count * 4):  # a few tries to place well-separated clicks
        if len(spans) == count or n <= shape.size:
            break
        t = int(rng.integers(0, n - shape.size))
        if all(abs(t - s) > min_gap + shape.size for s, _ in spans):
            signal[t:t + shape.size] += shape * rng.uniform(0.7, 1.0) * rng.choice([-1.0, 1.0])
            spans.append((t, t + shape.size))
    return Source(signal, sorted(spans), True,
                  {"kind": str(kind), "decay_s": decay, "count": len(spans)})


GENERATORS: dict[str, Callable[[np.random.Generator, int, int, Blocks, FloorSpectrum], Source]] = {
    "tonal": tonal,
    "tdma_buzz": tdma_buzz,
    "packet_buzz": packet_buzz,
    "periodic_ticks": periodic_ticks,
    "thumps": thumps,
    "noise_am": noise_am,
    "clicks": clicks,
}
