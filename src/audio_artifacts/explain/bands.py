"""Per-octave-band profiles of an event: what stands out where, robust to a stimulus.

A stimulus (speech, music) is loud but smooth in time and not periodic; the
artifacts are impulsive (ticks, thumps, clicks), periodic (gated floor,
trains) or stationary. For each octave band the profile gives the envelope's
local contrast (peak over its running median: impulses), how many such
impulses and how regular, and the strength of its periodicity.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.ndimage import median_filter

from audio_artifacts.explain.periods import (
    ENVELOPE_RATE,
    autocorrelation_period,
    band_envelope,
    interval_period,
)

#: Octave bands (Hz) the profile is measured in; those above 0.45 x the rate read zeros.
OCTAVE_BANDS = ((44.0, 88.0), (88.0, 177.0), (177.0, 355.0), (355.0, 710.0), (710.0, 1420.0),
                (1420.0, 2840.0), (2840.0, 5680.0), (5680.0, 11360.0), (11360.0, 20000.0))
#: The measures per band, in order.
PROFILE_NAMES = ("contrast_db", "impulses_log", "regularity", "periodicity")
_CONTEXT_S = 0.2  # the running median an impulse is compared with


def octave_profile(signal: np.ndarray, rate: int, offset_s: float, span_s: tuple[float, float]) -> np.ndarray:
    """``(len(OCTAVE_BANDS), len(PROFILE_NAMES))`` measures inside ``span_s`` (recording seconds)."""
    out = np.zeros((len(OCTAVE_BANDS), len(PROFILE_NAMES)))
    current, current_rate = np.asarray(signal, dtype=np.float64), int(rate)
    for k in range(len(OCTAVE_BANDS) - 1, -1, -1):  # high to low: halve the rate as the bands go down
        low, high = OCTAVE_BANDS[k]
        if low >= 0.45 * rate:
            continue
        while current_rate % 2 == 0 and current_rate / 2 >= 4 * high and current.size > 256:
            current, current_rate = _halve(current), current_rate // 2
        envelope = band_envelope(current, current_rate, (low, min(high, 0.45 * current_rate)))
        if envelope.size < 16:
            continue
        times = offset_s + (np.arange(envelope.size) + 0.5) / ENVELOPE_RATE
        inside = (times >= span_s[0]) & (times <= span_s[1])
        if inside.sum() < 16:
            inside[:] = True
        smoothing = max(1, int(round(ENVELOPE_RATE * 2.0 / (high - low))))
        if smoothing > 1:
            envelope = np.convolve(envelope, np.ones(smoothing) / smoothing, mode="same")
        level = 10 * np.log10(np.maximum(envelope, 1e-30))
        context = median_filter(level, size=int(_CONTEXT_S * ENVELOPE_RATE) | 1, mode="nearest")
        contrast = (level - context)[inside]
        peaks = _peaks(contrast, 10.0, int(0.04 * ENVELOPE_RATE))
        train = interval_period(peaks / ENVELOPE_RATE) if peaks.size >= 3 else None
        periodic = autocorrelation_period(envelope[inside], ENVELOPE_RATE, 0.06, 1.5)
        span = max(inside.sum() / ENVELOPE_RATE, 1e-3)
        out[k] = (float(contrast.max()), float(np.log1p(peaks.size / span)),
                  train.strength if train else 0.0, periodic.strength if periodic else 0.0)
    return out


@lru_cache(maxsize=1)
def _half_band() -> np.ndarray:
    """The anti-alias filter of ``scipy.signal.decimate(x, 2)`` (Chebyshev I, order 8), designed once."""
    from scipy.signal import cheby1

    return cheby1(8, 0.05, 0.8 / 2, output="sos")


def _halve(x: np.ndarray) -> np.ndarray:
    """``scipy.signal.decimate(x, 2)``, without designing its filter on every call."""
    from scipy.signal import sosfiltfilt

    return sosfiltfilt(_half_band().copy(), x)[::2]


def _peaks(values: np.ndarray, height: float, distance: int) -> np.ndarray:
    from scipy.signal import find_peaks

    found, _ = find_peaks(values, height=height, distance=max(1, distance))
    return found
