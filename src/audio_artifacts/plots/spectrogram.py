"""Stream a recording into a power spectrogram in dBFS, time-pooled for display.

The recording is read through :mod:`audio_artifacts.audio` (streaming) at
twice the highest frequency to show, and power spectra of neighbouring frames
are averaged so that a picture never has more than ``max_columns`` columns:
memory and time stay bounded for recordings hours long.

Levels are dBFS: a full-scale sine reads 0 dB in its bin, whatever the FFT
length, so one colour scale fits every picture and digital silence is the
bottom of the scale (not the middle of a per-picture range).
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np

#: The default picture shows 0 .. this frequency (Hz).
MAX_FREQUENCY_HZ = 8000
#: Frequency resolution (Hz per bin) when no FFT length is given: 512 points at 16 kHz.
DEFAULT_RESOLUTION_HZ = 31.25
#: Power floor before the logarithm: -240 dBFS, far under any colour scale.
_POWER_FLOOR = 1e-24


@dataclasses.dataclass(frozen=True)
class Spectrogram:
    """Power spectrogram in dBFS, time-pooled for display.

    Attributes
    ----------
    db : np.ndarray
        float32, shape ``(frequencies, columns)``: 10·log10 of the power of a
        bin, scaled so that a full-scale sine reads 0 dBFS.
    frequencies_hz : np.ndarray
        Shape ``(frequencies,)``, 0 .. the highest frequency read.
    column_seconds : float
        Duration covered by one column (s).
    duration_s : float
        Length of the audio read (s).
    """

    db: np.ndarray
    frequencies_hz: np.ndarray
    column_seconds: float
    duration_s: float


def fft_length(sample_rate: int, resolution_hz: float) -> int:
    """The power of two (256 .. 32768) whose bins are at most ``resolution_hz`` wide at ``sample_rate``."""
    if not resolution_hz > 0:
        raise ValueError(f"resolution_hz must be positive, got {resolution_hz}")
    return int(min(32768, max(256, 2 ** math.ceil(math.log2(sample_rate / resolution_hz)))))


def display_spectrogram(
    audio_path: str | os.PathLike[str],
    audio_config=None,
    *,
    max_frequency_hz: float = MAX_FREQUENCY_HZ,
    n_fft: int | None = None,
    resolution_hz: float = DEFAULT_RESOLUTION_HZ,
    max_columns: int = 2000,
) -> Spectrogram:
    """Stream a recording into a 0 .. ``max_frequency_hz`` dBFS spectrogram of at most ``max_columns`` columns.

    Parameters
    ----------
    audio_path : path-like
        The recording.
    audio_config : audio.AudioConfig, optional
        Channel handling and block length; its sample rate is replaced.
    max_frequency_hz : float
        Highest frequency wanted; audio is read at twice it, or at the
        recording's own rate when that is lower.
    n_fft : int, optional
        FFT length in samples at that rate; by default the power of two that
        gives bins of at most ``resolution_hz``. The hop is ``n_fft // 2``.
    max_columns : int
        Upper bound on time columns; neighbouring frames are power-averaged to fit.

    Raises
    ------
    AudioLoadError
        When the recording cannot be read.
    """
    from audio_artifacts.audio import AudioConfig, read_info, stream_audio

    if max_columns < 1 or not max_frequency_hz > 0:
        raise ValueError(f"max_columns must be >= 1 and max_frequency_hz > 0, got {max_columns}, {max_frequency_hz}")
    info = read_info(audio_path)
    rate = min(int(round(2 * max_frequency_hz)), info.sample_rate)
    n_fft = fft_length(rate, resolution_hz) if n_fft is None else int(n_fft)
    if n_fft < 16:
        raise ValueError(f"n_fft must be >= 16, got {n_fft}")
    config = dataclasses.replace(audio_config or AudioConfig(), sample_rate=rate)
    hop = n_fft // 2
    expected_frames = max(1, math.ceil(info.duration_s * rate / hop))
    pool = max(1, math.ceil(expected_frames / max_columns))
    window = np.hanning(n_fft).astype(np.float32)
    scale = np.float32(4.0 / float(window.sum()) ** 2)  # full-scale sine -> 1.0 (0 dBFS)

    columns: list[np.ndarray] = []
    pending = np.zeros((0, n_fft // 2 + 1), dtype=np.float32)  # frames not yet pooled
    carry = np.zeros(0, dtype=np.float32)  # samples not yet framed
    n_samples = 0
    for block in stream_audio(audio_path, config):
        n_samples += block.size
        carry = np.concatenate([carry, block])
        n_frames = (carry.size - n_fft) // hop + 1 if carry.size >= n_fft else 0
        if n_frames == 0:
            continue
        frames = np.lib.stride_tricks.sliding_window_view(carry, n_fft)[::hop][:n_frames]
        power = (np.abs(np.fft.rfft(frames * window, axis=1)) ** 2).astype(np.float32) * scale
        carry = carry[n_frames * hop:]
        pending = np.concatenate([pending, power])
        full = (len(pending) // pool) * pool
        if full:
            columns.append(pending[:full].reshape(-1, pool, pending.shape[1]).mean(axis=1))
            pending = pending[full:]
    if not columns and len(pending) == 0:
        # Shorter than one FFT frame: one zero-padded frame.
        frame = np.zeros(n_fft, dtype=np.float32)
        frame[: carry.size] = carry
        pending = (np.abs(np.fft.rfft(frame * window)) ** 2 * scale)[None, :].astype(np.float32)
    if len(pending):
        columns.append(pending.mean(axis=0, keepdims=True))
    power = np.concatenate(columns).T  # (frequencies, columns)
    return Spectrogram(
        db=(10.0 * np.log10(np.maximum(power, _POWER_FLOOR))).astype(np.float32),
        frequencies_hz=np.fft.rfftfreq(n_fft, 1.0 / rate),
        column_seconds=pool * hop / rate,
        duration_s=n_samples / rate,
    )


def pool_rows(spec: Spectrogram, edges_hz: np.ndarray) -> np.ndarray:
    """The spectrogram on display rows between ``edges_hz`` (ascending), shape ``(len(edges) - 1, columns)``.

    A row wider than a bin takes the loudest bin in it (so a narrow line
    stays visible on a wide row of a log axis); a row narrower than a bin
    takes the bin it lies in.
    """
    freqs = spec.frequencies_hz
    first = np.searchsorted(freqs, edges_hz[:-1], side="left")
    last = np.searchsorted(freqs, edges_hz[1:], side="left")
    centre = np.clip(np.searchsorted(freqs, (edges_hz[:-1] + edges_hz[1:]) / 2), 0, len(freqs) - 1)
    rows = spec.db[centre].copy()
    for row in np.flatnonzero(last > first):
        rows[row] = spec.db[first[row]:last[row]].max(axis=0)
    return rows
