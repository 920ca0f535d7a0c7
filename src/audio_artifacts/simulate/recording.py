"""One simulated test recording: device + stimulus + analyzer + artifacts.

Everything a recording draws comes from its own generator, seeded by
``SeedSequence(seed, spawn_key=(split, 1, index))``; its device from
``SeedSequence(seed, spawn_key=(split, 0, device))``. So a recording is the
same whichever worker makes it, and splits never share a device or a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.fft import next_fast_len

from audio_artifacts.data.manifest import ArtifactEvent
from audio_artifacts.simulate.artifacts import ArtifactConfig, sample_artifacts
from audio_artifacts.simulate.device import P_REF, DeviceProfile, draw_device, render_device
from audio_artifacts.simulate.levels import estimate_floor
from audio_artifacts.simulate.stimuli import INPUT_LEVELS_DB, STIMULI, STIMULUS_WEIGHTS, make_stimulus

SPLIT_KEYS: dict[str, int] = {"train": 0, "val": 1, "test": 2, "all": 3}


@dataclass(frozen=True)
class AnalyzerConfig:
    """The measurement side: file formats, level offsets, analyzer noise, DC.

    Levels: ``full_scale_db`` is the coupler SPL that maps to digital 1.0;
    ``noise_dbfs`` the analyzer's white noise, RMS re full scale.
    """

    sample_rates: tuple[int, ...] = (16000, 22050, 24000, 32000, 44100, 48000, 96000)
    sample_rate_weights: tuple[float, ...] = (0.08, 0.04, 0.08, 0.15, 0.2, 0.35, 0.1)
    subtypes: tuple[str, ...] = ("PCM_16", "PCM_24", "FLOAT")
    subtype_weights: tuple[float, ...] = (0.5, 0.3, 0.2)
    stereo_probability: float = 0.25
    full_scale_db: tuple[float, float] = (110.0, 135.0)
    noise_dbfs: tuple[float, float] = (-115.0, -100.0)
    dc_probability: float = 0.3
    dc_max: float = 0.003
    headroom: float = 0.7  # the analyzer's range is raised until the peak is below this

    def __post_init__(self) -> None:
        if len(self.sample_rates) != len(self.sample_rate_weights) or len(self.subtypes) != len(self.subtype_weights):
            raise ValueError("AnalyzerConfig: every choice needs one weight")
        if any(not 16000 <= r <= 192000 for r in self.sample_rates):
            raise ValueError(f"AnalyzerConfig.sample_rates must lie in 16-192 kHz, got {self.sample_rates}")


@dataclass(frozen=True)
class SimulatorConfig:
    """What a simulated dataset contains (pass it in; no global defaults elsewhere)."""

    duration_s: tuple[float, float] = (6.0, 20.0)
    artifact_fraction: float = 0.5
    recordings_per_device: int = 8
    stimuli: tuple[str, ...] = STIMULI
    stimulus_weights: tuple[float, ...] = STIMULUS_WEIGHTS
    input_levels_db: tuple[float, ...] = INPUT_LEVELS_DB
    artifacts: ArtifactConfig = field(default_factory=ArtifactConfig)
    analyzer: AnalyzerConfig = field(default_factory=AnalyzerConfig)

    def __post_init__(self) -> None:
        low, high = self.duration_s
        if not 0.5 <= low <= high:
            raise ValueError(f"duration_s must satisfy 0.5 <= min <= max seconds, got {self.duration_s}")
        if not 0.0 <= self.artifact_fraction <= 1.0:
            raise ValueError(f"artifact_fraction must lie in [0, 1], got {self.artifact_fraction}")
        if self.recordings_per_device < 1:
            raise ValueError("recordings_per_device must be >= 1")
        if len(self.stimuli) != len(self.stimulus_weights) or set(self.stimuli) - set(STIMULI):
            raise ValueError(f"stimuli must be a subset of {STIMULI} with one weight each")


@dataclass
class SimulatedRecording:
    """A recording before it is written: samples and every label."""

    recording_id: str
    split: str
    seed_key: str                 # "<seed>/<split key>/<index>": reproduces it alone
    device: DeviceProfile
    stimulus: str
    input_level_db: float | None
    sample_rate: int
    subtype: str
    samples: np.ndarray           # (frames, channels) float32, digital full scale 1.0
    events: tuple[ArtifactEvent, ...]
    analyzer: dict[str, Any]

    @property
    def label(self) -> int:
        """1 = artifact, 0 = no_artifact."""
        return int(bool(self.events))


def device_for(seed: int, split: str, device_index: int) -> DeviceProfile:
    """The ``device_index``-th device of a split (its own seed; ids never repeat across splits)."""
    sequence = np.random.SeedSequence(seed, spawn_key=(SPLIT_KEYS[split], 0, device_index))
    return draw_device(np.random.default_rng(sequence), f"{split}-s{seed}-d{device_index:04d}")


def _choice(rng: np.random.Generator, options: tuple, weights: tuple[float, ...]) -> Any:
    p = np.asarray(weights, dtype=np.float64)
    return options[int(rng.choice(len(options), p=p / p.sum()))]


def simulate_recording(config: SimulatorConfig, seed: int, split: str, index: int, n_devices: int) -> SimulatedRecording:
    """Simulate recording ``index`` of ``split``.

    Parameters
    ----------
    config : SimulatorConfig
    seed : int
        Dataset seed.
    split : str
        ``train``, ``val``, ``test`` or ``all``.
    index : int
        Recording number within the split.
    n_devices : int
        Size of the split's device pool.
    """
    if split not in SPLIT_KEYS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLIT_KEYS)}")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SPLIT_KEYS[split], 1, index)))
    device = device_for(seed, split, int(rng.integers(n_devices)))
    analyzer = config.analyzer
    sample_rate = int(_choice(rng, analyzer.sample_rates, analyzer.sample_rate_weights))
    # A length with small prime factors keeps every FFT of the recording fast.
    n = next_fast_len(int(round(rng.uniform(*config.duration_s) * sample_rate)), real=True)
    stimulus = str(_choice(rng, config.stimuli, config.stimulus_weights))
    level = None if stimulus == "quiet" else float(rng.choice(config.input_levels_db))
    pressure = render_device(device, make_stimulus(rng, stimulus, n, sample_rate, level or 0.0), n, sample_rate, rng)

    full_scale_db = float(rng.uniform(*analyzer.full_scale_db))
    peak_db = 20 * np.log10(np.max(np.abs(pressure)) / P_REF + 1e-30)
    full_scale_db = float(max(full_scale_db, peak_db - 20 * np.log10(analyzer.headroom)))
    digital = pressure / (P_REF * 10.0 ** (full_scale_db / 20.0))
    noise_dbfs = float(rng.uniform(*analyzer.noise_dbfs))
    digital += rng.standard_normal(n) * 10.0 ** (noise_dbfs / 20.0)

    events: tuple[ArtifactEvent, ...] = ()
    if rng.random() < config.artifact_fraction:
        artifact, events = sample_artifacts(rng, n, sample_rate, estimate_floor(digital, sample_rate),
                                            config.artifacts)
        digital += artifact
        peak = np.max(np.abs(digital))
        if peak > analyzer.headroom:  # a loud artifact: the analyzer range goes up, ratios stay
            digital *= analyzer.headroom / peak
            full_scale_db += 20 * np.log10(peak / analyzer.headroom)
    dc = float(rng.uniform(-analyzer.dc_max, analyzer.dc_max)) if rng.random() < analyzer.dc_probability else 0.0
    digital += dc
    channels = [digital]
    mismatch_db = 0.0
    if rng.random() < analyzer.stereo_probability:  # second analyzer channel on the same coupler
        mismatch_db = float(rng.uniform(-1.0, 1.0))
        channels.append(digital * 10.0 ** (mismatch_db / 20.0) + rng.standard_normal(n) * 10.0 ** (noise_dbfs / 20.0))
    samples = np.stack(channels, axis=1).astype(np.float32)
    subtype = str(_choice(rng, analyzer.subtypes, analyzer.subtype_weights))
    return SimulatedRecording(
        recording_id=f"{split}_{index:06d}", split=split, seed_key=f"{seed}/{SPLIT_KEYS[split]}/{index}",
        device=device, stimulus=stimulus, input_level_db=level, sample_rate=sample_rate, subtype=subtype,
        samples=samples, events=events,
        analyzer={"full_scale_db": round(float(full_scale_db), 2), "noise_dbfs": round(noise_dbfs, 2), "dc": round(dc, 6),
                  "channel_mismatch_db": round(mismatch_db, 3)},
    )
