"""Level measurement shared by the simulator and on-the-fly augmentation.

Every artifact level in this package is an *artifact-to-floor ratio* in dB in
the band where the artifact stands out most: with one short-time analysis
(Hann frames of about 32 ms, half overlap), the artifact's power and the
floor's power are summed in one-third-octave bands (at least 100 Hz wide,
from 50 Hz to 0.45 x the sample rate) and the level is the largest ratio
over the bands. The artifact's power is its mean over the frames where it is
active for stationary types, its loudest frame for impulsive ones. For a
tonal line this is about its tone-to-noise ratio in one third octave. Floor
bands more than 25 dB (power per Hz) below the loudest floor band count as
25 dB below it (``artifacts.effective_floor_bands``).

The *floor* of a recording is, per FFT bin, the 20th percentile of its frame
powers divided by ``-ln(0.8)`` (unbiased for stationary Gaussian noise): for
a quiet input that is the device's own noise, for speech or music the level
in the pauses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_SECONDS = 0.032
_PERCENTILE = 20.0
# For chi-square(2) frame powers the q-quantile is -ln(1 - q) times the mean.
_PERCENTILE_BIAS = -np.log(1.0 - _PERCENTILE / 100.0)


def frame_length(sample_rate: int) -> int:
    """Analysis frame length in samples (about 32 ms, even)."""
    return max(16, 2 * int(round(FRAME_SECONDS * sample_rate / 2)))


def frame_powers(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """Short-time power spectra.

    Parameters
    ----------
    signal : numpy.ndarray
        ``(samples,)`` mono signal.
    sample_rate : int
        Hz.

    Returns
    -------
    numpy.ndarray
        ``(frames, bins)`` float64 power per FFT bin (Hann window, hop = half a
        frame; a signal shorter than a frame is zero-padded to one frame).
    """
    x = np.asarray(signal, dtype=np.float64)
    n = frame_length(sample_rate)
    hop = n // 2
    if x.size < n:
        x = np.pad(x, (0, n - x.size))
    count = 1 + (x.size - n) // hop
    frames = np.lib.stride_tricks.as_strided(
        x, shape=(count, n), strides=(x.strides[0] * hop, x.strides[0]), writeable=False
    )
    window = np.hanning(n)
    spectra = np.fft.rfft(frames * window, axis=1)
    return (spectra.real**2 + spectra.imag**2) / float(np.sum(window**2))


def frame_times(n_frames: int, sample_rate: int) -> np.ndarray:
    """Centre time in seconds of each analysis frame, ``(frames,)``."""
    n = frame_length(sample_rate)
    return (np.arange(n_frames) * (n // 2) + n / 2) / sample_rate


def band_bins(sample_rate: int, low_hz: float, high_hz: float) -> slice:
    """The FFT bins of the analysis frame inside ``[low_hz, high_hz]`` (at least one)."""
    n = frame_length(sample_rate)
    resolution = sample_rate / n
    lo = int(np.clip(np.ceil(low_hz / resolution), 1, n // 2))
    hi = int(np.clip(np.floor(high_hz / resolution), lo, n // 2))
    return slice(lo, hi + 1)


def analysis_bands(sample_rate: int) -> list[tuple[float, float]]:
    """One-third-octave bands (at least 100 Hz wide) from 50 Hz to 0.45 x ``sample_rate``, Hz."""
    bands = []
    low = 50.0
    top = 0.45 * sample_rate
    while low < top:
        high = min(top, max(low * 2 ** (1 / 3), low + 100.0))
        bands.append((low, high))
        low = high
    return bands


def band_matrix(sample_rate: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """``(bins, bands)`` 0/1 matrix summing analysis-frame bins into ``analysis_bands``."""
    bands = analysis_bands(sample_rate)
    freqs = np.fft.rfftfreq(frame_length(sample_rate), 1.0 / sample_rate)
    matrix = np.zeros((freqs.size, len(bands)))
    for j, (low, high) in enumerate(bands):
        matrix[(freqs >= low) & (freqs < high), j] = 1.0
    return matrix, bands


@dataclass(frozen=True)
class FloorSpectrum:
    """A recording's floor: power per analysis-frame FFT bin.

    Attributes
    ----------
    sample_rate : int
        Hz of the recording it was measured on.
    power : numpy.ndarray
        ``(bins,)`` floor power per bin of a ``frame_length(sample_rate)`` frame.
    """

    sample_rate: int
    power: np.ndarray

    def band_power(self, low_hz: float, high_hz: float) -> float:
        """Floor power summed over ``[low_hz, high_hz]`` (same units as ``frame_powers``)."""
        return float(np.sum(self.power[band_bins(self.sample_rate, low_hz, high_hz)]))


def estimate_floor(signal: np.ndarray, sample_rate: int) -> FloorSpectrum:
    """Estimate a recording's floor from its artifact-free signal.

    Parameters
    ----------
    signal : numpy.ndarray
        ``(samples,)`` mono float signal, any scale.
    sample_rate : int
        Hz.

    Returns
    -------
    FloorSpectrum
        Per-bin 20th percentile of the frame powers, bias-corrected; frames
        of digital silence (exact zeros) are left out.
    """
    powers = frame_powers(signal, sample_rate)
    # Digitally silent frames (an analyzer that started late, stopped early) are no floor.
    sounding = powers.sum(axis=1) > 1e-24 * powers.shape[1]
    if sounding.sum() >= 2:
        powers = powers[sounding]
    floor = np.percentile(powers, _PERCENTILE, axis=0) / _PERCENTILE_BIAS
    # A digitally silent band must not give an infinite ratio.
    floor = np.maximum(floor, 1e-20)
    return FloorSpectrum(sample_rate=sample_rate, power=floor)


def band_power_track(signal: np.ndarray, sample_rate: int, low_hz: float, high_hz: float) -> np.ndarray:
    """Power in ``[low_hz, high_hz]`` per analysis frame, ``(frames,)``."""
    return frame_powers(signal, sample_rate)[:, band_bins(sample_rate, low_hz, high_hz)].sum(axis=1)
