"""Draw artifacts to add to a recording, at levels set against its own floor.

The public entry point for on-the-fly augmentation is ``sample_artifact``:
give it a generator, the length and rate of a clean recording and that
recording (or its ``FloorSpectrum``); it returns the artifact waveform to ADD
and its labelled events. ``level_db`` is the artifact-to-floor ratio in the
one-third-octave band where the artifact stands out most (see ``levels.py``):
mean power over the active frames for stationary types, the loudest frame
for impulsive types (ticks, thumps, clicks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audio_artifacts.data.manifest import ArtifactEvent
from audio_artifacts.simulate.levels import FloorSpectrum, band_matrix, estimate_floor, frame_powers, frame_times
from audio_artifacts.simulate.sources import GENERATORS, Blocks, Source

ARTIFACT_TYPES: tuple[str, ...] = tuple(GENERATORS)
FLOOR_RANGE_DB = 25.0

# Ranges chosen so the quietest draws are still visible to an expert in a
# 0-8 kHz spectrogram of a few seconds (see docs/simulator.md).
DEFAULT_LEVELS_DB: dict[str, tuple[float, float]] = {
    "tonal": (4.0, 25.0),
    "tdma_buzz": (2.0, 20.0),
    "packet_buzz": (4.0, 20.0),
    "periodic_ticks": (8.0, 28.0),
    "thumps": (8.0, 28.0),
    "noise_am": (2.0, 10.0),
    "clicks": (10.0, 30.0),
}
DEFAULT_WEIGHTS: dict[str, float] = {
    "tonal": 0.25, "tdma_buzz": 0.12, "packet_buzz": 0.13, "periodic_ticks": 0.14,
    "thumps": 0.12, "noise_am": 0.10, "clicks": 0.14,
}
# Radio and supply artifacts are often present only while the radio / load is active.
DEFAULT_INTERMITTENT: dict[str, float] = {
    "tonal": 0.25, "tdma_buzz": 0.5, "packet_buzz": 0.5, "periodic_ticks": 0.4,
    "thumps": 0.4, "noise_am": 0.4, "clicks": 0.0,
}


@dataclass(frozen=True)
class ArtifactConfig:
    """Which artifacts are drawn and how loud.

    Attributes
    ----------
    levels_db : dict
        Type -> (low, high) artifact-to-floor ratio in dB, drawn uniformly.
    weights : dict
        Type -> relative probability of being drawn.
    intermittent : dict
        Type -> probability of on/off blocks instead of the whole recording.
    block_s : tuple
        (low, high) length of on and off blocks in seconds.
    count_probabilities : tuple
        Probability of 1, 2, 3 ... artifact types in one artifact recording.
    """

    levels_db: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_LEVELS_DB))
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    intermittent: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_INTERMITTENT))
    block_s: tuple[float, float] = (0.8, 5.0)
    count_probabilities: tuple[float, ...] = (0.7, 0.22, 0.08)

    def __post_init__(self) -> None:
        for name, mapping in (("levels_db", self.levels_db), ("weights", self.weights),
                              ("intermittent", self.intermittent)):
            unknown = set(mapping) - set(ARTIFACT_TYPES)
            if unknown:
                raise ValueError(f"ArtifactConfig.{name}: unknown artifact types {sorted(unknown)}; "
                                 f"known: {', '.join(ARTIFACT_TYPES)}")
        for kind, (low, high) in self.levels_db.items():
            if low > high:
                raise ValueError(f"ArtifactConfig.levels_db[{kind!r}]: low {low} > high {high}")
        if not any(w > 0 for w in self.weights.values()) or any(w < 0 for w in self.weights.values()):
            raise ValueError("ArtifactConfig.weights: need non-negative weights, at least one positive")
        if not 0 < self.block_s[0] <= self.block_s[1]:
            raise ValueError(f"ArtifactConfig.block_s must be 0 < low <= high, got {self.block_s}")
        if abs(sum(self.count_probabilities) - 1.0) > 1e-6:
            raise ValueError("ArtifactConfig.count_probabilities must sum to 1")


def activity_blocks(rng: np.random.Generator, n_samples: int, sample_rate: int,
                    block_s: tuple[float, float]) -> Blocks:
    """On/off blocks covering part of a recording; at least one on block."""
    blocks: Blocks = []
    t = int(rng.uniform(0.0, block_s[1]) * sample_rate) if rng.random() < 0.6 else 0
    t = min(t, max(0, n_samples - int(block_s[0] * sample_rate)))
    while t < n_samples:
        end = min(n_samples, t + int(rng.uniform(*block_s) * sample_rate))
        if end - t >= 0.5 * sample_rate or not blocks:  # no sliver at the very end
            blocks.append((t, end))
        t = end + int(rng.uniform(*block_s) * sample_rate)
    return blocks


def _round(value: Any) -> Any:
    if isinstance(value, (float, np.floating)):
        return round(float(value), 6)
    if isinstance(value, (list, tuple)):
        return [_round(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def effective_floor_bands(floor: FloorSpectrum, matrix: np.ndarray) -> np.ndarray:
    """Floor power per analysis band, raised to at least ``FLOOR_RANGE_DB`` below the loudest band density.

    Bands far below the rest (under a steep roll-off or high-pass) count as
    that much below, as in a spectrogram with a limited dynamic range; else a
    level would be set by where the floor is nearly zero.
    """
    widths = np.maximum(matrix.sum(axis=0), 1.0)
    density = (floor.power @ matrix) / widths
    return np.maximum(density, density.max() * 10.0 ** (-FLOOR_RANGE_DB / 10.0)) * widths


def _scale_to_floor(source: Source, floor: FloorSpectrum, sample_rate: int,
                    level_db: float) -> tuple[np.ndarray, tuple[float, float]]:
    """Scale a source so its largest third-octave artifact-to-floor ratio is ``level_db``."""
    powers = frame_powers(source.signal, sample_rate)
    if source.impulsive:
        spectrum = powers[int(np.argmax(powers.sum(axis=1)))]
    else:
        times = frame_times(powers.shape[0], sample_rate) * sample_rate
        inside = np.zeros(powers.shape[0], dtype=bool)
        for start, end in source.intervals:
            inside |= (times >= start) & (times <= end)
        spectrum = powers[inside].mean(axis=0) if inside.any() else powers.max(axis=0)
    matrix, bands = band_matrix(sample_rate)
    ratio = (spectrum @ matrix) / effective_floor_bands(floor, matrix)
    best = int(np.argmax(ratio))
    scale = np.sqrt(10.0 ** (level_db / 10.0) / ratio[best]) if ratio[best] > 0 else 0.0
    return (source.signal * scale).astype(np.float32), bands[best]


def sample_artifact(
    rng: np.random.Generator,
    n_samples: int,
    sample_rate: int,
    floor: FloorSpectrum | np.ndarray,
    *,
    artifact_type: str | None = None,
    level_db: float | None = None,
    intermittent: bool | None = None,
    config: ArtifactConfig | None = None,
) -> tuple[np.ndarray, tuple[ArtifactEvent, ...]]:
    """Draw one artifact to add to a clean recording.

    Parameters
    ----------
    rng : numpy.random.Generator
        All randomness comes from here.
    n_samples : int
        Length of the recording, samples.
    sample_rate : int
        Hz.
    floor : FloorSpectrum or numpy.ndarray
        The recording's floor, or the clean mono recording itself ``(samples,)``
        (its floor is then estimated with ``estimate_floor``).
    artifact_type : str, optional
        One of ``ARTIFACT_TYPES``; drawn by ``config.weights`` when None.
    level_db : float, optional
        Artifact-to-floor ratio in dB; drawn from ``config.levels_db`` when None.
    intermittent : bool, optional
        On/off blocks (True) or the whole recording (False); drawn when None.
    config : ArtifactConfig, optional

    Returns
    -------
    signal : numpy.ndarray
        ``(n_samples,)`` float32, to add to the recording.
    events : tuple of ArtifactEvent
        One per interval where the artifact sounds (an on block, a run of
        ticks or thumps, one click); times in seconds, ``level_db`` as drawn,
        ``params`` with the drawn physical parameters and the level band.
    """
    config = config or ArtifactConfig()
    if n_samples <= 0 or sample_rate <= 0:
        raise ValueError(f"n_samples and sample_rate must be positive, got {n_samples}, {sample_rate}")
    if not isinstance(floor, FloorSpectrum):
        floor = estimate_floor(np.asarray(floor, dtype=np.float64), sample_rate)
    if floor.sample_rate != sample_rate:
        raise ValueError(f"floor measured at {floor.sample_rate} Hz, recording is {sample_rate} Hz")
    if artifact_type is None:
        names = [k for k in ARTIFACT_TYPES if config.weights.get(k, 0.0) > 0]
        weights = np.array([config.weights[k] for k in names])
        artifact_type = str(rng.choice(names, p=weights / weights.sum()))
    if artifact_type not in GENERATORS:
        raise ValueError(f"unknown artifact type {artifact_type!r}; known: {', '.join(ARTIFACT_TYPES)}")
    if level_db is None:
        level_db = float(rng.uniform(*config.levels_db.get(artifact_type, DEFAULT_LEVELS_DB[artifact_type])))
    if intermittent is None:
        intermittent = bool(rng.random() < config.intermittent.get(artifact_type, 0.0))
    blocks = activity_blocks(rng, n_samples, sample_rate, config.block_s) if intermittent else [(0, n_samples)]

    source = GENERATORS[artifact_type](rng, n_samples, sample_rate, blocks, floor)
    if not source.intervals and intermittent:  # e.g. blocks shorter than one tick period
        intermittent = False
        source = GENERATORS[artifact_type](rng, n_samples, sample_rate, [(0, n_samples)], floor)
    if not source.intervals:  # nothing fits (e.g. a click longer than the recording): no artifact, no label
        return np.zeros(n_samples, dtype=np.float32), ()
    signal, band = _scale_to_floor(source, floor, sample_rate, level_db)
    params = {k: _round(v) for k, v in source.params.items()}
    params.update({"level_band_hz": _round(list(band)), "impulsive": source.impulsive,
                   "intermittent": intermittent})
    events = tuple(
        ArtifactEvent(type=artifact_type, start_s=round(start / sample_rate, 6), end_s=round(end / sample_rate, 6),
                      level_db=round(float(level_db), 3), params=params)
        for start, end in source.intervals
    )
    return signal, events


def sample_artifacts(
    rng: np.random.Generator,
    n_samples: int,
    sample_rate: int,
    floor: FloorSpectrum | np.ndarray,
    config: ArtifactConfig | None = None,
    *,
    first_type: str | None = None,
) -> tuple[np.ndarray, tuple[ArtifactEvent, ...]]:
    """One or more different artifacts (``config.count_probabilities``), summed.

    Same parameters and returns as ``sample_artifact``; events of all types,
    sorted by start time. ``first_type`` is tried first (a hard positive: the
    artifact that looks like the stimulus), then the drawn types.
    """
    config = config or ArtifactConfig()
    if not isinstance(floor, FloorSpectrum):
        floor = estimate_floor(np.asarray(floor, dtype=np.float64), sample_rate)
    names = [k for k in ARTIFACT_TYPES if config.weights.get(k, 0.0) > 0]
    count = min(len(names), 1 + int(rng.choice(len(config.count_probabilities), p=config.count_probabilities)))
    weights = np.array([config.weights[k] for k in names])
    # A random order of all types; the first ``count`` that produce events are used (a type that
    # cannot sound in a very short recording gives way to the next), so labels stay truthful.
    order = [str(k) for k in rng.choice(names, size=len(names), replace=False, p=weights / weights.sum())]
    if first_type is not None:
        if first_type not in GENERATORS:
            raise ValueError(f"unknown artifact type {first_type!r}; known: {', '.join(ARTIFACT_TYPES)}")
        order = [first_type] + [k for k in order if k != first_type]
    total = np.zeros(n_samples, dtype=np.float32)
    events: list[ArtifactEvent] = []
    used = 0
    for name in order:
        if used == count:
            break
        signal, new_events = sample_artifact(rng, n_samples, sample_rate, floor, artifact_type=str(name),
                                             config=config)
        if new_events:
            total += signal
            events.extend(new_events)
            used += 1
    return total, tuple(sorted(events, key=lambda e: (e.start_s, e.type)))
