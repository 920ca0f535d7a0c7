"""Short-time power spectra and spectral floors for measuring events."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

#: Target bin spacing of the fine spectrum (Hz): combs down to 25 Hz and lines within a few Hz.
FINE_RESOLUTION_HZ = 3.0
#: Frames transformed at once (bounds the complex intermediate's memory).
_CHUNK_FRAMES = 128


def fine_frame(rate: int, resolution_hz: float = FINE_RESOLUTION_HZ) -> int:
    """The power-of-two frame length (samples) whose bins are at most ``resolution_hz`` apart."""
    if rate <= 0 or resolution_hz <= 0:
        raise ValueError(f"rate and resolution must be positive, got {rate}, {resolution_hz}")
    return int(2 ** np.ceil(np.log2(rate / resolution_hz)))


def stft_power(signal: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """Hann-windowed power spectra of ``signal`` frames.

    Parameters
    ----------
    signal : numpy.ndarray
        ``(samples,)`` mono; shorter than a frame is zero-padded to one frame.
    frame, hop : int
        Frame length and hop, samples.

    Returns
    -------
    numpy.ndarray
        float32 ``(frames, frame // 2 + 1)``, power per bin (window energy normalised).
        Frame ``i`` covers samples ``[i * hop, i * hop + frame)``.
    """
    if frame < 2 or hop < 1:
        raise ValueError(f"frame must be >= 2 and hop >= 1, got {frame}, {hop}")
    x = np.asarray(signal, dtype=np.float32)
    if x.size < frame:
        x = np.pad(x, (0, frame - x.size))
    count = 1 + (x.size - frame) // hop
    frames = np.lib.stride_tricks.as_strided(x, shape=(count, frame), strides=(x.strides[0] * hop, x.strides[0]),
                                             writeable=False)
    window = np.hanning(frame).astype(np.float32)
    norm = np.float32(np.sum(window.astype(np.float64) ** 2))
    out = np.empty((count, frame // 2 + 1), dtype=np.float32)
    for first in range(0, count, _CHUNK_FRAMES):
        spectra = np.fft.rfft(frames[first:first + _CHUNK_FRAMES] * window, axis=1)
        out[first:first + _CHUNK_FRAMES] = (spectra.real**2 + spectra.imag**2) / norm
    return out


def frame_centres(n_frames: int, frame: int, hop: int, rate: int) -> np.ndarray:
    """Centre time (s, from the signal's first sample) of each frame of :func:`stft_power`."""
    return (np.arange(n_frames) * hop + frame / 2.0) / rate


def spectral_floor(spectrum: np.ndarray, width_bins: int) -> np.ndarray:
    """The floor under lines: a running median over ``width_bins`` neighbouring bins.

    Narrow lines (and combs whose lines fill less than half the width) do not
    move a median, so ``spectrum / spectral_floor`` is each bin's prominence.
    Works on ``(bins,)`` or ``(frames, bins)`` (along the last axis).
    """
    width = max(3, int(width_bins) | 1)
    size = (1,) * (np.ndim(spectrum) - 1) + (width,)
    return np.maximum(median_filter(np.asarray(spectrum, dtype=np.float64), size=size, mode="nearest"), 1e-30)


def time_floor(power: np.ndarray, percentile: float = 20.0) -> np.ndarray:
    """Per-bin floor over time: the ``percentile`` of frame powers, bias-corrected for noise.

    Same estimator as the simulator's ``estimate_floor`` (for chi-square(2)
    powers the q-quantile is ``-ln(1 - q)`` times the mean); digitally silent
    frames are left out.
    """
    power = np.asarray(power)
    sounding = power.sum(axis=1) > 1e-24 * power.shape[1]
    if sounding.sum() >= 2:
        power = power[sounding]
    floor = np.percentile(power, percentile, axis=0) / -np.log(1.0 - percentile / 100.0)
    return np.maximum(floor.astype(np.float64), 1e-20)
