"""The stimulus as the test system keeps it: what it played, at its own rate and its own start.

A test system plays a file and records the device; its copy of the stimulus
is not aligned with the recording (playback and recording latencies, a
recording that starts before or after the playback) and not level-matched
(digital full scale, not the coupler's pascal). ``played_stimulus`` makes that
copy of a simulated recording's input: resampled to a playback rate, shifted
by a drawn offset, peak-normalised, without any device processing.

Its draws come from a generator of their own,
``SeedSequence(seed, spawn_key=(split, 2, index))``, so the recordings of a
seed stay bit-identical whether or not stimuli are written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr

#: Playback rates a test system uses, and how often.
PLAYBACK_RATES: tuple[int, ...] = (44100, 48000, 96000)
PLAYBACK_RATE_WEIGHTS: tuple[float, ...] = (0.4, 0.5, 0.1)
#: Where the recording's first sample lies in the stimulus file, seconds (negative: the
#: recording started before the playback, the file's first part is missing from it).
OFFSET_RANGE_S: tuple[float, float] = (-0.1, 0.25)
#: Peak of the written stimulus re digital full scale.
PEAK = 0.5


@dataclass(frozen=True)
class PlayedStimulus:
    """A stimulus file's content.

    Attributes
    ----------
    samples : numpy.ndarray
        ``(frames,)`` float32 in [-PEAK, PEAK].
    sample_rate : int
        Playback rate, Hz.
    offset_s : float
        Time in the file at which the recording starts (the true alignment).
    """

    samples: np.ndarray
    sample_rate: int
    offset_s: float


def played_stimulus(stimulus_pa: np.ndarray | None, sample_rate: int, seed_key: str) -> PlayedStimulus | None:
    """The test system's copy of a simulated recording's input; None for a quiet recording.

    Parameters
    ----------
    stimulus_pa : numpy.ndarray or None
        ``(n,)`` input pressure aligned with the recording (`SimulatedRecording.stimulus_pa`).
    sample_rate : int
        The recording's rate, Hz.
    seed_key : str
        ``"<seed>/<split key>/<index>"`` of the recording (`SimulatedRecording.seed_key`).
    """
    if stimulus_pa is None:
        return None
    seed, split_key, index = (int(v) for v in seed_key.split("/"))
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(split_key, 2, index)))
    weights = np.asarray(PLAYBACK_RATE_WEIGHTS) / np.sum(PLAYBACK_RATE_WEIGHTS)
    rate = int(PLAYBACK_RATES[int(rng.choice(len(PLAYBACK_RATES), p=weights))])
    offset_s = float(np.round(rng.uniform(*OFFSET_RANGE_S), 6))
    x = np.asarray(stimulus_pa, dtype=np.float64)
    if rate != sample_rate:
        x = soxr.resample(x, sample_rate, rate, quality="HQ")
    shift = int(round(offset_s * rate))
    x = np.concatenate([np.zeros(shift), x]) if shift >= 0 else x[-shift:]
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    x = x * (PEAK / peak) if peak > 0 else x
    return PlayedStimulus(x.astype(np.float32), rate, shift / rate)
