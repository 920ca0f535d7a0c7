"""Training configuration: dataclasses grouped by concern, loaded from YAML with
dotted command-line overrides.

A YAML file mirrors :class:`TrainConfig`::

    name: fast-default
    seed: 0
    data:    {train_manifest: data/sim/train.csv, val_manifest: data/sim/val.csv}
    model:   {name: fast, arguments: {}, pretrained: null, init_from: null}
    optim:   {head_lr: 3.0e-3, backbone_lr: 3.0e-3}
    augment: {gain: {p: 0.5}}
    trainer: {max_epochs: 10, devices: auto}
    logger:  {mlflow: false}

Overrides are ``section.key=value`` strings (``optim.head_lr=1e-3``,
``trainer.devices=2``, ``model.arguments.channels=32``); the value is parsed as
YAML. Every unknown key and every wrongly typed value is reported at once in one
:class:`~audio_artifacts.errors.ConfigError`. Relative paths are taken relative
to the working directory the command runs in.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from audio_artifacts.errors import ConfigError

__all__ = [
    "AugmentConfig",
    "CalibrationConfig",
    "DataConfig",
    "EarlyStoppingConfig",
    "GainConfig",
    "InjectConfig",
    "MONITOR_METRICS",
    "LoggerConfig",
    "MixupConfig",
    "ModelConfig",
    "NoiseFloorConfig",
    "OptimConfig",
    "SpecAugmentConfig",
    "TimeShiftConfig",
    "TrainConfig",
    "TrainerConfig",
    "apply_overrides",
    "config_from_dict",
    "load_config",
    "load_raw",
    "resolved_config",
]


@dataclass
class DataConfig:
    """Which recordings, how they are cut into windows, how they are batched."""

    train_manifest: str | list[str] = ""  # manifest CSV or folder (artifact/, no_artifact/), or a list of them
    val_manifest: str | list[str] = ""    # used for epoch metrics and the operating threshold
    data_root: str | None = None      # base of relative paths in the manifests
    sample_rate: int = 32000          # Hz, the model rate
    channel: str | int = "mean"       # "mean" or a 0-based channel index
    window_s: float = 5.0             # window length, seconds
    overlap: float = 0.25             # fraction of a window shared with the next
    batch_size: int = 32
    eval_batch_size: int | None = None  # None: same as batch_size
    num_workers: int = 0
    cache_dtype: Literal["float32", "float16"] = "float32"  # decoded audio kept in memory
    skip_bad_files: bool = False      # False: missing/broken files stop before training
    balanced_sampler: bool = False    # draw classes equally (then no loss weighting)
    min_event_overlap_s: float | None = None  # None: data.labels default


@dataclass
class ModelConfig:
    """A registry model name, its constructor arguments and an optional start point."""

    name: str = "fast"
    arguments: dict[str, Any] = field(default_factory=dict)
    pretrained: str | None = None     # an official PANNs checkpoint (.pth) to start from
    init_from: str | None = None      # an audio-artifacts model directory to fine-tune (same model)


@dataclass
class OptimConfig:
    """AdamW with two parameter groups (backbone / head) and the LR schedule.

    With ``scheduler: onecycle`` each group follows a one-cycle schedule (the
    shape of PyTorch's OneCycleLR): from ``max_*_lr / div_factor`` up to
    ``max_*_lr`` over the first ``pct_start`` of the steps, then down to nearly 0.
    The plain ``*_lr`` values are used by ``scheduler: constant`` only (as in
    PyTorch's OneCycleLR, which also replaces the optimiser's lr).
    """

    backbone_lr: float = 1e-3
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    scheduler: Literal["onecycle", "constant"] = "onecycle"
    max_backbone_lr: float = 3e-3
    max_head_lr: float = 3e-3
    pct_start: float = 0.3
    div_factor: float = 25.0
    class_weighting: bool = True      # BCE pos_weight = negatives / positives (train windows)


@dataclass
class GainConfig:
    p: float = 0.0
    min_db: float = -12.0
    max_db: float = 6.0


@dataclass
class NoiseFloorConfig:
    """Adds coloured noise at a level relative to the window's RMS."""

    p: float = 0.0
    min_db: float = -35.0
    max_db: float = -15.0
    min_tilt_db_per_octave: float = -6.0
    max_tilt_db_per_octave: float = 0.0


@dataclass
class TimeShiftConfig:
    """Moves each training window's start by up to ``max_shift_s`` seconds."""

    p: float = 0.0
    max_shift_s: float = 1.875


@dataclass
class ShortCropConfig:
    """Cuts training windows down to ``min_s``..``max_s`` seconds of real audio (short recordings)."""

    p: float = 0.0
    min_s: float = 0.5
    max_s: float = 5.0


@dataclass
class InjectConfig:
    """Adds a simulated artifact to clean training windows (label becomes 1)."""

    p: float = 0.0
    types: list[str] = field(default_factory=list)  # empty: every simulator type
    # artifact-to-floor ratio in the artifact's band (the simulator's level);
    # null: the simulator's own range for each type
    min_db: float | None = None
    max_db: float | None = None


@dataclass
class SpecAugmentConfig:
    p: float = 0.0                    # probability per example
    time_masks: int = 2
    max_time_frames: int = 40         # at 100 frames/s (hop 320 at 32 kHz)
    freq_masks: int = 2
    max_freq_bins: int = 8


@dataclass
class MixupConfig:
    p: float = 0.0                    # probability per batch
    alpha: float = 0.4                # Beta(alpha, alpha) mixing weights


@dataclass
class AugmentConfig:
    """Training-only augmentation; every part is off at ``p: 0``."""

    gain: GainConfig = field(default_factory=GainConfig)
    noise_floor: NoiseFloorConfig = field(default_factory=NoiseFloorConfig)
    time_shift: TimeShiftConfig = field(default_factory=TimeShiftConfig)
    short_crop: ShortCropConfig = field(default_factory=ShortCropConfig)
    inject: InjectConfig = field(default_factory=InjectConfig)
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    mixup: MixupConfig = field(default_factory=MixupConfig)


MONITOR_METRICS: dict[str, str] = {
    "val_loss": "min",      # BCE on the validation windows (no class weighting)
    "val_auc": "max",       # window-level ROC AUC
    "val_ap": "max",        # window-level average precision
    "val_f1": "max",        # window-level F1 at probability 0.5
    "val_rec_auc": "max",   # recording-level ROC AUC (score = max over windows)
    "val_rec_f1": "max",    # recording-level F1 at probability 0.5
    "train_loss_epoch": "min",  # training BCE, mean over the epoch
}
"""Metrics logged once per epoch that ``trainer.monitor`` may name, with the mode that fits each."""


@dataclass
class EarlyStoppingConfig:
    """Lightning's EarlyStopping on ``trainer.monitor`` (off while ``patience`` is null)."""

    patience: int | None = None       # validation rounds without improvement before stopping
    min_delta: float = 0.0            # smaller changes do not count as an improvement


@dataclass
class TrainerConfig:
    """Lightning Trainer flags (hardware, length, checkpoints, resume)."""

    max_epochs: int = 10
    max_steps: int = -1
    accelerator: str = "auto"         # cpu | gpu | auto ...
    devices: int | str | list[int] = "auto"
    num_nodes: int = 1
    strategy: str = "auto"            # ddp, ddp_spawn, fsdp ...
    precision: Literal["32-true", "16-mixed", "bf16-mixed", "64-true"] = "32-true"
    gradient_clip_val: float | None = None
    accumulate_grad_batches: int = 1
    limit_train_batches: int | float = 1.0
    limit_val_batches: int | float = 1.0
    check_val_every_n_epoch: int = 1
    log_every_n_steps: int = 10
    monitor: str = "val_loss"         # metric that picks the best checkpoint
    monitor_mode: Literal["min", "max"] = "min"
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    progress_bar: bool = True
    deterministic: bool = False
    resume: str | None = None         # a Lightning checkpoint (.ckpt) to continue from


@dataclass
class LoggerConfig:
    """Experiment tracking. A CSV log is always written into the run directory."""

    tensorboard: bool = False         # event files in RUN_DIR/tensorboard
    mlflow: bool = False
    tracking_uri: str = "./mlruns"    # a folder (local file store) or any MLflow URI
    experiment: str = "audio-artifacts"
    run_name: str | None = None


@dataclass
class CalibrationConfig:
    """Temperature scaling fitted after training on the validation windows."""

    temperature: bool = True          # false: store T = 1 (probabilities as the network gives them)


@dataclass
class TrainConfig:
    """One experiment: everything ``train()`` needs."""

    name: str = "detector"            # the model's name (ModelInfo.name; scan rows, /health, evaluate)
    version: str | None = None        # null: the UTC start time of the run, e.g. "20261202.061500"
    seed: int = 0
    out_dir: str = "runs"             # run directories go to OUT_DIR/NAME
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)


# --- loading -------------------------------------------------------------------------


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML experiment file (or start from defaults when ``path`` is None),
    apply ``key.sub=value`` overrides, check every key and type.

    Raises
    ------
    ConfigError
        Unreadable file, bad override syntax, unknown keys (all named), wrong
        types or values out of range.
    """
    raw = load_raw(path, overrides)
    source = str(path) if path is not None else "config"
    if not overrides:
        return config_from_dict(raw, source=source)
    try:
        return config_from_dict(raw, source=source)
    except ConfigError as exc:
        # problems the file alone does not have come from the command line: say so
        try:
            config_from_dict(load_raw(path), source=source)
            from_file: set[str] = set()
        except ConfigError as file_exc:
            from_file = set(str(file_exc).splitlines()[1:])
        lines = str(exc).splitlines()
        marked = [line if line in from_file else f"{line} (from the command-line overrides)"
                  for line in lines[1:]]
        raise ConfigError("\n".join([lines[0], *marked])) from None


def load_raw(path: str | Path | None, overrides: list[str] | None = None) -> dict[str, Any]:
    """The experiment file as plain nested dicts with the overrides applied (not yet checked)."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from exc
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: top level must be a mapping, got {type(loaded).__name__}")
        raw = loaded
    return apply_overrides(raw, overrides or [])


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with ``a.b.c=value`` overrides set (values parsed as YAML)."""
    result = _deep_copy(raw)
    problems = []
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            problems.append(f"override {item!r}: expected KEY.SUB=VALUE, e.g. optim.head_lr=1e-3")
            continue
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        node = result
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    if problems:
        raise ConfigError("invalid override(s):\n" + "\n".join(f"  - {p}" for p in problems))
    return result


def config_from_dict(raw: dict[str, Any], source: str = "config") -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from plain nested dicts."""
    problems: list[str] = []
    cfg = _build(TrainConfig, raw, "", problems)
    # range checks too (a field of the wrong type was left at its valid default), so one
    # round lists every problem
    problems.extend(_check_values(cfg))
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"{source}: {len(problems)} problem(s)\n{listing}")
    return cfg


def resolved_config(cfg: TrainConfig) -> dict[str, Any]:
    """The full configuration as plain nested dicts (what every run saves)."""
    return dataclasses.asdict(cfg)


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _build(cls: type, raw: Any, prefix: str, problems: list[str]) -> Any:
    where = prefix.rstrip(".") or "top level"
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a mapping, got {raw!r}")
        return cls()
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            close = difflib.get_close_matches(str(key), sorted(names), n=1)
            hint = f"did you mean '{prefix}{close[0]}'? " if close else ""
            problems.append(f"unknown key '{prefix}{key}' ({hint}known: {', '.join(sorted(names))})")
    kwargs: dict[str, Any] = {}
    for name in names & set(raw):
        value, hint = raw[name], hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, f"{prefix}{name}.", problems)
            continue
        ok, coerced = _coerce(value, hint)
        if ok:
            kwargs[name] = coerced
        else:
            problems.append(f"'{prefix}{name}': expected {_type_name(hint)}, got {value!r}")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any) -> tuple[bool, Any]:
    """Check ``value`` against a type hint; return ``(ok, value converted)``."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True, value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None:
            return type(None) in args, None
        # exact types first, so 2 stays an int in `int | float` and "auto" a str
        for arg in sorted(args, key=lambda a: a is float):
            if arg is type(None):
                continue
            ok, coerced = _coerce(value, arg)
            if ok:
                return True, coerced
        return False, value
    if origin is Literal:
        return value in typing.get_args(hint), value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            return False, value
        (item_type,) = typing.get_args(hint)
        items = [_coerce(v, item_type) for v in value]
        return all(ok for ok, _ in items), [v for _, v in items]
    if origin is dict:
        return isinstance(value, dict), value
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                return True, float(value)
            except ValueError:
                return False, value
        return False, value
    if hint is str:
        return isinstance(value, str), value
    return isinstance(value, hint), value


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", str(hint))


def _check_values(cfg: TrainConfig) -> list[str]:
    """Range checks that types cannot express; every problem is returned."""
    problems = []

    def need(condition: bool, message: str) -> None:
        if not condition:
            problems.append(message)

    d, o, t = cfg.data, cfg.optim, cfg.trainer
    for key in ("train_manifest", "val_manifest"):
        value = getattr(d, key)
        need(bool(value) and all(value if isinstance(value, list) else [value]),
             f"'data.{key}' is required (a manifest CSV or folder, or a list of them)")
    need(d.sample_rate > 0, f"'data.sample_rate' must be > 0, got {d.sample_rate}")
    need(d.window_s > 0, f"'data.window_s' must be > 0, got {d.window_s}")
    need(0 <= d.overlap < 1, f"'data.overlap' must be in [0, 1), got {d.overlap}")
    need(d.batch_size >= 1, f"'data.batch_size' must be >= 1, got {d.batch_size}")
    need(d.num_workers >= 0, f"'data.num_workers' must be >= 0, got {d.num_workers}")
    for name in ("backbone_lr", "head_lr", "max_backbone_lr", "max_head_lr", "div_factor"):
        need(getattr(o, name) > 0, f"'optim.{name}' must be > 0, got {getattr(o, name)}")
    need(o.weight_decay >= 0, f"'optim.weight_decay' must be >= 0, got {o.weight_decay}")
    need(0 < o.pct_start < 1, f"'optim.pct_start' must be in (0, 1), got {o.pct_start}")
    for part in dataclasses.fields(cfg.augment):
        p = getattr(cfg.augment, part.name).p
        need(0 <= p <= 1, f"'augment.{part.name}.p' must be in [0, 1], got {p}")
        group = dataclasses.asdict(getattr(cfg.augment, part.name))
        for key, low in group.items():
            high_key = "max_" + key[4:]
            if key.startswith("min_") and high_key in group and None not in (low, group[high_key]):
                need(low <= group[high_key], f"'augment.{part.name}.{key}' ({low}) must be <= "
                     f"'{high_key}' ({group[high_key]})")
    inj = cfg.augment.inject
    need((inj.min_db is None) == (inj.max_db is None),
         "'augment.inject.min_db' and 'max_db': give both or neither")
    need(t.max_epochs >= 1 or t.max_steps > 0, "'trainer.max_epochs' must be >= 1")
    need(t.num_nodes >= 1, f"'trainer.num_nodes' must be >= 1, got {t.num_nodes}")
    if t.monitor not in MONITOR_METRICS:
        close = difflib.get_close_matches(t.monitor, list(MONITOR_METRICS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        problems.append(f"'trainer.monitor': {t.monitor!r} is not a logged metric{hint}; valid: "
                        + ", ".join(MONITOR_METRICS))
    elif MONITOR_METRICS[t.monitor] != t.monitor_mode:
        problems.append(f"'trainer.monitor_mode' is {t.monitor_mode!r} but {t.monitor} is better when "
                        f"{'higher' if MONITOR_METRICS[t.monitor] == 'max' else 'lower'}: "
                        f"use trainer.monitor_mode={MONITOR_METRICS[t.monitor]}")
    es = t.early_stopping
    need(es.patience is None or es.patience >= 1,
         f"'trainer.early_stopping.patience' must be >= 1 (or null: off), got {es.patience}")
    need(es.min_delta >= 0, f"'trainer.early_stopping.min_delta' must be >= 0, got {es.min_delta}")
    return problems
