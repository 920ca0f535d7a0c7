"""A small line finder for events that came without measured frequencies (the fallback of isolation).

The event's 20th-percentile-in-time power spectrum (0.5 s frames, 2 Hz bins) is compared
with its own floor (a running median across 61 bins); local maxima more than
``min_prominence_db`` over the floor, whose 80th percentile in time is less
than ``steady_db`` over their 20th, are lines. The low percentile keeps
what sounds throughout the event (a whine) and drops what comes and goes (speech
and its voiced harmonics, absent in its pauses).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import median_filter

from audio_artifacts.results.schema import MAX_EVENT_FREQUENCIES


def measure_lines(segment: np.ndarray, sample_rate: int, min_prominence_db: float = 12.0,
                  lowest_hz: float = 20.0, steady_db: float = 6.0) -> tuple[float, ...]:
    """Prominent steady line frequencies in ``segment`` (Hz, ascending, at most 12); empty when none."""
    x = np.asarray(segment, dtype=np.float64)
    n_fft = int(min(2 ** int(np.ceil(np.log2(sample_rate / 2.0))), 2 ** int(np.floor(np.log2(max(x.size, 64))))))
    hop = n_fft // 2
    if x.size < n_fft:
        return ()
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    if len(frames) > 240:  # enough for a median; bounds the cost of long events
        frames = frames[np.linspace(0, len(frames) - 1, 240).astype(int)]
    low, high = np.percentile(np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2, [20, 80], axis=0)
    level = 10 * np.log10(low + 1e-30)
    steady = 10 * np.log10(high + 1e-30) - level < steady_db
    floor = median_filter(level, size=61, mode="nearest")
    frequencies = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    peak = (level[1:-1] > level[:-2]) & (level[1:-1] >= level[2:]) & (level[1:-1] - floor[1:-1] > min_prominence_db) \
        & steady[1:-1]
    candidates = np.flatnonzero(peak) + 1
    # not next to Nyquist, where resampling filters leave their own edge
    candidates = candidates[(frequencies[candidates] >= lowest_hz) & (frequencies[candidates] < 0.45 * sample_rate)]
    strongest = candidates[np.argsort(level[candidates] - floor[candidates])[::-1][:MAX_EVENT_FREQUENCIES]]
    return tuple(float(f) for f in sorted(frequencies[strongest]))
