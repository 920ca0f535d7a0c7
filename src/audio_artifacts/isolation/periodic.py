"""Synchronous averaging: the part of a segment that repeats every period (ticks, bursts, a buzz).

Every sample is assigned its phase within the period; the mean of all
samples at each phase is the repeating waveform, and laid back along the
segment it is the estimate of the periodic component. Whatever does not
repeat (speech, noise) averages towards zero, by the square root of the
number of periods; what is left of it is muted by a Wiener gain from the
spread of the samples at each phase (a tick fills a few milliseconds of a
period, the rest of the average is noise). The reported period is refined
first to the one whose average holds the most energy: a drift of a quarter
of a cycle over the segment (a few samples for a 4 kHz ring) cancels the
waveform in the average.
"""

from __future__ import annotations

import numpy as np

#: Noise estimate weight in the Wiener gain (> 1 mutes more of what is left of the noise).
OVER_SUBTRACTION = 4.0
#: Longest piece averaged with one waveform (s): slow drift and level changes are followed piecewise.
PIECE_S = 20.0


def _phase_bins(n: int, sample_rate: int, period_s: float) -> tuple[np.ndarray, int]:
    bins = max(2, int(round(period_s * sample_rate)))
    phase = (np.arange(n) / sample_rate / period_s) % 1.0
    return np.minimum((phase * bins).astype(np.int64), bins - 1), bins


def _average(x: np.ndarray, index: np.ndarray, bins: int) -> np.ndarray:
    counts = np.bincount(index, minlength=bins)
    sums = np.bincount(index, weights=x, minlength=bins)
    return np.divide(sums, counts, out=np.zeros(bins), where=counts > 0)


def _denoised_average(x: np.ndarray, index: np.ndarray, bins: int, sample_rate: int) -> np.ndarray:
    """The average with a Wiener gain per phase: phases where it does not stand out of its own spread are muted."""
    counts = np.maximum(np.bincount(index, minlength=bins), 1)
    mean = _average(x, index, bins)
    spread = np.bincount(index, weights=x * x, minlength=bins) / counts - mean ** 2
    smooth = np.hanning(max(3, int(0.001 * sample_rate)) + 2)[1:-1]
    smooth /= smooth.sum()
    # circular smoothing over ~1 ms of phase: the gain follows the waveform's envelope, not each sample
    signal = np.convolve(np.tile(mean ** 2, 3), smooth, mode="same")[bins:2 * bins]
    noise = np.convolve(np.tile(np.maximum(spread, 0) / counts, 3), smooth, mode="same")[bins:2 * bins]
    return mean * np.clip(1.0 - OVER_SUBTRACTION * noise / np.maximum(signal, 1e-30), 0.0, 1.0)


def _captured_energy(x: np.ndarray, sample_rate: int, period_s: float) -> float:
    """Energy of the denoised average laid along ``x``: what the period explains beyond noise."""
    index, bins = _phase_bins(x.size, sample_rate, period_s)
    counts = np.bincount(index, minlength=bins)
    return float(np.sum(_denoised_average(x, index, bins, sample_rate) ** 2 * counts))


def _onset_envelope(x: np.ndarray, sample_rate: int, rate: int) -> tuple[np.ndarray, int]:
    """|first difference| box-smoothed and decimated to about ``rate`` (Hz), mean removed: cheap to search periods on."""
    factor = max(1, sample_rate // rate)
    envelope = np.abs(np.diff(x, prepend=x[:1]))
    usable = (envelope.size // factor) * factor
    envelope = envelope[:usable].reshape(-1, factor).mean(axis=1)
    return envelope - envelope.mean(), sample_rate // factor


def refine_period(segment: np.ndarray, sample_rate: int, period_s: float, tolerance: float = 0.05) -> float:
    """The period within ``±tolerance`` (relative) of ``period_s`` whose synchronous average captures most energy (s).

    Searched on the onset envelope at about 4 kHz (or 20 points a period);
    the first grid is fine enough that the waveform drifts by at most a
    quarter of a millisecond over the segment between two candidates (a
    tick a few ms long is not missed between them), then it is narrowed twice,
    and last searched on the samples themselves.
    """
    x = np.asarray(segment, dtype=np.float64)[: int(PIECE_S * sample_rate)]
    periods = x.size / sample_rate / period_s
    if periods < 2:
        return float(period_s)
    envelope, rate = _onset_envelope(x, sample_rate, max(4000, int(20 / period_s)))
    step = min(tolerance / 10, 0.00025 / (periods * period_s))  # relative
    count = int(min(2001, 2 * np.ceil(tolerance / step) + 1))
    best, span = float(period_s), float(tolerance)
    for _ in range(3):
        candidates = best * (1.0 + np.linspace(-span, span, count))
        energies = [_captured_energy(envelope, rate, c) for c in candidates]
        best, span, count = float(candidates[int(np.argmax(energies))]), 2 * span / (count - 1), 21
    # Last, on the samples themselves: within a drift of two envelope points over the segment, to a
    # twentieth of a sample (the waveform of a 4 kHz ring cancels itself at a quarter-cycle of drift).
    span = 2.0 / rate / (x.size / sample_rate)
    candidates = best * (1.0 + np.linspace(-span, span, 81))
    energies = [_captured_energy(x, sample_rate, c) for c in candidates]
    return float(candidates[int(np.argmax(energies))])


def synchronous_average(segment: np.ndarray, sample_rate: int, period_s: float, refine: bool = True) -> np.ndarray:
    """The component of ``segment`` that repeats every ``period_s`` seconds, same shape (float32).

    Parameters
    ----------
    segment : np.ndarray
        Mono samples of the event, shape ``(n,)``.
    sample_rate : int
        Hz.
    period_s : float
        The reported period (s); refined within 5 % unless ``refine`` is false.

    Returns
    -------
    np.ndarray
        The repeating waveform laid along the segment (pieces of at most
        :data:`PIECE_S` seconds each get their own waveform). A segment
        shorter than two periods gives zeros: nothing can be seen to repeat.
    """
    x = np.asarray(segment, dtype=np.float64)
    out = np.zeros(x.size)
    if period_s <= 0 or x.size < 2 * period_s * sample_rate:
        return out.astype(np.float32)
    period = refine_period(x, sample_rate, period_s) if refine else float(period_s)
    piece = int(PIECE_S * sample_rate)
    for start in range(0, x.size, piece):
        part = x[start:start + piece]
        if part.size < 2 * period * sample_rate:
            part = x[max(0, x.size - piece):]  # a short tail uses the last full piece's waveform
            index, bins = _phase_bins(part.size, sample_rate, period)
            tail = _denoised_average(part, index, bins, sample_rate)[index]
            out[start:] = tail[part.size - (x.size - start):]
            break
        index, bins = _phase_bins(part.size, sample_rate, period)
        out[start:start + part.size] = _denoised_average(part, index, bins, sample_rate)[index]
    return out.astype(np.float32)
