"""Fitting the classical DSP baseline (``model.name: dsp_baseline``) without epochs.

:func:`audio_artifacts.training.train.train` hands such a config here. Steps:

1. decode the training and validation manifests (the same code as training);
2. cut every recording into the same windows (:func:`~audio_artifacts.windows.window_starts`,
   the last one zero-padded, with its real length) and label them with
   :func:`~audio_artifacts.data.labels.window_label`;
3. compute the hand-made features of every window (no augmentation);
4. fit the standardiser (mean / std of the training features) and an
   L2-regularised logistic regression, full batch with L-BFGS: the mean
   (class-weighted when ``optim.class_weighting``) log loss plus
   ``optim.weight_decay / 2 * |w|^2``;
5. choose the threshold on the validation recordings (max over windows,
   :func:`~audio_artifacts.evaluation.metrics.best_threshold`) and write a
   normal model directory with a model card, plus ``config.yaml`` and
   ``metrics.json`` in the run directory.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from audio_artifacts import __version__
from audio_artifacts.audio import AudioConfig
from audio_artifacts.data.dataset import Recording, load_recordings
from audio_artifacts.data.labels import DEFAULT_MIN_OVERLAP_S, window_label
from audio_artifacts.errors import ConfigError
from audio_artifacts.evaluation import metrics
from audio_artifacts.models.dsp_baseline import DspBaseline
from audio_artifacts.models.model_dir import ModelInfo, save_model_dir
from audio_artifacts.training.config import TrainConfig, resolved_config
from audio_artifacts.training.datamodule import read_entries, source_name
from audio_artifacts.windows import WindowSpec, window_starts

__all__ = ["BASELINE_NAME", "WindowFeatures", "fit_baseline", "fit_logistic", "window_features"]

BASELINE_NAME = "dsp_baseline"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WindowFeatures:
    """Features of every window of a set of recordings.

    ``features`` float64 ``(n, n_features)``; ``labels`` int64 ``(n,)``;
    ``recording`` int64 ``(n,)``, index into the recordings.
    """

    features: np.ndarray
    labels: np.ndarray
    recording: np.ndarray


@torch.inference_mode()
def window_features(
    model: DspBaseline, recordings: list[Recording], spec: WindowSpec, sample_rate: int,
    min_overlap_s: float = DEFAULT_MIN_OVERLAP_S, batch_size: int = 32,
) -> WindowFeatures:
    """Raw features of every window of ``recordings`` (windows and labels as in training)."""
    size = spec.window_samples(sample_rate)
    rows, lengths, labels, owners = [], [], [], []
    for index, rec in enumerate(recordings):
        n = rec.samples.shape[0]
        for start in window_starts(n, spec, sample_rate).tolist():
            real = min(size, n - start)
            rows.append((index, start, real))
            labels.append(window_label(start / sample_rate, (start + real) / sample_rate, rec.entry, min_overlap_s))
            owners.append(index)
            lengths.append(real)
    chunks = []
    for first in range(0, len(rows), batch_size):
        part = rows[first : first + batch_size]
        batch = np.zeros((len(part), size), dtype=np.float32)
        for row, (index, start, real) in enumerate(part):
            batch[row, :real] = recordings[index].samples[start : start + real]
        chunks.append(model.features(torch.from_numpy(batch), torch.tensor([r[2] for r in part])).double().numpy())
    features = np.concatenate(chunks) if chunks else np.zeros((0, len(model.feature_names)))
    if not np.all(np.isfinite(features)):
        raise ValueError("non-finite baseline features; please report the recordings that give them")
    return WindowFeatures(features, np.asarray(labels, dtype=np.int64), np.asarray(owners, dtype=np.int64))


def fit_logistic(
    z: np.ndarray, labels: np.ndarray, l2: float, pos_weight: float = 1.0, max_iter: int = 500
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by full-batch L-BFGS (float64).

    Minimises ``mean(w_i * logloss_i) + l2 / 2 * |w|^2`` (bias not penalised),
    ``w_i = pos_weight`` for positives, 1 for negatives (normalised to mean 1).

    Returns
    -------
    (weights (n_features,), bias)
    """
    x = torch.from_numpy(np.asarray(z, dtype=np.float64))
    y = torch.from_numpy(np.asarray(labels, dtype=np.float64))
    sample_weight = torch.where(y > 0.5, torch.tensor(float(pos_weight), dtype=torch.float64),
                                torch.tensor(1.0, dtype=torch.float64))
    sample_weight = sample_weight / sample_weight.mean()
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    prior = float(np.clip(y.mean().item(), 1e-3, 1 - 1e-3))
    b = torch.tensor(np.log(prior / (1 - prior)), dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([w, b], max_iter=max_iter, tolerance_grad=1e-9, tolerance_change=1e-12,
                                  history_size=20, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y, reduction="none")
                * sample_weight).mean() + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return w.detach().numpy(), float(b.detach())


def _recording_report(model: DspBaseline, val: WindowFeatures, val_recordings: list[Recording],
                      source: str) -> dict[str, Any]:
    with torch.inference_mode():
        z = (torch.from_numpy(val.features).float() - model.feature_mean) / model.feature_std
        probs = torch.sigmoid(model.head(z).squeeze(-1)).double().numpy()
    rec_scores = metrics.max_by_recording(val.recording.tolist(), probs)
    ids = list(rec_scores)
    rec_labels = np.array([val_recordings[i].entry.label for i in ids])
    rec_probs = np.array([rec_scores[i] for i in ids])
    threshold, how = metrics.operating_threshold(rec_labels, rec_probs, str(source))
    return {
        "threshold": threshold,
        "threshold_rule": how,
        "recordings": metrics.binary_report(rec_labels, rec_probs, threshold),
        "windows": metrics.binary_report(val.labels, probs, threshold),
    }


def _card(cfg: TrainConfig, info: ModelInfo, report: dict[str, Any], fit: dict[str, Any],
          names: list[str], weights: np.ndarray, command: str) -> str:
    rows = []
    for level in ("recordings", "windows"):
        r = report[level]
        auc = "n/a" if r["roc_auc"] is None else f"{r['roc_auc']:.4f}"
        rows.append(f"| {level} | {r['n']} ({r['positives']} artifact) | {r['f1']:.4f} | "
                    f"{r['precision']:.4f} | {r['recall']:.4f} | {auc} |")
    coefficients = "\n".join(f"| {n} | {w:+.3f} |" for n, w in sorted(zip(names, weights), key=lambda p: -abs(p[1])))
    return f"""# Model card: {info.name} {info.version} (classical DSP baseline)

Hand-made features per {info.window.duration_s} s window ({info.window.overlap:.0%} overlap) at
{info.sample_rate} Hz -- ECMA-418-1 tone-to-noise and prominence ratios, envelope
periodicity (4-40 ms, 0.1-1.5 s), kurtosis and crest factor -- standardised and
mapped to an artifact logit by a logistic regression. A recording's score is the
maximum over its windows. See `audio_artifacts.models.dsp_baseline`.

- architecture: `{info.architecture}`, arguments in `model.json`
- written by audio-artifacts {info.package_version}, torch {torch.__version__}

## Data and fit

- training: `{source_name(cfg.data.train_manifest)}`: {fit['train_recordings']} recordings, {fit['train_windows']}
  windows ({fit['train_positive_windows']} artifact), no augmentation
- validation: `{cfg.data.val_manifest}`: {fit['val_recordings']} recordings, {fit['val_windows']} windows
- logistic regression, L-BFGS full batch, L2 {fit['l2']} (`optim.weight_decay`), positive
  weight {fit['pos_weight']:.3g} (`optim.class_weighting`); features in {fit['feature_seconds']:.1f} s

## Operating threshold

**{info.threshold:.6g}** on the artifact probability: {report['threshold_rule']}.

## Validation metrics at the threshold

| level | n | F1 | precision | recall | ROC AUC |
|---|---|---|---|---|---|
{chr(10).join(rows)}

Validation data chose the threshold, so these figures are optimistic; evaluate on
a held-out (better: foreign) test manifest with `audio-artifacts evaluate`.

## Coefficients (standardised features, largest first)

| feature | weight |
|---|---|
{coefficients}

## Reproduce

    {command}
"""


def fit_baseline(cfg: TrainConfig, out: str | Path | None = None, *, command: str | None = None) -> Path:
    """Fit the DSP baseline as configured and write its model directory ``<run dir>/model``.

    Raises
    ------
    ManifestError
        Unreadable manifests or recordings.
    ConfigError
        ``model.name`` is not ``dsp_baseline``, or its arguments do not fit.
    """
    from audio_artifacts.training.train import model_version, run_directory

    if cfg.model.name != BASELINE_NAME:
        raise ConfigError(f"'model.name': fit_baseline fits {BASELINE_NAME!r}, got {cfg.model.name!r}")
    if cfg.model.pretrained is not None:
        raise ConfigError(f"'model.pretrained': {BASELINE_NAME!r} has no PANNs backbone to start from")
    run_dir = run_directory(cfg, out)
    model_dir = run_dir / "model"
    resolved = resolved_config(cfg)
    command = command or f"audio-artifacts train --config {run_dir / 'config.yaml'}"
    d = cfg.data
    arguments = {"sample_rate": d.sample_rate, **cfg.model.arguments}
    if arguments["sample_rate"] != d.sample_rate:
        raise ConfigError(f"'model.arguments.sample_rate' ({arguments['sample_rate']}) differs from "
                          f"'data.sample_rate' ({d.sample_rate}); leave it out")
    try:
        model = DspBaseline(**arguments)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"'model.arguments' do not fit model {BASELINE_NAME!r}: {exc}") from exc
    model.eval()
    spec = WindowSpec(duration_s=d.window_s, overlap=d.overlap)
    audio = AudioConfig(sample_rate=d.sample_rate, channel=d.channel)
    sources = {"train": d.train_manifest, "val": d.val_manifest}
    entries = {name: read_entries(source, d.data_root) for name, source in sources.items()}
    recordings = {name: load_recordings(entries[name], audio, cache_dtype=d.cache_dtype,
                                        skip_bad_files=d.skip_bad_files, source=source_name(sources[name]))
                  for name in sources}
    min_overlap = DEFAULT_MIN_OVERLAP_S if d.min_event_overlap_s is None else d.min_event_overlap_s
    batch = d.eval_batch_size or d.batch_size
    began = time.perf_counter()
    train = window_features(model, recordings["train"], spec, d.sample_rate, min_overlap, batch)
    val = window_features(model, recordings["val"], spec, d.sample_rate, min_overlap, batch)
    feature_seconds = time.perf_counter() - began

    mean = train.features.mean(0)
    std = np.maximum(train.features.std(0), 1e-6)
    negatives, positives = int((train.labels == 0).sum()), int((train.labels == 1).sum())
    if not negatives or not positives:
        raise ConfigError(f"{source_name(d.train_manifest)}: the training windows hold only one class "
                          f"({negatives} clean, {positives} artifact); a classifier needs both")
    pos_weight = negatives / positives if cfg.optim.class_weighting else 1.0
    weights, bias = fit_logistic((train.features - mean) / std, train.labels, cfg.optim.weight_decay, pos_weight)
    with torch.no_grad():
        model.feature_mean.copy_(torch.from_numpy(mean).float())
        model.feature_std.copy_(torch.from_numpy(std).float())
        model.head.weight.copy_(torch.from_numpy(weights).float().unsqueeze(0))
        model.head.bias.fill_(bias)

    report = _recording_report(model, val, recordings["val"], d.val_manifest)
    fit = {
        "method": "logistic regression (L-BFGS, full batch)", "l2": cfg.optim.weight_decay,
        "pos_weight": pos_weight, "train_recordings": len(recordings["train"]),
        "train_windows": int(train.labels.size), "train_positive_windows": positives,
        "val_recordings": len(recordings["val"]), "val_windows": int(val.labels.size),
        "feature_seconds": round(feature_seconds, 2),
    }
    flat = {f"val_{level[:-1]}_{key}": report[level][key] for level in ("recordings", "windows")
            for key in ("f1", "precision", "recall", "roc_auc", "average_precision", "n", "positives")}
    flat.update(fit)
    info = ModelInfo(name=cfg.name, version=model_version(cfg), architecture=BASELINE_NAME, arguments=model.arguments(),
                     sample_rate=d.sample_rate, window=spec, threshold=float(report["threshold"]),
                     package_version=__version__, metrics=flat)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")
    save_model_dir(model_dir, model, info, config=resolved,
                   card=_card(cfg, info, report, fit, model.feature_names, weights, command))
    (run_dir / "metrics.json").write_text(json.dumps({"validation": report, "fit": fit}, indent=2), encoding="utf-8")
    log.info("baseline model directory written: %s (threshold %.4g)", model_dir, info.threshold)
    return model_dir
