"""``train(cfg) -> model directory``: the whole training run as one plain function.

Steps: save the resolved config; decode the manifests (bad files reported
before anything else); build the model (optionally from a PANNs checkpoint);
fit with Lightning (flags from the config); reload the best checkpoint; score
the validation recordings (max over windows) and choose the operating threshold
(:func:`audio_artifacts.evaluation.metrics.best_threshold`); write the model
directory (safetensors weights, config, threshold, metrics, model card).

Run directory (``--out``, default ``OUT_DIR/NAME``)::

    config.yaml       resolved config of this run
    checkpoints/      Lightning checkpoints (best-*.ckpt, last.ckpt) for resume
    logs/             CSV metrics per step / epoch
    metrics.json      validation reports at the chosen threshold
    model/            the model directory (what scan / evaluate / export read)
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import yaml
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import Logger
from torch import nn
from torch.utils.data import DataLoader

from audio_artifacts import __version__
from audio_artifacts.data.dataset import WindowDataset
from audio_artifacts.errors import CheckpointError, ConfigError
from audio_artifacts.evaluation import metrics
from audio_artifacts.evaluation.calibration import calibration_report, fit_temperature
from audio_artifacts.models.model_dir import ModelInfo, save_model_dir
from audio_artifacts.models.registry import MODELS, build_model
from audio_artifacts.training.config import TrainConfig, resolved_config
from audio_artifacts.training.datamodule import WindowDataModule, source_name
from audio_artifacts.training.module import DetectorModule, check_finite
from audio_artifacts.training.tracking import make_loggers

__all__ = ["build_training_model", "check_resume_checkpoint", "model_version", "prepare_run",
           "run_directory", "score_windows", "train", "trainer_flags", "window_logits"]

log = logging.getLogger(__name__)


def run_directory(cfg: TrainConfig, out: str | Path | None = None) -> Path:
    """Where a run writes: ``out`` if given, else ``cfg.out_dir / cfg.name``."""
    return Path(out) if out is not None else Path(cfg.out_dir) / cfg.name


def model_version(cfg: TrainConfig, now: datetime | None = None) -> str:
    """The trained model's version: ``cfg.version``, else the UTC time, ``YYYYMMDD.HHMMSS``."""
    if cfg.version:
        return cfg.version
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%d.%H%M%S")


def build_training_model(cfg: TrainConfig) -> nn.Module:
    """The registry model of ``cfg.model``, started from ``model.pretrained`` if set."""
    m = cfg.model
    if m.name not in MODELS:
        raise ConfigError(f"'model.name': unknown model {m.name!r}; valid: {', '.join(sorted(MODELS))}")
    kwargs = dict(m.arguments)
    if m.init_from is not None and m.pretrained is not None:
        raise ConfigError("'model.init_from' and 'model.pretrained' exclude each other: "
                          "a model directory already holds its backbone's weights")
    if m.pretrained is not None:
        if "pretrained" not in inspect.signature(MODELS[m.name]).parameters:
            raise ConfigError(f"'model.pretrained': model {m.name!r} cannot start from a PANNs checkpoint")
        path = Path(m.pretrained).expanduser()
        if not path.is_file():
            raise CheckpointError(f"{path}: pretrained checkpoint not found")
        kwargs["pretrained"] = str(path.resolve())
    try:
        model = build_model(m.name, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"'model.arguments' do not fit model {m.name!r}: {exc}") from exc
    if m.init_from is not None:
        _start_from_model_dir(model, cfg)
    return model


def _start_from_model_dir(model: nn.Module, cfg: TrainConfig) -> None:
    """Load the weights of the model directory ``cfg.model.init_from`` into ``model`` (fine-tuning).

    The directory must hold the same model (registry name and arguments) at
    the same rate and window as ``cfg``; every difference is named.
    """
    from audio_artifacts.models.model_dir import load_state, read_model_info

    m, d = cfg.model, cfg.data
    directory = Path(m.init_from).expanduser()
    info = read_model_info(directory)
    problems = []
    if info.architecture != m.name:
        problems.append(f"it holds model {info.architecture!r}, the config names {m.name!r}")
    ours = model.arguments() if hasattr(model, "arguments") else dict(m.arguments)
    # A directory written before an argument existed holds the constructor's default for it.
    defaults = {name: p.default for name, p in inspect.signature(MODELS[m.name]).parameters.items()
                if p.default is not inspect.Parameter.empty}
    theirs = {k: info.arguments.get(k, defaults.get(k)) for k in set(ours) | set(info.arguments)}
    differing = sorted(k for k in theirs if ours.get(k) != theirs[k])
    if info.architecture == m.name and differing:
        problems.append("its arguments differ in " + ", ".join(
            f"{k} (directory {theirs[k]!r}, config {ours.get(k)!r})" for k in differing))
    if info.sample_rate != d.sample_rate:
        problems.append(f"its rate is {info.sample_rate} Hz, 'data.sample_rate' is {d.sample_rate}")
    if (info.window.duration_s, info.window.overlap) != (d.window_s, d.overlap):
        problems.append(f"its window is {info.window.duration_s:g} s at {info.window.overlap:g} overlap, "
                        f"the config's {d.window_s:g} s at {d.overlap:g}")
    if problems:
        raise ConfigError(f"'model.init_from' {directory}: " + "; ".join(problems))
    load_state(directory, model)


def check_resume_checkpoint(path: Path, module: pl.LightningModule) -> None:
    """Refuse a resume checkpoint that is unsafe, not Lightning's, or of another model.

    Raises
    ------
    CheckpointError
        Naming the file and the reason: unreadable / not tensors-only, no
        ``state_dict``, or missing / unexpected / mis-shaped weights (listed).
    """
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for bad / unsafe files
        raise CheckpointError(f"{path}: not a readable tensors-only Lightning checkpoint ({exc})") from exc
    state = content.get("state_dict") if isinstance(content, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: no 'state_dict' inside; not a Lightning checkpoint of `train`")
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = sorted(
        f"{k} (checkpoint {list(state[k].shape)}, model {list(expected[k].shape)})"
        for k in set(state) & set(expected) if state[k].shape != expected[k].shape
    )
    problems = [f"{label}: {', '.join(keys[:20])}{' ...' if len(keys) > 20 else ''}"
                for label, keys in (("missing", missing), ("unexpected", unexpected),
                                    ("mis-shaped", misshaped)) if keys]
    if problems:
        raise CheckpointError(f"{path}: does not fit model {type(module.model).__name__} as configured; "
                              + "; ".join(problems))


def check_accelerator(cfg: TrainConfig) -> None:
    """Fail before any data is decoded when the configured accelerator is not on this machine.

    Lightning would otherwise stop with its own traceback only after the
    training audio has been read.
    """
    accelerator = str(cfg.trainer.accelerator).lower()
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"trainer.accelerator is '{cfg.trainer.accelerator}' but no CUDA GPU is visible here; "
            "use trainer.accelerator=cpu (or auto) and trainer.precision=32-true"
        )
    if isinstance(cfg.trainer.devices, list) and (accelerator == "cpu" or not torch.cuda.is_available()):
        where = "the CPU accelerator takes none" if accelerator == "cpu" else "no CUDA GPU is visible here"
        raise ConfigError(
            f"trainer.devices={cfg.trainer.devices} names GPU indices but {where}; "
            "on CPUs give a count: trainer.accelerator=cpu trainer.devices=2 trainer.strategy=ddp"
        )
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("trainer.accelerator is 'mps' but MPS is not available here; use trainer.accelerator=cpu")


def trainer_flags(cfg: TrainConfig) -> dict[str, Any]:
    """``pl.Trainer`` keyword arguments of ``cfg.trainer`` (hardware, length, logging cadence)."""
    t = cfg.trainer
    return dict(
        accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes, strategy=t.strategy,
        precision=t.precision, max_epochs=t.max_epochs, max_steps=t.max_steps,
        gradient_clip_val=t.gradient_clip_val, accumulate_grad_batches=t.accumulate_grad_batches,
        limit_train_batches=t.limit_train_batches, limit_val_batches=t.limit_val_batches,
        check_val_every_n_epoch=t.check_val_every_n_epoch, log_every_n_steps=t.log_every_n_steps,
        enable_progress_bar=t.progress_bar, deterministic=t.deterministic,
        use_distributed_sampler=False,  # the DataModule builds rank-aware samplers
        num_sanity_val_steps=0, enable_model_summary=False,
    )


def _trainer(cfg: TrainConfig, run_dir: Path, loggers: list[Logger],
             extra: Sequence[Callback] = ()) -> tuple[pl.Trainer, ModelCheckpoint]:
    t = cfg.trainer
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints", filename="best-{epoch}-{step}", monitor=t.monitor,
        mode=t.monitor_mode, save_top_k=1, save_last=True,
    )
    callbacks: list[Callback] = [checkpoint]
    if t.early_stopping.patience is not None:
        callbacks.append(EarlyStopping(monitor=t.monitor, mode=t.monitor_mode,
                                       patience=t.early_stopping.patience,
                                       min_delta=t.early_stopping.min_delta, verbose=True))
    trainer = pl.Trainer(**trainer_flags(cfg), callbacks=[*callbacks, *extra], logger=loggers,
                         default_root_dir=str(run_dir))
    return trainer, checkpoint


@torch.inference_mode()
def window_logits(
    model: nn.Module, dataset: WindowDataset, batch_size: int, device: torch.device | str = "cpu"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Artifact logits of every window of ``dataset`` (no augmentation).

    Returns ``(logits (n,) float64, labels (n,), recording index (n,))``.
    """
    model.eval().to(device)
    logits, labels, recording = [], [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        out = model(batch["waveform"].to(device), batch["length"].to(device)).float()
        check_finite(out, "scoring the validation windows")
        logits.append(out.cpu().double().numpy())
        labels.append(batch["label"].numpy())
        recording.append(np.asarray(batch["recording"]))
    return (np.concatenate(logits), np.concatenate(labels).astype(int),
            np.concatenate(recording).astype(int))


def score_windows(
    model: nn.Module, dataset: WindowDataset, batch_size: int, device: torch.device | str = "cpu",
    temperature: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Artifact probabilities ``sigmoid(logit / temperature)`` of every window of ``dataset``.

    Returns ``(probabilities (n,), labels (n,), recording index (n,))``.
    """
    from audio_artifacts.inference.detector import sigmoid

    logits, labels, recording = window_logits(model, dataset, batch_size, device)
    return sigmoid(logits / temperature), labels, recording


def _calibrate(model: nn.Module, dm: WindowDataModule, cfg: TrainConfig, device) -> dict[str, Any]:
    """Temperature on the validation windows, then recording scores (max over the
    calibrated windows), the F1-optimal threshold and reports at that threshold.

    The temperature is fitted at the window level (the level the network is
    trained and calibrated on); the threshold is chosen on the calibrated
    recording scores, so it lives on the same scale as the probabilities that
    scan reports. Temperature scaling is monotone: the verdicts on validation are
    those an uncalibrated model would give at the matching threshold.
    """
    from audio_artifacts.inference.detector import sigmoid

    val = dm.val_set
    logits, labels, recording = window_logits(
        model, val, cfg.data.eval_batch_size or cfg.data.batch_size, device
    )
    temperature = fit_temperature(logits, labels) if cfg.calibration.temperature else 1.0
    raw, probs = sigmoid(logits), sigmoid(logits / temperature)
    rec_ids = list(metrics.max_by_recording(recording.tolist(), probs))
    rec_labels = np.array([val.recordings[r].entry.label for r in rec_ids])

    def recording_scores(p: np.ndarray) -> np.ndarray:
        scores = metrics.max_by_recording(recording.tolist(), p)
        return np.array([scores[r] for r in rec_ids])

    rec_probs = recording_scores(probs)
    threshold, how = metrics.operating_threshold(rec_labels, rec_probs, str(cfg.data.val_manifest))
    calibration = {"temperature": temperature, "fitted_on": "validation windows (log loss)"}
    for level, y, before, after in (("windows", labels, raw, probs),
                                    ("recordings", rec_labels, recording_scores(raw), rec_probs)):
        b, a = calibration_report(y, before), calibration_report(y, after)
        calibration[level] = {"ece_before": b["ece"], "ece_after": a["ece"],
                              "brier_before": b["brier"], "brier_after": a["brier"]}
    return {
        "threshold": threshold,
        "threshold_rule": how,
        "calibration": calibration,
        "recordings": metrics.binary_report(rec_labels, rec_probs, threshold),
        "windows": metrics.binary_report(labels, probs, threshold),
    }


def _flat_metrics(report: dict[str, Any], fit: dict[str, Any]) -> dict[str, Any]:
    flat = {}
    for level in ("recordings", "windows"):
        for key in ("f1", "precision", "recall", "roc_auc", "average_precision", "n", "positives"):
            flat[f"val_{level[:-1]}_{key}"] = report[level][key]
        for key in ("ece_before", "ece_after"):
            flat[f"val_{level[:-1]}_{key}"] = report["calibration"][level][key]
    flat.update(fit)
    return flat


def _card(cfg: TrainConfig, info: ModelInfo, report: dict[str, Any], dm: WindowDataModule,
          fit: dict[str, Any], command: str) -> str:
    rows = []
    for level in ("recordings", "windows"):
        r = report[level]
        auc = "n/a" if r["roc_auc"] is None else f"{r['roc_auc']:.4f}"
        ap = "n/a" if r["average_precision"] is None else f"{r['average_precision']:.4f}"
        rows.append(f"| {level} | {r['n']} ({r['positives']} artifact) | {r['f1']:.4f} | "
                    f"{r['precision']:.4f} | {r['recall']:.4f} | {auc} | {ap} |")
    calibration_rows = [
        f"| {level} | {c['ece_before']:.4f} / {c['ece_after']:.4f} | "
        f"{c['brier_before']:.4f} / {c['brier_after']:.4f} |"
        for level, c in report["calibration"].items() if isinstance(c, dict)
    ]
    negatives, positives = dm.class_counts()
    return f"""# Model card: {info.name} {info.version}

An artifact detector for hearing-aid test recordings: `waveform (B, samples)` at
{info.sample_rate} Hz -> artifact logit per {info.window.duration_s} s window
({info.window.overlap:.0%} overlap); probability = sigmoid(logit / T) with the
temperature T = {info.temperature:.4g} fitted on the validation windows. A recording's
score is the maximum over its windows.

- architecture: `{info.architecture}`, arguments in `model.json`
- written by audio-artifacts {info.package_version}, torch {torch.__version__}

## Data

- training: `{source_name(cfg.data.train_manifest)}`: {len(dm.train_set.recordings)} recordings,
  {len(dm.train_set)} windows ({positives} artifact, {negatives} clean before augmentation)
- validation: `{cfg.data.val_manifest}`: {len(dm.val_set.recordings)} recordings, {len(dm.val_set)} windows
- data root: `{cfg.data.data_root}`

## Training

{fit.get('epochs')} epoch(s), {fit.get('global_step')} optimiser steps, seed {cfg.seed},
batch {cfg.data.batch_size}, precision {cfg.trainer.precision};
AdamW (backbone lr {cfg.optim.backbone_lr}, head lr {cfg.optim.head_lr}, weight decay
{cfg.optim.weight_decay}), schedule `{cfg.optim.scheduler}`; start point:
{cfg.model.pretrained or (f'the model directory {cfg.model.init_from}' if cfg.model.init_from else 'random initialisation')}. Augmentation: see `config.yaml` (`augment`).

## Operating threshold

**{info.threshold:.6g}** on the (calibrated) artifact probability: {report['threshold_rule']}.

## Calibration (validation, before / after temperature scaling)

| level | ECE | Brier |
|---|---|---|
{chr(10).join(calibration_rows)}

## Validation metrics at the threshold

| level | n | F1 | precision | recall | ROC AUC | AP |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Validation data chose the threshold, so these figures are optimistic; evaluate on
a held-out test manifest with `audio-artifacts evaluate`.

## Reproduce

The exact command of this run:

    {command}

or, from this directory's resolved config (paths as they were at training time):

    audio-artifacts train --config config.yaml
"""


def prepare_run(cfg: TrainConfig) -> tuple[WindowDataModule, nn.Module, DetectorModule]:
    """Check the accelerator, decode the manifests (every bad file reported here),
    build the model and its LightningModule: what fitting and the LR finder share."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    check_accelerator(cfg)
    dm = WindowDataModule(cfg.data, cfg.augment, seed=cfg.seed)
    dm.load()  # every unreadable file is reported here, before any training
    model = build_training_model(cfg)
    pos_weight = None
    if cfg.optim.class_weighting and not cfg.data.balanced_sampler:
        pos_weight = dm.pos_weight()
    module = DetectorModule(model, cfg.optim, cfg.augment, pos_weight=pos_weight, seed=cfg.seed)
    return dm, model, module


def train(cfg: TrainConfig, out: str | Path | None = None, *, command: str | None = None,
          callbacks: Sequence[Callback] = ()) -> Path:
    """Train a detector as configured and write its model directory.

    Parameters
    ----------
    cfg : the experiment (see :mod:`audio_artifacts.training.config`)
    out : run directory (default ``cfg.out_dir / cfg.name``)
    command : the command line that started the run, for the model card
    callbacks : extra Lightning callbacks (the sweep's pruning callback)

    Returns
    -------
    Path
        The model directory ``<run dir>/model`` (on DDP ranks other than 0,
        the same path, written by rank 0).

    Raises
    ------
    ManifestError
        Unreadable manifests or recordings (before training starts).
    ConfigError, CheckpointError
        Bad model settings, a pretrained checkpoint that does not fit.
    """
    if cfg.model.name == "dsp_baseline":  # fitted in closed form, not by Lightning epochs
        from audio_artifacts.training.baseline_fit import fit_baseline

        return fit_baseline(cfg, out, command=command)
    run_dir = run_directory(cfg, out)
    model_dir = run_dir / "model"
    resolved = resolved_config(cfg)
    version = model_version(cfg)
    command = command or f"audio-artifacts train --config {run_dir / 'config.yaml'}"

    resume = None
    if cfg.trainer.resume is not None:  # before the data is decoded: a wrong path fails at once
        resume = Path(cfg.trainer.resume).expanduser()
        if not resume.is_file():
            raise CheckpointError(f"{resume}: checkpoint to resume from not found")
    dm, model, module = prepare_run(cfg)
    if resume is not None:
        check_resume_checkpoint(resume, module)

    run_dir.mkdir(parents=True, exist_ok=True)
    loggers = make_loggers(cfg, run_dir)
    trainer, checkpoint = _trainer(cfg, run_dir, loggers, callbacks)
    if trainer.is_global_zero:
        (run_dir / "config.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")
    for logger in loggers:  # the resolved config as run parameters (rank 0 only)
        logger.log_hyperparams(resolved)

    # weights_only: a checkpoint can only hold tensors and plain containers, never code
    trainer.fit(module, datamodule=dm, ckpt_path=resume, weights_only=True if resume else None)
    if not trainer.is_global_zero:
        return model_dir

    best = checkpoint.best_model_path or checkpoint.last_model_path
    if best and not Path(best).is_file():  # a resumed run may point at a removed file
        best = checkpoint.last_model_path
    if best:
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    model.spec_augment = None
    best_score = checkpoint.best_model_score
    fit = {
        "epochs": int(trainer.current_epoch),
        "global_step": int(trainer.global_step),
        "best_checkpoint": Path(best).name if best else None,
        "monitor": cfg.trainer.monitor,
        "best_score": None if best_score is None else float(best_score),
        "stopped_early": bool(any(isinstance(c, EarlyStopping) and c.stopped_epoch > 0
                                  for c in trainer.callbacks)),
    }
    speed = trainer.callback_metrics.get("train_windows_per_s")
    if speed is not None:
        fit["train_windows_per_s"] = round(float(speed), 2)

    report = _calibrate(model, dm, cfg, trainer.strategy.root_device)
    model.to("cpu")
    info = ModelInfo(
        name=cfg.name, version=version, architecture=cfg.model.name,
        arguments=model.arguments(), sample_rate=cfg.data.sample_rate, window=dm.spec,
        threshold=float(report["threshold"]), package_version=__version__,
        metrics=_flat_metrics(report, fit), temperature=float(report["calibration"]["temperature"]),
    )
    save_model_dir(model_dir, model, info, config=resolved,
                   card=_card(cfg, info, report, dm, fit, command))
    (run_dir / "metrics.json").write_text(
        json.dumps({"validation": report, "fit": fit}, indent=2), encoding="utf-8"
    )
    if cfg.logger.mlflow:
        tracker = loggers[-1]
        tracker.log_metrics({k: v for k, v in info.metrics.items()
                             if isinstance(v, (int, float)) and v is not None}, step=fit["global_step"])
        tracker.experiment.log_artifacts(tracker.run_id, str(model_dir), artifact_path="model")
    log.info("model directory written: %s (threshold %.4g, temperature %.4g)", model_dir,
             info.threshold, info.temperature)
    return model_dir
