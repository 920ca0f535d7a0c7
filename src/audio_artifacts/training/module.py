"""The LightningModule: a registry model, its loss, optimiser and window metrics.

It knows nothing about files or manifests (the DataModule's job); batches are
``{"waveform" (B, samples), "label" (B,), "recording" (B,)}``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from audio_artifacts.data.augment import SpecAugment, mixup
from audio_artifacts.errors import AudioArtifactsError
from audio_artifacts.evaluation import metrics
from audio_artifacts.training.config import AugmentConfig, OptimConfig

__all__ = ["DetectorModule", "TrainingDivergedError", "check_finite"]


class TrainingDivergedError(AudioArtifactsError):
    """The model produced NaN / infinite outputs: training diverged."""


def check_finite(logits: torch.Tensor, where: str) -> None:
    """Raise :class:`TrainingDivergedError` if ``logits`` hold NaN or inf."""
    if not bool(torch.isfinite(logits).all()):
        bad = int((~torch.isfinite(logits)).sum())
        raise TrainingDivergedError(
            f"{where}: {bad} of {logits.numel()} logits are NaN or infinite; training diverged. "
            "Lower optim.max_*_lr, set trainer.gradient_clip_val, or use trainer.precision "
            "32-true / bf16-mixed"
        )


class DetectorModule(pl.LightningModule):
    """Train a model that maps ``waveform (B, samples)`` to artifact logits ``(B,)``.

    Parameters
    ----------
    model : a registry model (``parameter_groups()``, ``spec_augment`` slot)
    optim : learning rates, weight decay, schedule, class weighting
    augment : only ``spec_augment`` and ``mixup`` are used here (batch level)
    pos_weight : BCE weight of positive windows (negatives / positives), or None
    seed : seeds SpecAugment's and mixup's generators (offset by the DDP rank)

    Logged: ``train_loss`` (step, epoch), ``val_loss``, window-level ``val_auc``,
    ``val_ap``, ``val_f1`` (at probability 0.5), recording-level ``val_rec_auc``
    and ``val_rec_f1`` (max over windows, at 0.5), ``train_windows_per_s``.
    """

    def __init__(
        self,
        model: nn.Module,
        optim: OptimConfig,
        augment: AugmentConfig | None = None,
        pos_weight: float | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        for needed in ("parameter_groups", "spec_augment"):
            if not hasattr(model, needed):
                raise ValueError(f"{type(model).__name__} lacks `{needed}` (see model conventions)")
        self.model = model
        self.optim = optim
        self.augment = augment or AugmentConfig()
        self.seed = int(seed)
        self.register_buffer(
            "pos_weight", torch.tensor(1.0 if pos_weight is None else float(pos_weight)),
            persistent=False,
        )
        self._val_outputs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self._mix_rng = np.random.default_rng(self.seed)
        self._epoch_start = 0.0
        self._val_seconds = 0.0
        self._val_start = 0.0
        self._train_windows = 0

    def setup(self, stage: str) -> None:
        rank = self.global_rank
        self._mix_rng = np.random.default_rng([self.seed, rank])
        sa = self.augment.spec_augment
        if stage == "fit" and sa.p > 0 and self.model.spec_augment is None:
            self.model.spec_augment = SpecAugment(
                p=sa.p, time_masks=sa.time_masks, max_time_frames=sa.max_time_frames,
                freq_masks=sa.freq_masks, max_freq_bins=sa.max_freq_bins,
                seed=self.seed * 1000 + rank,
            )

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(waveform, lengths)

    # --- training ---------------------------------------------------------------------

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        waveform, labels = batch["waveform"], batch["label"].float()
        lengths = batch.get("length")
        mix = self.augment.mixup
        if mix.p > 0 and self._mix_rng.random() < mix.p:
            mixed = mixup(waveform, labels, mix.alpha, self._mix_rng)
            waveform, labels = mixed.waveforms, mixed.labels
            if lengths is not None:  # a mix holds the real samples of both windows
                lengths = torch.maximum(lengths, lengths[mixed.partner])
        logits = self.model(waveform, lengths)
        loss = F.binary_cross_entropy_with_logits(
            logits.float(), labels, pos_weight=self.pos_weight
        )
        self._train_windows += waveform.shape[0]
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True,
                 batch_size=waveform.shape[0], sync_dist=True)
        return loss

    def on_train_epoch_start(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "set_epoch"):
            datamodule.set_epoch(self.current_epoch)
        self._epoch_start, self._val_seconds, self._train_windows = time.perf_counter(), 0.0, 0

    def on_train_epoch_end(self) -> None:
        seconds = time.perf_counter() - self._epoch_start - self._val_seconds
        if self._train_windows and seconds > 0:
            # windows through data loading, augmentation, forward and backward (this rank)
            # summed over DDP ranks: the throughput of the whole run
            self.log("train_windows_per_s", self._train_windows / seconds, sync_dist=True,
                     reduce_fx="sum")

    # --- validation -------------------------------------------------------------------

    def on_validation_epoch_start(self) -> None:
        self._val_outputs.clear()
        self._val_start = time.perf_counter()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self.model(batch["waveform"], batch.get("length")).float()
        labels = batch["label"].float()
        loss = F.binary_cross_entropy_with_logits(logits, labels)
        self.log("val_loss", loss, on_epoch=True, prog_bar=True, sync_dist=True,
                 batch_size=labels.shape[0])
        recording = torch.as_tensor(batch["recording"], device=logits.device)
        self._val_outputs.append((logits.detach(), labels.detach(), recording))

    def on_validation_epoch_end(self) -> None:
        self._val_seconds += time.perf_counter() - self._val_start
        if not self._val_outputs:
            return
        logits, labels, recording = (torch.cat(parts) for parts in zip(*self._val_outputs))
        self._val_outputs.clear()
        check_finite(logits, f"validation after epoch {self.current_epoch}")
        if self.trainer.world_size > 1:
            # every rank holds the same number of windows (the sampler pads)
            logits, labels, recording = (
                self.all_gather(t).reshape(-1) for t in (logits, labels, recording)
            )
        values = window_and_recording_metrics(
            labels.cpu().numpy(), torch.sigmoid(logits).cpu().numpy(), recording.cpu().numpy()
        )
        finite = {k: v for k, v in values.items() if math.isfinite(v)}
        # identical on every rank after the gather; the mean over ranks keeps them
        self.log_dict(finite, prog_bar=False, sync_dist=True)

    # --- optimisation -----------------------------------------------------------------

    def configure_optimizers(self) -> Any:
        o = self.optim
        groups = self.model.parameter_groups()
        settings = {"backbone": (o.backbone_lr, o.max_backbone_lr), "head": (o.head_lr, o.max_head_lr)}
        param_groups, max_lrs = [], []
        for name, (lr, max_lr) in settings.items():
            params = [p for p in groups.get(name, []) if p.requires_grad]
            if params:  # a fully frozen backbone contributes no group
                param_groups.append({"params": params, "lr": lr, "name": name})
                max_lrs.append(max_lr)
        if not param_groups:
            raise ValueError("the model has no trainable parameters (everything frozen?)")
        if o.scheduler == "constant":
            return torch.optim.AdamW(param_groups, weight_decay=o.weight_decay)
        for group, max_lr in zip(param_groups, max_lrs):
            group["lr"] = max_lr  # the schedule scales each group's peak
        optimizer = torch.optim.AdamW(param_groups, weight_decay=o.weight_decay)
        # The length comes from this run's trainer, so a run resumed with more
        # epochs stretches the cycle instead of stepping past its end.
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: one_cycle_factor(step, total, o.pct_start, o.div_factor)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def one_cycle_factor(
    step: int, total_steps: int, pct_start: float = 0.3, div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> float:
    """One-cycle learning-rate factor (of the peak) at ``step`` of ``total_steps``.

    Cosine rise from ``1 / div_factor`` to 1 over the first ``pct_start`` of the
    steps, then cosine fall to ``1 / (div_factor * final_div_factor)``: the shape
    of PyTorch's OneCycleLR (without its momentum cycling).
    """
    peak_step = max(1.0, pct_start * total_steps - 1)
    last_step = max(peak_step + 1, total_steps - 1)
    start, end = 1.0 / div_factor, 1.0 / (div_factor * final_div_factor)
    if step <= peak_step:
        low, high, fraction = start, 1.0, step / peak_step
    else:
        low, high, fraction = 1.0, end, min(1.0, (step - peak_step) / (last_step - peak_step))
    return high + (low - high) * (1 + math.cos(math.pi * fraction)) / 2


def window_and_recording_metrics(
    labels: np.ndarray, probabilities: np.ndarray, recording: np.ndarray, threshold: float = 0.5
) -> dict[str, float]:
    """Window-level AUC / AP / F1 and recording-level (max over windows) AUC / F1.

    Undefined values (a class missing) come back as ``nan``.
    """
    at = metrics.metrics_at_threshold(labels, probabilities, threshold)
    rec_scores = metrics.max_by_recording(recording.tolist(), probabilities)
    rec_labels = metrics.max_by_recording(recording.tolist(), labels)
    rec_y = np.array([rec_labels[k] for k in rec_scores]).astype(int)
    rec_s = np.array(list(rec_scores.values()))
    return {
        "val_auc": metrics.roc_auc(labels, probabilities),
        "val_ap": metrics.average_precision(labels, probabilities),
        "val_f1": at.f1,
        "val_rec_auc": metrics.roc_auc(rec_y, rec_s),
        "val_rec_f1": metrics.metrics_at_threshold(rec_y, rec_s, threshold).f1,
    }
