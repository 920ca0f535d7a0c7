"""Narrow-band extraction of spectral lines (a whine, a clock, a comb's harmonics).

A line at a known frequency is demodulated to 0 Hz, smoothed with a Hann
low-pass a fraction of a second long, and modulated back: what comes out is
the line with its slowly varying amplitude and phase, and of everything else
only what falls within a few hertz of it. The reported frequency is refined
first on a fine spectrum of the segment, since a few hertz of error would
turn into a beat.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.signal import fftconvolve

#: Length of the Hann low-pass (s): a pass band of about +-1 / this (Hz).
SMOOTHING_S = 0.4
#: Segment length used to refine a frequency (s); longer segments are cut.
_REFINE_S = 30.0


def refine_frequency(segment: np.ndarray, sample_rate: int, frequency_hz: float,
                     tolerance_hz: float | None = None) -> float:
    """The exact frequency of the strongest peak near ``frequency_hz`` (Hz).

    Parameters
    ----------
    segment : np.ndarray
        Mono samples, shape ``(n,)``.
    sample_rate : int
        Hz.
    frequency_hz : float
        The line as reported (e.g. within 1 % or 16 Hz of the truth).
    tolerance_hz : float, optional
        Search half-width; by default max(1.5 %, 20 Hz).

    Returns
    -------
    float
        The refined frequency (parabolic interpolation on a 4x zero-padded
        Hann spectrum), or ``frequency_hz`` when the segment is too short.
    """
    x = np.asarray(segment, dtype=np.float64)[: int(_REFINE_S * sample_rate)]
    if x.size < 64:
        return float(frequency_hz)
    tolerance = max(0.015 * frequency_hz, 20.0) if tolerance_hz is None else tolerance_hz
    n_fft = 4 * 2 ** int(np.ceil(np.log2(x.size)))
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), n_fft))
    bin_hz = sample_rate / n_fft
    low = max(1, int((frequency_hz - tolerance) / bin_hz))
    high = min(spectrum.size - 2, int(np.ceil((frequency_hz + tolerance) / bin_hz)))
    if high <= low:
        return float(frequency_hz)
    k = low + int(np.argmax(spectrum[low:high + 1]))
    a, b, c = np.log(spectrum[k - 1:k + 2] + 1e-30)
    shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) < 0 else 0.0
    return float((k + np.clip(shift, -0.5, 0.5)) * bin_hz)


def extract_lines(segment: np.ndarray, sample_rate: int, frequencies_hz: Sequence[float],
                  smoothing_s: float = SMOOTHING_S) -> np.ndarray:
    """The sum of the lines at ``frequencies_hz`` in ``segment``, same shape (float32).

    Each frequency is refined (:func:`refine_frequency`) and extracted by
    complex demodulation and a Hann low-pass of ``smoothing_s`` seconds,
    normalised at the segment's edges so that a steady line keeps its
    amplitude there too. Frequencies at or above Nyquist are skipped.
    """
    x = np.asarray(segment, dtype=np.float64)
    out = np.zeros(x.size)
    if x.size == 0:
        return out.astype(np.float32)
    length = max(3, min(x.size, int(smoothing_s * sample_rate)))
    kernel = np.hanning(length + 2)[1:-1]
    kernel /= kernel.sum()
    norm = fftconvolve(np.ones(x.size), kernel, mode="same")
    t = np.arange(x.size) / sample_rate
    done: list[float] = []
    for reported in frequencies_hz:
        if not 0 < reported < sample_rate / 2:
            continue
        frequency = refine_frequency(x, sample_rate, reported)
        if any(abs(frequency - f) < 2.0 / smoothing_s for f in done):
            continue  # two reports of one line
        done.append(frequency)
        carrier = np.exp(-2j * np.pi * frequency * t)
        base = fftconvolve(x * carrier, kernel, mode="same") / norm
        out += 2.0 * np.real(base * np.conj(carrier))
    return out.astype(np.float32)
