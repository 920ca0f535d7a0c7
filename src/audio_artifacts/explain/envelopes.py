"""Band power envelopes of one event, all from one spectrum of its audio.

An event is measured in many bands (nine octaves, its stationary and its
impulsive band). Filtering the whole signal once per band in the time domain
costs a pass over every sample per band; here the signal is transformed once
and each band's envelope comes from that band's bins alone:

* the bins are weighted by the zero-phase response a forward-backward
  4th-order Butterworth filter of the band would have (its squared
  magnitude, ``|H|^2``, from the bilinear design ``scipy.signal.butter``
  makes), so the band's shape is that of ``sosfiltfilt``;
* the weighted bins, shifted to 0 Hz, are transformed back at a rate just
  above the band's width: the band's analytic signal ``z``;
* ``|z|^2 / 2`` averaged over each ``1 / envelope_rate`` step is the band's
  mean power in that step (a sine of amplitude A reads A^2 / 2, as the mean
  square of the filtered signal does; the carrier's ripple is gone).

The signal is mirrored at both ends before the transform, so the circular
transform does not wrap the end's sound onto the start.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sp_fft

#: Butterworth order of the bands (as ``periods.band_envelope`` was designed).
ORDER = 4
#: Bins whose zero-phase amplitude response is under this (-80 dB) are left out.
_STOP = 1e-4
#: Mirrored at each end (s): longer than the lowest band's filter rings.
_MIRROR_S = 0.1


class BandEnvelopes:
    """The spectrum of one signal, from which any band's power envelope is cut.

    Parameters
    ----------
    signal : numpy.ndarray
        ``(samples,)`` mono.
    rate : int
        Its sample rate (Hz).
    envelope_rate : int
        Steps per second of the envelopes; a step is ``round(rate / envelope_rate)`` samples.
    """

    def __init__(self, signal: np.ndarray, rate: int, envelope_rate: int) -> None:
        self.rate = int(rate)
        self.step = max(1, int(round(self.rate / envelope_rate)))
        x = np.asarray(signal, dtype=np.float64)
        self.size = x.size
        self.count = x.size // self.step
        self._signal = x
        self._spectrum = None
        if self.count == 0 or x.size <= 64:
            return
        mirror = self.step * int(np.ceil(min(_MIRROR_S * self.rate, x.size - 1) / self.step))
        padded = np.pad(x, (mirror, mirror), mode="reflect") if mirror else x
        steps = sp_fft.next_fast_len(int(np.ceil(padded.size / self.step)), real=True)
        self.n = steps * self.step  # a whole number of steps, a fast length
        self._first_step = mirror // self.step
        self._steps = steps
        self._spectrum = sp_fft.rfft(padded, self.n)

    def envelope(self, band_hz: tuple[float, float]) -> np.ndarray:
        """Mean power in ``band_hz`` per step, ``(steps,)`` float64 (edges near 0 or Nyquist are left open)."""
        low, high = float(band_hz[0]), float(band_hz[1])
        nyquist = self.rate / 2.0
        use_low, use_high = low > 5.0, high < 0.95 * nyquist
        if self.count == 0:
            return np.zeros(0)
        if self._spectrum is None or not (use_low or use_high):
            x = self._signal[:self.count * self.step]
            return (x**2).reshape(self.count, self.step).mean(axis=1)
        lo_hz, hi_hz = pass_range(self.rate, low if use_low else None, high if use_high else None)
        resolution = self.rate / self.n
        offset = int(np.floor(lo_hz / resolution))
        bins = np.arange(offset, min(int(np.ceil(hi_hz / resolution)) + 1, self._spectrum.size))
        response = zero_phase_response(bins * resolution, self.rate, low if use_low else None,
                                       high if use_high else None)
        kept = np.flatnonzero(response > _STOP)
        if kept.size == 0:
            return np.zeros(self.count)
        first, last = int(kept[0]), int(kept[-1])
        width = last - first + 1
        response = response[first:last + 1]
        first, last = first + offset, last + offset
        per_step = sp_fft.next_fast_len(int(np.ceil(width / self._steps)))
        length = self._steps * per_step
        shifted = np.zeros(length, dtype=np.complex128)
        shifted[:width] = self._spectrum[first:last + 1] * response
        if first == 0:
            shifted[0] *= 0.5  # the 0 Hz bin is its own mirror image: counted once in the real signal
        z = sp_fft.ifft(shifted) * (2.0 * length / self.n)
        power = (z.real**2 + z.imag**2) / 2.0
        steps = power.reshape(self._steps, per_step).mean(axis=1)
        return steps[self._first_step:self._first_step + self.count].copy()


def pass_range(rate: int, low: float | None, high: float | None) -> tuple[float, float]:
    """The frequencies (Hz) outside which :func:`zero_phase_response` is under the stop level."""
    reach = (1.0 / _STOP - 1.0) ** (1.0 / (2 * ORDER))  # |ratio| where the response falls to _STOP
    nyquist = rate / 2.0
    to_hz = lambda omega: float(np.arctan(omega) * rate / np.pi)  # noqa: E731
    if low is not None and high is not None:
        w1, w2 = np.tan(np.pi * low / rate), np.tan(np.pi * high / rate)
        c, root = reach * (w2 - w1), np.sqrt((reach * (w2 - w1)) ** 2 + 4 * w1 * w2)
        return max(0.0, to_hz((root - c) / 2)), min(nyquist, to_hz((root + c) / 2))
    if low is not None:
        return to_hz(np.tan(np.pi * low / rate) / reach), nyquist
    if high is not None:
        return 0.0, min(nyquist, to_hz(np.tan(np.pi * high / rate) * reach))
    return 0.0, nyquist


def zero_phase_response(freqs: np.ndarray, rate: int, low: float | None, high: float | None) -> np.ndarray:
    """Amplitude response ``|H(f)|^2`` of a 4th-order Butterworth band run forward and back (``None``: edge open).

    The digital design maps ``f`` to ``tan(pi f / rate)`` (bilinear transform
    with pre-warped edges), where the analogue prototype's magnitude is known.
    """
    omega = np.tan(np.pi * np.minimum(np.asarray(freqs, dtype=np.float64), 0.5 * rate * (1 - 1e-9)) / rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        if low is not None and high is not None:
            w1, w2 = np.tan(np.pi * low / rate), np.tan(np.pi * high / rate)
            ratio = (omega**2 - w1 * w2) / (omega * (w2 - w1))
        elif low is not None:
            ratio = np.tan(np.pi * low / rate) / omega
        elif high is not None:
            ratio = omega / np.tan(np.pi * high / rate)
        else:
            return np.ones_like(omega)
        once = 1.0 / (1.0 + np.abs(ratio) ** (2 * ORDER))  # |H|^2 of one pass: the amplitude of two
    return np.nan_to_num(once, nan=0.0)
