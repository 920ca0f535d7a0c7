"""Band envelopes and their repetition period (ticks, thumps, bursts, floor modulation)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from audio_artifacts.explain.peaks import find_peaks

#: Sample rate of band envelopes (Hz): 2 ms steps resolve a 20 Hz motorboat's period to 4 %, refined below.
ENVELOPE_RATE = 500


def band_envelope(signal: np.ndarray, rate: int, band_hz: tuple[float, float],
                  envelope_rate: int = ENVELOPE_RATE) -> np.ndarray:
    """Mean power of ``signal`` in ``band_hz`` per ``1 / envelope_rate`` step, ``(steps,)`` float64.

    The band of a zero-phase 4th-order Butterworth filter (high- or low-pass
    where the band reaches 0 or Nyquist), from the signal's spectrum
    (:class:`~audio_artifacts.explain.envelopes.BandEnvelopes`; for several
    bands of one signal, make one of those and ask it for each).
    """
    from audio_artifacts.explain.envelopes import BandEnvelopes

    return BandEnvelopes(signal, rate, envelope_rate).envelope(band_hz)


@dataclass(frozen=True)
class Periodicity:
    """The repetition of an envelope: period (s) and normalised autocorrelation at it (0..1)."""

    period_s: float
    strength: float


def autocorrelation_period(envelope: np.ndarray, envelope_rate: float, min_s: float = 0.04,
                           max_s: float = 2.0) -> Periodicity | None:
    """The period of a (log) envelope from its autocorrelation, or None.

    The first autocorrelation peak of at least 0.8 x the highest one is taken
    (so twice the period does not win), its lag refined by a parabola and by
    the peaks at its multiples (least squares over ``k * period``).
    """
    e = np.log(np.maximum(np.asarray(envelope, dtype=np.float64), 1e-30))
    e = e - e.mean()
    n = e.size
    max_lag = min(int(max_s * envelope_rate), n // 2)
    min_lag = max(2, int(min_s * envelope_rate))
    if max_lag <= min_lag + 2 or not np.any(e):
        return None
    spectrum = np.fft.rfft(e, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[:n]
    acf = acf / np.maximum(np.arange(n, 0, -1), 1)  # unbiased: long lags average fewer products
    acf = acf / acf[0]
    peaks = find_peaks(acf[:max_lag + 1])
    peaks = peaks[peaks >= min_lag]
    if peaks.size == 0:
        return None
    top = acf[peaks].max()
    if top <= 0.05:
        return None
    lag = int(peaks[np.argmax(acf[peaks] >= 0.8 * top)])
    first = _parabolic(acf, lag)
    # Multiples of the lag sharpen it: a k-th peak's error is the same number of steps.
    multiples = [(1, first)]
    for k in range(2, 40):
        guess = k * first
        if guess + 2 >= n // 2:
            break
        lo, hi = int(guess - 0.15 * first), int(guess + 0.15 * first) + 1
        local = lo + int(np.argmax(acf[lo:hi]))
        if 0 < local < n - 1 and acf[local] >= 0.5 * acf[lag]:
            multiples.append((k, _parabolic(acf, local)))
    ks = np.array([k for k, _ in multiples], dtype=float)
    lags = np.array([v for _, v in multiples])
    period = float(np.sum(ks * lags) / np.sum(ks * ks)) / envelope_rate
    return Periodicity(period, float(np.clip(acf[lag], 0.0, 1.0)))


def _parabolic(values: np.ndarray, index: int) -> float:
    if index <= 0 or index >= values.size - 1:
        return float(index)
    a, b, c = values[index - 1], values[index], values[index + 1]
    denominator = a - 2 * b + c
    return float(index + (np.clip(0.5 * (a - c) / denominator, -0.5, 0.5) if denominator < 0 else 0.0))


def impulse_times(envelope: np.ndarray, envelope_rate: float, floor: float, *, over_db: float = 10.0,
                  min_gap_s: float = 0.03) -> np.ndarray:
    """Times (s) of the envelope's peaks ``over_db`` above ``floor``, at least ``min_gap_s`` apart."""
    envelope = np.asarray(envelope, dtype=np.float64)
    if envelope.size < 3:
        return np.zeros(0)
    peaks = find_peaks(envelope, height=floor * 10 ** (over_db / 10.0),
                      distance=max(1, int(min_gap_s * envelope_rate)))
    return peaks / envelope_rate


def interval_period(times: np.ndarray) -> Periodicity | None:
    """The period of an impulse train from its intervals (median), or None if irregular.

    Strength is ``1 - spread`` (interquartile range over median of the intervals).
    """
    if times.size < 3:
        return None
    intervals = np.diff(np.sort(times))
    median = float(np.median(intervals))
    if median <= 0:
        return None
    spread = float(np.subtract(*np.percentile(intervals, [75, 25])) / median)
    if spread > 0.2:
        return None
    # A fit over the whole train (onsets against their numbers) averages the jitter.
    numbers = np.round((times - times[0]) / median)
    if np.unique(numbers).size == numbers.size:
        slope = np.polyfit(numbers, times, 1)[0]
        if abs(slope / median - 1.0) < 0.1:
            median = float(slope)
    return Periodicity(median, float(np.clip(1.0 - spread, 0.0, 1.0)))
