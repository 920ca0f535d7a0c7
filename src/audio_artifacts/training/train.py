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
import os
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger
from torch import nn
from torch.utils.data import DataLoader

from audio_artifacts import __version__
from audio_artifacts.data.dataset import WindowDataset
from audio_artifacts.errors import CheckpointError, ConfigError
from audio_artifacts.evaluation import metrics
from audio_artifacts.models.model_dir import ModelInfo, save_model_dir
from audio_artifacts.models.registry import MODELS, build_model
from audio_artifacts.training.config import TrainConfig, resolved_config
from audio_artifacts.training.datamodule import WindowDataModule
from audio_artifacts.training.module import DetectorModule, check_finite

__all__ = ["build_training_model", "check_resume_checkpoint", "run_directory", "score_windows", "train"]

log = logging.getLogger(__name__)


def run_directory(cfg: TrainConfig, out: str | Path | None = None) -> Path:
    """Where a run writes: ``out`` if given, else ``cfg.out_dir / cfg.name``."""
    return Path(out) if out is not None else Path(cfg.out_dir) / cfg.name


def build_training_model(cfg: TrainConfig) -> nn.Module:
    """The registry model of ``cfg.model``, started from ``model.pretrained`` if set."""
    m = cfg.model
    if m.name not in MODELS:
        raise ConfigError(f"'model.name': unknown model {m.name!r}; valid: {', '.join(sorted(MODELS))}")
    kwargs = dict(m.arguments)
    if m.pretrained is not None:
        if "pretrained" not in inspect.signature(MODELS[m.name]).parameters:
            raise ConfigError(f"'model.pretrained': model {m.name!r} cannot start from a PANNs checkpoint")
        path = Path(m.pretrained).expanduser()
        if not path.is_file():
            raise CheckpointError(f"{path}: pretrained checkpoint not found")
        kwargs["pretrained"] = str(path.resolve())
    try:
        return build_model(m.name, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"'model.arguments' do not fit model {m.name!r}: {exc}") from exc


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


def _tracking_uri(uri: str) -> str:
    """A plain folder becomes a ``file://`` URI; anything with a scheme is kept."""
    if "://" in uri or uri.startswith(("file:", "databricks", "azureml:")):
        return uri
    return Path(uri).expanduser().resolve().as_uri()


def _loggers(cfg: TrainConfig, run_dir: Path) -> list[Logger]:
    loggers: list[Logger] = [CSVLogger(str(run_dir), name="logs", version="")]
    if cfg.logger.mlflow:
        from lightning.pytorch.loggers import MLFlowLogger

        uri = _tracking_uri(cfg.logger.tracking_uri)
        if uri.startswith("file:"):
            # MLflow 3 refuses its file store unless asked; a local folder is our
            # documented default (a database store needs the full mlflow package)
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        loggers.append(MLFlowLogger(
            experiment_name=cfg.logger.experiment,
            run_name=cfg.logger.run_name or cfg.name,
            tracking_uri=uri,
            log_model=False,
        ))
    return loggers


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
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("trainer.accelerator is 'mps' but MPS is not available here; use trainer.accelerator=cpu")


def _trainer(cfg: TrainConfig, run_dir: Path, loggers: list[Logger]) -> tuple[pl.Trainer, ModelCheckpoint]:
    t = cfg.trainer
    checkpoint = ModelCheckpoint(
        dirpath=run_dir / "checkpoints", filename="best-{epoch}-{step}", monitor=t.monitor,
        mode=t.monitor_mode, save_top_k=1, save_last=True,
    )
    trainer = pl.Trainer(
        accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes, strategy=t.strategy,
        precision=t.precision, max_epochs=t.max_epochs, max_steps=t.max_steps,
        gradient_clip_val=t.gradient_clip_val, accumulate_grad_batches=t.accumulate_grad_batches,
        limit_train_batches=t.limit_train_batches, limit_val_batches=t.limit_val_batches,
        check_val_every_n_epoch=t.check_val_every_n_epoch, log_every_n_steps=t.log_every_n_steps,
        enable_progress_bar=t.progress_bar, deterministic=t.deterministic,
        callbacks=[checkpoint], logger=loggers, default_root_dir=str(run_dir),
        use_distributed_sampler=False,  # the DataModule builds rank-aware samplers
        num_sanity_val_steps=0, enable_model_summary=False,
    )
    return trainer, checkpoint


@torch.inference_mode()
def score_windows(
    model: nn.Module, dataset: WindowDataset, batch_size: int, device: torch.device | str = "cpu"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Artifact probabilities of every window of ``dataset`` (no augmentation).

    Returns ``(probabilities (n,), labels (n,), recording index (n,))``.
    """
    model.eval().to(device)
    probabilities, labels, recording = [], [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        logits = model(batch["waveform"].to(device), batch["length"].to(device)).float()
        check_finite(logits, "scoring the validation windows")
        probabilities.append(torch.sigmoid(logits).cpu().numpy())
        labels.append(batch["label"].numpy())
        recording.append(np.asarray(batch["recording"]))
    return (np.concatenate(probabilities), np.concatenate(labels).astype(int),
            np.concatenate(recording).astype(int))


def _calibrate(model: nn.Module, dm: WindowDataModule, cfg: TrainConfig, device) -> dict[str, Any]:
    """Recording scores on validation, the F1-optimal threshold, reports at that threshold."""
    val = dm.val_set
    probs, labels, recording = score_windows(
        model, val, cfg.data.eval_batch_size or cfg.data.batch_size, device
    )
    rec_scores = metrics.max_by_recording(recording.tolist(), probs)
    rec_ids = list(rec_scores)
    rec_labels = np.array([val.recordings[r].entry.label for r in rec_ids])
    rec_probs = np.array([rec_scores[r] for r in rec_ids])
    threshold, how = metrics.operating_threshold(rec_labels, rec_probs, str(cfg.data.val_manifest))
    return {
        "threshold": threshold,
        "threshold_rule": how,
        "recordings": metrics.binary_report(rec_labels, rec_probs, threshold),
        "windows": metrics.binary_report(labels, probs, threshold),
    }


def _flat_metrics(report: dict[str, Any], fit: dict[str, Any]) -> dict[str, Any]:
    flat = {}
    for level in ("recordings", "windows"):
        for key in ("f1", "precision", "recall", "roc_auc", "average_precision", "n", "positives"):
            flat[f"val_{level[:-1]}_{key}"] = report[level][key]
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
    negatives, positives = dm.class_counts()
    return f"""# Model card: {info.name} {info.version}

An artifact detector for hearing-aid test recordings: `waveform (B, samples)` at
{info.sample_rate} Hz -> artifact logit per {info.window.duration_s} s window
({info.window.overlap:.0%} overlap); probability = sigmoid(logit). A recording's
score is the maximum over its windows.

- architecture: `{info.architecture}`, arguments in `model.json`
- written by audio-artifacts {info.package_version}, torch {torch.__version__}

## Data

- training: `{cfg.data.train_manifest}`: {len(dm.train_set.recordings)} recordings,
  {len(dm.train_set)} windows ({positives} artifact, {negatives} clean before augmentation)
- validation: `{cfg.data.val_manifest}`: {len(dm.val_set.recordings)} recordings, {len(dm.val_set)} windows
- data root: `{cfg.data.data_root}`

## Training

{fit.get('epochs')} epoch(s), {fit.get('global_step')} optimiser steps, seed {cfg.seed},
batch {cfg.data.batch_size}, precision {cfg.trainer.precision};
AdamW (backbone lr {cfg.optim.backbone_lr}, head lr {cfg.optim.head_lr}, weight decay
{cfg.optim.weight_decay}), schedule `{cfg.optim.scheduler}`; start point:
{cfg.model.pretrained or 'random initialisation'}. Augmentation: see `config.yaml` (`augment`).

## Operating threshold

**{info.threshold:.6g}** on the artifact probability: {report['threshold_rule']}.

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


def train(cfg: TrainConfig, out: str | Path | None = None, *, command: str | None = None) -> Path:
    """Train a detector as configured and write its model directory.

    Parameters
    ----------
    cfg : the experiment (see :mod:`audio_artifacts.training.config`)
    out : run directory (default ``cfg.out_dir / cfg.name``)
    command : the command line that started the run, for the model card

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
    command = command or f"audio-artifacts train --config {run_dir / 'config.yaml'}"
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    check_accelerator(cfg)
    dm = WindowDataModule(cfg.data, cfg.augment, seed=cfg.seed)
    dm.load()  # every unreadable file is reported here, before any training
    model = build_training_model(cfg)
    pos_weight = None
    if cfg.optim.class_weighting and not cfg.data.balanced_sampler:
        pos_weight = dm.pos_weight()
    module = DetectorModule(model, cfg.optim, cfg.augment, pos_weight=pos_weight, seed=cfg.seed)

    resume = None
    if cfg.trainer.resume is not None:
        resume = Path(cfg.trainer.resume).expanduser()
        if not resume.is_file():
            raise CheckpointError(f"{resume}: checkpoint to resume from not found")
        check_resume_checkpoint(resume, module)

    run_dir.mkdir(parents=True, exist_ok=True)
    loggers = _loggers(cfg, run_dir)
    trainer, checkpoint = _trainer(cfg, run_dir, loggers)
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
    fit = {
        "epochs": int(trainer.current_epoch),
        "global_step": int(trainer.global_step),
        "best_checkpoint": Path(best).name if best else None,
    }
    speed = trainer.callback_metrics.get("train_windows_per_s")
    if speed is not None:
        fit["train_windows_per_s"] = round(float(speed), 2)

    report = _calibrate(model, dm, cfg, trainer.strategy.root_device)
    model.to("cpu")
    info = ModelInfo(
        name=cfg.name, version=cfg.version, architecture=cfg.model.name,
        arguments=model.arguments(), sample_rate=cfg.data.sample_rate, window=dm.spec,
        threshold=float(report["threshold"]), package_version=__version__,
        metrics=_flat_metrics(report, fit),
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
    log.info("model directory written: %s (threshold %.4g)", model_dir, info.threshold)
    return model_dir
