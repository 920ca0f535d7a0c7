"""Cut a recording into fixed-length overlapping windows with their times.

The one windowing rule of the project (training, evaluation, scanning and
serving all use it):

* windows of ``W`` samples start at ``0, hop, 2*hop, ...`` while they fit in
  the recording of ``N`` samples;
* if the last of these does not reach the end, one more window is aligned to
  the end (start ``N - W``), so no tail is left unexamined;
* a recording shorter than one window yields one window starting at 0,
  zero-padded at the end to ``W`` samples; its ``end_s`` is the real duration.

:func:`iter_windows` applies the rule to a stream of blocks (e.g. from
:func:`audio_artifacts.audio.stream_audio`) holding at most about one window
plus one block in memory; :func:`windows_of` applies it to an array in memory
and gives the same windows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WindowSpec:
    """Window length and overlap.

    Parameters
    ----------
    duration_s : float
        Window length in seconds (5.0 by default).
    overlap : float
        Fraction of a window shared with the next, in ``[0, 1)``; the hop is
        ``duration_s * (1 - overlap)`` (3.75 s by default).
    """

    duration_s: float = 5.0
    overlap: float = 0.25

    def __post_init__(self) -> None:
        if isinstance(self.duration_s, bool) or not isinstance(self.duration_s, (int, float)):
            raise ValueError(f"WindowSpec.duration_s must be a number of seconds, got {self.duration_s!r}")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValueError(f"WindowSpec.duration_s must be > 0 seconds, got {self.duration_s!r}")
        if isinstance(self.overlap, bool) or not isinstance(self.overlap, (int, float)):
            raise ValueError(f"WindowSpec.overlap must be a fraction in [0, 1), got {self.overlap!r}")
        if not (0.0 <= self.overlap < 1.0):
            raise ValueError(f"WindowSpec.overlap must be in [0, 1) (e.g. 0.25 for 25 %), got {self.overlap!r}")

    def window_samples(self, sample_rate: int) -> int:
        """Window length ``W`` in samples at ``sample_rate`` Hz (at least 1)."""
        _check_rate(sample_rate)
        return max(1, int(round(self.duration_s * sample_rate)))

    def hop_samples(self, sample_rate: int) -> int:
        """Hop in samples: ``round(W * (1 - overlap))``, at least 1."""
        return max(1, int(round(self.window_samples(sample_rate) * (1.0 - self.overlap))))

    def hop_s(self) -> float:
        """Nominal hop in seconds, ``duration_s * (1 - overlap)``."""
        return self.duration_s * (1.0 - self.overlap)


@dataclass(frozen=True)
class Window:
    """One window of a recording.

    Attributes
    ----------
    index : int
        0-based position in the recording's window sequence.
    start_s : float
        Start time in seconds.
    end_s : float
        End of the *real* audio in the window, seconds (``< start_s +
        duration`` only for a zero-padded short recording).
    samples : numpy.ndarray
        float32, shape ``(W,)``.
    valid : int
        How many samples at the start of ``samples`` are real audio; the rest
        is zero padding that no model statistic may see (``W`` for every
        window but the one of a recording shorter than a window). ``-1``
        (the default) means all of them.
    """

    index: int
    start_s: float
    end_s: float
    samples: np.ndarray
    valid: int = -1

    def __post_init__(self) -> None:
        size = int(self.samples.shape[0])
        if self.valid == -1:
            object.__setattr__(self, "valid", size)
        elif not 0 < self.valid <= size:
            raise ValueError(f"valid must be in 1..{size}, got {self.valid}")


def _check_rate(sample_rate: int) -> None:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive int (Hz), got {sample_rate!r}")


def window_starts(n_samples: int, spec: WindowSpec, sample_rate: int) -> np.ndarray:
    """Start sample of every window of a recording of ``n_samples`` samples.

    Parameters
    ----------
    n_samples : int
        Recording length in samples (0 gives no windows).
    spec : WindowSpec
    sample_rate : int
        Hz.

    Returns
    -------
    numpy.ndarray
        int64, shape ``(n_windows,)``, increasing. With ``W`` the window and
        ``h`` the hop: ``[0]`` if ``N <= W``, else ``floor((N - W) / h) + 1``
        regular starts plus ``N - W`` when ``(N - W) % h != 0``.
    """
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}")
    size = spec.window_samples(sample_rate)
    hop = spec.hop_samples(sample_rate)
    if n_samples == 0:
        return np.zeros(0, dtype=np.int64)
    if n_samples <= size:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_samples - size + 1, hop, dtype=np.int64)
    if starts[-1] + size < n_samples:
        starts = np.append(starts, np.int64(n_samples - size))
    return starts


def _make_window(index: int, start: int, n_real: int, samples: np.ndarray, size: int, sample_rate: int) -> Window:
    if samples.shape[0] < size:
        samples = np.concatenate([samples, np.zeros(size - samples.shape[0], dtype=np.float32)])
    return Window(
        index=index,
        start_s=start / sample_rate,
        end_s=(start + n_real) / sample_rate,
        samples=np.array(samples, dtype=np.float32, copy=True),
        valid=int(n_real),
    )


def windows_of(signal: np.ndarray, spec: WindowSpec, sample_rate: int) -> list[Window]:
    """All windows of a mono signal held in memory.

    Parameters
    ----------
    signal : numpy.ndarray
        Shape ``(samples,)`` at ``sample_rate``.
    spec : WindowSpec
    sample_rate : int
        Hz.

    Returns
    -------
    list of Window
        Identical to ``list(iter_windows([signal], spec, sample_rate))``.
    """
    signal = np.asarray(signal)
    if signal.ndim != 1:
        raise ValueError(f"signal must be mono with shape (samples,), got shape {signal.shape}")
    size = spec.window_samples(sample_rate)
    n = signal.shape[0]
    out = []
    for index, start in enumerate(window_starts(n, spec, sample_rate)):
        start = int(start)
        chunk = signal[start : start + size].astype(np.float32, copy=False)
        out.append(_make_window(index, start, chunk.shape[0], chunk, size, sample_rate))
    return out


def iter_windows(blocks: Iterable[np.ndarray], spec: WindowSpec, sample_rate: int) -> Iterator[Window]:
    """Windows of a recording given as a stream of consecutive mono blocks.

    Parameters
    ----------
    blocks : iterable of numpy.ndarray
        Consecutive pieces of one recording, each shape ``(n,)`` (any ``n``,
        empty allowed) at ``sample_rate``.
    spec : WindowSpec
    sample_rate : int
        Hz.

    Yields
    ------
    Window
        In order, exactly the windows of :func:`windows_of` on the
        concatenated blocks. Holds at most about one window plus one block.
    """
    size = spec.window_samples(sample_rate)
    hop = spec.hop_samples(sample_rate)
    buffer = np.zeros(0, dtype=np.float32)
    buffer_start = 0  # absolute sample index of buffer[0]
    pending: list[np.ndarray] = []
    pending_len = 0
    next_start = 0  # next regular window start
    index = 0
    last_end = 0  # absolute end of the last emitted window (0: none yet)

    for block in blocks:
        block = np.asarray(block)
        if block.ndim != 1:
            raise ValueError(f"blocks must be mono with shape (n,), got shape {block.shape}")
        if block.shape[0] == 0:
            continue
        pending.append(block.astype(np.float32, copy=False))
        pending_len += block.shape[0]
        available_end = buffer_start + buffer.shape[0] + pending_len
        if available_end < next_start + size:
            continue
        buffer = np.concatenate([buffer, *pending])
        pending, pending_len = [], 0
        while next_start + size <= available_end:
            offset = next_start - buffer_start
            yield _make_window(index, next_start, size, buffer[offset : offset + size], size, sample_rate)
            index += 1
            last_end = next_start + size
            next_start += hop
        # Keep what later windows can need: from the next regular start, and
        # always the last W samples (the end-aligned window may start earlier).
        keep_from = max(buffer_start, min(next_start, available_end - size))
        buffer = buffer[keep_from - buffer_start :].copy()
        buffer_start = keep_from

    if pending:
        buffer = np.concatenate([buffer, *pending])
    total = buffer_start + buffer.shape[0]
    if total == 0:
        return
    if index == 0:
        # Shorter than one window: one zero-padded window at 0.
        yield _make_window(0, 0, total, buffer[:size], size, sample_rate)
    elif last_end < total:
        offset = total - size - buffer_start
        yield _make_window(index, total - size, size, buffer[offset : offset + size], size, sample_rate)
