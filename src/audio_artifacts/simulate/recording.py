"""One simulated test recording: device + stimulus + analyzer + conditions + artifacts.

Everything a recording draws comes from its own generator, seeded by
``SeedSequence(seed, spawn_key=(split, 1, index))``; its device from
``SeedSequence(seed, spawn_key=(split, 0, device))``. So a recording is the
same whichever worker makes it, and splits never share a device or a seed.
The ``foreign`` split draws its devices only from the held-out families
(``device.FOREIGN_FAMILIES``) and its bank clips only from the bank's
foreign groups; the other splits never do.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.fft import next_fast_len

from audio_artifacts.data.manifest import ArtifactEvent
from audio_artifacts.simulate.artifacts import ArtifactConfig, sample_artifacts
from audio_artifacts.simulate.device import (
    FAMILIES, FOREIGN_FAMILIES, P_REF, TRAIN_FAMILIES, DeviceProfile, draw_device, render_device,
)
from audio_artifacts.simulate.levels import estimate_floor
from audio_artifacts.simulate.stimuli import (
    ALIASES, BANK_KINDS, BANK_STIMULI, BANK_STIMULUS_WEIGHTS, INPUT_LEVELS_DB, KIND_LEVELS_DB, STIMULI,
    STIMULUS_WEIGHTS, render_stimulus,
)

SPLIT_KEYS: dict[str, int] = {"train": 0, "val": 1, "test": 2, "all": 3, "foreign": 4}
# Which bank clip groups a split reads (bank.SPLITS): "all" (no --split) stays off the foreign groups.
BANK_SPLIT: dict[str, str] = {"train": "train", "val": "val", "test": "test", "all": "train", "foreign": "foreign"}
# Recording-level conditions (not artifacts: the label does not change) and how often each is drawn.
DEFAULT_CONDITIONS: dict[str, float] = {
    "silence_start": 0.08,    # exact digital zeros first: the analyzer starts late
    "silence_end": 0.06,      # exact zeros last: it stops early
    "dc_step": 0.06,          # the DC offset jumps once (DC-coupled input, range or gain change)
    "start_transient": 0.06,  # a decaying step at the start (AC-coupled input settling)
    "fade_in": 0.05,          # the recording fades in over 20-500 ms
}


# Hard positives: the artifact that looks most like a stimulus, drawn first for
# ``SimulatorConfig.lookalike_fraction`` of the artifact recordings with that stimulus.
LOOKALIKES: dict[str, tuple[str, ...]] = {
    "tones": ("tonal",), "multitone": ("tonal",), "vibrato": ("tonal",), "sweep": ("tonal",),
    "pulses": ("periodic_ticks", "thumps"), "gated_noise": ("clicks",), "pumping": ("noise_am",),
    "breathing": ("noise_am",), "music": ("tonal", "thumps"), "music_like": ("tonal", "thumps"),
    "speech": ("tonal", "packet_buzz"), "speech_like": ("tonal", "packet_buzz"), "ists": ("tonal", "tdma_buzz"),
    "everyday": ("clicks", "thumps"),
}


@dataclass(frozen=True)
class AnalyzerConfig:
    """The measurement side: file formats, recording level, analyzer noise, dither, DC.

    Levels: the coupler SPL that maps to digital 1.0 (full scale) is set so
    the recording's floor (10th percentile of 50 ms block levels) lands at a
    drawn ``floor_dbfs`` (``pcm16_floor_dbfs`` for 16-bit files, whose
    dithered LSB lies near -96 dBFS), raised when needed so the peak stays
    below ``headroom``; ``noise_dbfs`` is the analyzer's white noise, RMS re
    full scale; 16-bit files get TPDF dither of +-1 LSB with
    ``dither_probability``.
    """

    sample_rates: tuple[int, ...] = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000)
    sample_rate_weights: tuple[float, ...] = (0.03, 0.02, 0.08, 0.04, 0.07, 0.13, 0.2, 0.3, 0.03, 0.1)
    subtypes: tuple[str, ...] = ("PCM_16", "PCM_24", "FLOAT")
    subtype_weights: tuple[float, ...] = (0.5, 0.3, 0.2)
    stereo_probability: float = 0.25
    floor_dbfs: tuple[float, float] = (-120.0, -20.0)
    pcm16_floor_dbfs: tuple[float, float] = (-90.0, -20.0)
    noise_dbfs: tuple[float, float] = (-135.0, -105.0)
    dither_probability: float = 0.8
    dc_probability: float = 0.3
    dc_max: float = 0.01
    headroom: float = 0.7  # the analyzer's range is raised until the peak is below this

    def __post_init__(self) -> None:
        if len(self.sample_rates) != len(self.sample_rate_weights) or len(self.subtypes) != len(self.subtype_weights):
            raise ValueError("AnalyzerConfig: every choice needs one weight")
        if any(not 8000 <= r <= 192000 for r in self.sample_rates):
            raise ValueError(f"AnalyzerConfig.sample_rates must lie in 8-192 kHz, got {self.sample_rates}")
        for name in ("floor_dbfs", "pcm16_floor_dbfs", "noise_dbfs"):
            low, high = getattr(self, name)
            if not low <= high < 0:
                raise ValueError(f"AnalyzerConfig.{name} must satisfy low <= high < 0 dBFS, got {(low, high)}")


@dataclass(frozen=True)
class SimulatorConfig:
    """What a simulated dataset contains (pass it in; no global defaults elsewhere).

    ``stimuli`` / ``stimulus_weights`` default to ``stimuli.STIMULI`` (no bank)
    or ``stimuli.BANK_STIMULI`` (with ``bank_dir``; bank kinds the bank lacks
    are skipped). ``short_fraction`` of the recordings last
    ``short_duration_s``, the rest ``duration_s``. ``families`` are the device
    families of train / val / test / all, ``foreign_families`` those of the
    foreign split (disjoint). ``conditions`` maps a recording-level condition
    (``DEFAULT_CONDITIONS``) to its probability.
    """

    duration_s: tuple[float, float] = (6.0, 20.0)
    artifact_fraction: float = 0.5
    recordings_per_device: int = 8
    stimuli: tuple[str, ...] | None = None
    stimulus_weights: tuple[float, ...] | None = None
    input_levels_db: tuple[float, ...] = INPUT_LEVELS_DB
    artifacts: ArtifactConfig = field(default_factory=ArtifactConfig)
    analyzer: AnalyzerConfig = field(default_factory=AnalyzerConfig)
    short_fraction: float = 0.25
    short_duration_s: tuple[float, float] = (0.5, 5.0)
    bank_dir: str | None = None
    families: tuple[str, ...] = TRAIN_FAMILIES
    foreign_families: tuple[str, ...] = FOREIGN_FAMILIES
    conditions: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_CONDITIONS))
    lookalike_fraction: float = 0.3

    def __post_init__(self) -> None:
        for name in ("duration_s", "short_duration_s"):
            low, high = getattr(self, name)
            if not 0.5 <= low <= high:
                raise ValueError(f"{name} must satisfy 0.5 <= min <= max seconds, got {getattr(self, name)}")
        if not 0.0 <= self.artifact_fraction <= 1.0:
            raise ValueError(f"artifact_fraction must lie in [0, 1], got {self.artifact_fraction}")
        if not 0.0 <= self.short_fraction <= 1.0:
            raise ValueError(f"short_fraction must lie in [0, 1], got {self.short_fraction}")
        if not 0.0 <= self.lookalike_fraction <= 1.0:
            raise ValueError(f"lookalike_fraction must lie in [0, 1], got {self.lookalike_fraction}")
        if self.recordings_per_device < 1:
            raise ValueError("recordings_per_device must be >= 1")
        if self.bank_dir is not None:
            object.__setattr__(self, "bank_dir", str(Path(self.bank_dir).absolute()))
        if self.stimuli is None:
            default = (BANK_STIMULI, BANK_STIMULUS_WEIGHTS) if self.bank_dir else (STIMULI, STIMULUS_WEIGHTS)
            object.__setattr__(self, "stimuli", default[0])
            if self.stimulus_weights is None:
                object.__setattr__(self, "stimulus_weights", default[1])
        object.__setattr__(self, "stimuli", tuple(self.stimuli))
        if self.stimulus_weights is None:
            object.__setattr__(self, "stimulus_weights", tuple(1.0 for _ in self.stimuli))
        known = set(STIMULI) | set(BANK_KINDS) if self.bank_dir else set(STIMULI) | set(ALIASES)
        if len(self.stimuli) != len(self.stimulus_weights) or set(self.stimuli) - known:
            raise ValueError(f"stimuli must be a subset of {sorted(known)} with one weight each"
                             + ("" if self.bank_dir else " (bank kinds need bank_dir / --stimuli)"))
        for name in ("families", "foreign_families"):
            unknown = set(getattr(self, name)) - set(FAMILIES)
            if unknown or not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty subset of {', '.join(FAMILIES)}, "
                                 f"got {getattr(self, name)}")
        if set(self.families) & set(self.foreign_families):
            raise ValueError("families and foreign_families must be disjoint (held-out families stay held out)")
        unknown = set(self.conditions) - set(DEFAULT_CONDITIONS)
        if unknown or any(not 0.0 <= p <= 1.0 for p in self.conditions.values()):
            raise ValueError(f"conditions: probabilities in [0, 1] for {', '.join(DEFAULT_CONDITIONS)}")


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
    stimulus_meta: dict[str, Any] = field(default_factory=dict)   # stimulus_source, clips, steps, onsets ...
    conditions: dict[str, dict[str, float]] = field(default_factory=dict)  # condition -> its spans / values
    # What the test system played: the input pressure in Pa at ``sample_rate``, sample-aligned with
    # ``samples`` (before the device); None for a quiet measurement. ``stimulus_file`` makes the copy a
    # test system would keep (own rate, own start).
    stimulus_pa: np.ndarray | None = field(default=None, repr=False)

    @property
    def label(self) -> int:
        """1 = artifact, 0 = no_artifact."""
        return int(bool(self.events))

    @property
    def stimulus_source(self) -> str:
        return str(self.stimulus_meta.get("stimulus_source", "synthetic"))

    @property
    def condition_names(self) -> str:
        """``+``-joined condition names, ``none`` without any."""
        return "+".join(sorted(self.conditions)) or "none"


@functools.lru_cache(maxsize=4)
def open_bank(directory: str) -> Any:
    """The stimulus bank in ``directory``, opened once per process."""
    from audio_artifacts.simulate.bank import StimulusBank

    return StimulusBank.open(directory)


@functools.lru_cache(maxsize=32)
def bank_kinds_for(directory: str, split: str) -> tuple[str, ...]:
    """The bank kinds that ``split`` has clips for (an ISTS-like signal needs two speech voices)."""
    from audio_artifacts.simulate.bank import ISTS_SOURCE_KINDS

    bank = open_bank(directory)
    bank_split = BANK_SPLIT[split]
    kinds = []
    for kind in bank.kinds:
        if bank.clips(kind, bank_split):
            kinds.append(kind)
        elif kind == "ists":
            if len(bank._voices([c for k in ISTS_SOURCE_KINDS for c in bank.clips(k, bank_split)])) >= 2:
                kinds.append(kind)
    return tuple(kinds)


def device_for(seed: int, split: str, device_index: int,
               families: tuple[str, ...] | None = None) -> DeviceProfile:
    """The ``device_index``-th device of a split (its own seed; ids never repeat across splits).

    ``families``: where its family is drawn from (uniformly); default
    ``FOREIGN_FAMILIES`` for the foreign split, ``TRAIN_FAMILIES`` otherwise.
    """
    if families is None:
        families = FOREIGN_FAMILIES if split == "foreign" else TRAIN_FAMILIES
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SPLIT_KEYS[split], 0, device_index)))
    family = families[int(rng.integers(len(families)))]
    return draw_device(rng, f"{split}-s{seed}-d{device_index:04d}", family)


def _choice(rng: np.random.Generator, options: tuple, weights: tuple[float, ...]) -> Any:
    p = np.asarray(weights, dtype=np.float64)
    return options[int(rng.choice(len(options), p=p / p.sum()))]


def _block_floor_db(x: np.ndarray, sample_rate: int) -> float:
    """10th percentile of 50 ms block variance (DC and DC steps left out), dB re 1."""
    block = max(1, int(0.05 * sample_rate))
    count = max(1, x.size // block)
    power = np.var(x[: count * block].reshape(count, block), axis=1) if x.size >= block else np.var(x)[None]
    return float(10 * np.log10(np.percentile(power, 10) + 1e-30))


def _draw_conditions(rng: np.random.Generator, config: SimulatorConfig, n: int, sample_rate: int) -> dict[str, dict]:
    """Which conditions this recording has and their drawn spans / values (seconds, digital units)."""
    duration = n / sample_rate
    out: dict[str, dict] = {}
    for name in DEFAULT_CONDITIONS:  # fixed order: the draws do not depend on dict order
        p = config.conditions.get(name, 0.0)
        if rng.random() >= p:
            continue
        if name == "silence_start":
            out[name] = {"start_s": 0.0, "end_s": float(rng.uniform(0.02, min(1.0, 0.3 * duration)))}
        elif name == "silence_end":
            out[name] = {"start_s": float(duration - rng.uniform(0.02, min(1.0, 0.3 * duration))),
                         "end_s": duration}
        elif name == "dc_step":
            out[name] = {"time_s": float(rng.uniform(0.15, 0.85) * duration),
                         "step": float(rng.choice([-1.0, 1.0]) * rng.uniform(0.002, 0.02))}
        elif name == "start_transient":
            out[name] = {"amplitude": float(rng.choice([-1.0, 1.0]) * rng.uniform(0.005, 0.1)),
                         "tau_s": float(np.exp(rng.uniform(np.log(0.002), np.log(0.05))))}
        else:
            out[name] = {"length_s": float(rng.uniform(0.02, min(0.5, 0.2 * duration)))}
    for values in out.values():
        for key, value in values.items():
            values[key] = round(value, 6)
    return out


def simulate_recording(config: SimulatorConfig, seed: int, split: str, index: int, n_devices: int) -> SimulatedRecording:
    """Simulate recording ``index`` of ``split``.

    Parameters
    ----------
    config : SimulatorConfig
    seed : int
        Dataset seed.
    split : str
        ``train``, ``val``, ``test``, ``foreign`` or ``all``.
    index : int
        Recording number within the split.
    n_devices : int
        Size of the split's device pool.
    """
    if split not in SPLIT_KEYS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLIT_KEYS)}")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SPLIT_KEYS[split], 1, index)))
    families = config.foreign_families if split == "foreign" else config.families
    device = device_for(seed, split, int(rng.integers(n_devices)), families)
    analyzer = config.analyzer
    sample_rate = int(_choice(rng, analyzer.sample_rates, analyzer.sample_rate_weights))
    short = bool(rng.random() < config.short_fraction)
    seconds = rng.uniform(*(config.short_duration_s if short else config.duration_s))
    # A length with small prime factors keeps every FFT of the recording fast.
    n = next_fast_len(int(round(seconds * sample_rate)), real=True)
    if short and n > config.short_duration_s[1] * sample_rate:
        n = int(round(seconds * sample_rate))

    bank = open_bank(config.bank_dir) if config.bank_dir else None
    available = bank_kinds_for(config.bank_dir, split) if bank is not None else ()
    options = [(k, w) for k, w in zip(config.stimuli, config.stimulus_weights)
               if bank is None or k not in BANK_KINDS or k in available]
    if not options:
        raise ValueError(f"none of the stimuli {config.stimuli} is available for split {split!r} "
                         f"(the bank has {', '.join(available) or 'no clips'} there)")
    stimulus = str(_choice(rng, tuple(k for k, _ in options), tuple(w for _, w in options)))
    if bank is None:
        stimulus = ALIASES.get(stimulus, stimulus)
    level = None if stimulus == "quiet" else float(rng.choice(KIND_LEVELS_DB.get(stimulus, config.input_levels_db)))
    signal, stimulus_meta = render_stimulus(rng, stimulus, n, sample_rate, level or 0.0, bank=bank,
                                             split=BANK_SPLIT[split])
    pressure = render_device(device, signal, n, sample_rate, rng)

    subtype = str(_choice(rng, analyzer.subtypes, analyzer.subtype_weights))
    target = float(rng.uniform(*(analyzer.pcm16_floor_dbfs if subtype == "PCM_16" else analyzer.floor_dbfs)))
    floor_db_spl = _block_floor_db(pressure / P_REF, sample_rate)
    peak_db = 20 * np.log10(np.max(np.abs(pressure)) / P_REF + 1e-30)
    full_scale_db = float(max(floor_db_spl - target, peak_db - 20 * np.log10(analyzer.headroom)))
    digital = pressure / (P_REF * 10.0 ** (full_scale_db / 20.0))
    noise_dbfs = float(rng.uniform(*analyzer.noise_dbfs))
    digital += rng.standard_normal(n) * 10.0 ** (noise_dbfs / 20.0)
    dither = subtype == "PCM_16" and bool(rng.random() < analyzer.dither_probability)
    lsb = 1.0 / 32768.0
    if dither:  # TPDF, +-1 LSB; part of the floor the artifact levels are set against
        digital += (rng.random(n) - rng.random(n)) * lsb

    conditions = _draw_conditions(rng, config, n, sample_rate)
    # Artifacts sound only where the analyzer records and the recording is not fading in.
    first = int(np.ceil(conditions.get("silence_start", {}).get("end_s", 0.0) * sample_rate))
    first = min(n - 1, first + int(np.ceil(conditions.get("fade_in", {}).get("length_s", 0.0) * sample_rate)))
    last = int(np.floor(conditions.get("silence_end", {}).get("start_s", n / sample_rate) * sample_rate))
    last = max(last, first + 1)

    events: tuple[ArtifactEvent, ...] = ()
    if rng.random() < config.artifact_fraction:
        first_type = None
        candidates = [k for k in LOOKALIKES.get(stimulus, ()) if config.artifacts.weights.get(k, 0.0) > 0]
        if candidates and rng.random() < config.lookalike_fraction:
            first_type = candidates[int(rng.integers(len(candidates)))]
        artifact, events = sample_artifacts(rng, last - first, sample_rate,
                                            estimate_floor(digital[first:last], sample_rate), config.artifacts,
                                            first_type=first_type)
        digital[first:last] += artifact
        if first:
            offset = first / sample_rate
            events = tuple(dataclasses.replace(e, start_s=round(e.start_s + offset, 6),
                                               end_s=round(e.end_s + offset, 6)) for e in events)
        peak = np.max(np.abs(digital))
        if peak > analyzer.headroom:  # a loud artifact: the analyzer range goes up, ratios stay
            digital *= analyzer.headroom / peak
            full_scale_db += 20 * np.log10(peak / analyzer.headroom)
    dc = float(rng.uniform(-analyzer.dc_max, analyzer.dc_max)) if rng.random() < analyzer.dc_probability else 0.0
    digital += dc
    t = np.arange(n) / sample_rate
    start_s = conditions.get("silence_start", {}).get("end_s", 0.0)
    if "dc_step" in conditions:
        digital[t >= conditions["dc_step"]["time_s"]] += conditions["dc_step"]["step"]
    if "start_transient" in conditions:
        c = conditions["start_transient"]
        after = t >= start_s
        digital[after] += c["amplitude"] * np.exp(-(t[after] - start_s) / c["tau_s"])
    if "fade_in" in conditions:
        digital *= np.clip((t - start_s) / conditions["fade_in"]["length_s"], 0.0, 1.0)
    channels = [digital]
    mismatch_db = 0.0
    if rng.random() < analyzer.stereo_probability:  # second analyzer channel on the same coupler
        mismatch_db = float(rng.uniform(-1.0, 1.0))
        second = digital * 10.0 ** (mismatch_db / 20.0) + rng.standard_normal(n) * 10.0 ** (noise_dbfs / 20.0)
        if dither:
            second += (rng.random(n) - rng.random(n)) * lsb
        channels.append(second)
    samples = np.stack(channels, axis=1).astype(np.float32)
    for name in ("silence_start", "silence_end"):  # exact zeros where the analyzer did not record
        if name in conditions:
            samples[(t >= conditions[name]["start_s"]) & (t < conditions[name]["end_s"])] = 0.0
    measured = _block_floor_db(samples[first:last, 0].astype(np.float64), sample_rate)
    return SimulatedRecording(
        recording_id=f"{split}_{index:06d}", split=split, seed_key=f"{seed}/{SPLIT_KEYS[split]}/{index}",
        device=device, stimulus=stimulus, input_level_db=level, sample_rate=sample_rate, subtype=subtype,
        samples=samples, events=events,
        analyzer={"full_scale_db": round(float(full_scale_db), 2), "noise_dbfs": round(noise_dbfs, 2), "dc": round(dc, 6),
                  "channel_mismatch_db": round(mismatch_db, 3), "floor_dbfs": round(measured, 2),
                  "dither": "tpdf" if dither else "none", "conditions": conditions},
        stimulus_meta=stimulus_meta, conditions=conditions,
        stimulus_pa=signal,
    )
