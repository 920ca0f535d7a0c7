"""The LightningDataModule: manifests -> decoded recordings -> window datasets -> loaders.

Samplers are built here, DDP-aware (rank and world size from the trainer), so
the Trainer runs with ``use_distributed_sampler=False``: every rank sees its own
share of an epoch's permutation (or of the balanced draw), identical across
ranks because it comes from ``seed + epoch``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from audio_artifacts.audio import AudioConfig
from audio_artifacts.data.augment import (
    ArtifactInjection, Compose, Gain, NoiseFloor, ShortCrop, TimeShift, simulated_artifacts,
)
from audio_artifacts.data.dataset import WindowDataset, load_recordings
from audio_artifacts.data.manifest import RecordingEntry, read_folder, read_manifest
from audio_artifacts.training.config import AugmentConfig, DataConfig
from audio_artifacts.windows import WindowSpec

__all__ = ["BalancedSampler", "WindowDataModule", "read_entries", "source_name"]


def read_entries(source: str | Path | list[str | Path],
                 data_root: str | Path | None = None) -> list[RecordingEntry]:
    """Entries of a manifest CSV or a folder (or of a list of them, in order), without
    checking files yet (decoding does, and lists missing and broken files together)."""
    if isinstance(source, (list, tuple)):
        return [entry for one in source for entry in read_entries(one, data_root)]
    source = Path(source)
    if source.is_dir():
        return read_folder(source)
    return read_manifest(source, data_root, check_files=False)


def source_name(source: str | Path | list[str | Path]) -> str:
    """A manifest setting as the messages and the model card name it."""
    return " + ".join(map(str, source)) if isinstance(source, (list, tuple)) else str(source)


class BalancedSampler(Sampler[int]):
    """Draws window indices with equal total weight per class, with replacement.

    ``num_samples`` indices per epoch over all ranks (default: the dataset size);
    rank ``r`` of ``num_replicas`` takes every ``num_replicas``-th of them. Call
    :meth:`set_epoch` each epoch (Lightning does).
    """

    def __init__(
        self, labels: np.ndarray, *, num_replicas: int = 1, rank: int = 0, seed: int = 0,
        num_samples: int | None = None,
    ) -> None:
        labels = np.asarray(labels).astype(int)
        if labels.size == 0:
            raise ValueError("BalancedSampler needs at least one label")
        counts = np.bincount(labels, minlength=2).astype(np.float64)
        weights = 1.0 / counts[labels]
        self.weights = torch.as_tensor(weights / weights.sum(), dtype=torch.float64)
        self.num_replicas, self.rank, self.seed, self.epoch = num_replicas, rank, seed, 0
        total = num_samples or labels.size
        self.per_replica = math.ceil(total / num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.per_replica

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        draw = torch.multinomial(
            self.weights, self.per_replica * self.num_replicas, replacement=True, generator=g
        )
        return iter(draw[self.rank :: self.num_replicas].tolist())


def build_augment(augment: AugmentConfig, sample_rate: int) -> tuple[Compose | None, TimeShift | None]:
    """The waveform transforms (in order gain, injection, noise floor) and the time shift.

    (The short crop is built by `build_short_crop`: it changes which samples a
    window holds, like the time shift, so the dataset applies it.)
    """
    parts = []
    g, n, inj = augment.gain, augment.noise_floor, augment.inject
    if g.p > 0:
        parts.append(Gain(g.p, g.min_db, g.max_db))
    if inj.p > 0:
        parts.append(ArtifactInjection(simulated_artifacts(inj.types or None), sample_rate,
                                       p=inj.p, min_db=inj.min_db, max_db=inj.max_db))
    if n.p > 0:
        parts.append(NoiseFloor(n.p, n.min_db, n.max_db, n.min_tilt_db_per_octave,
                                n.max_tilt_db_per_octave))
    shift = augment.time_shift
    time_shift = TimeShift(shift.p, shift.max_shift_s) if shift.p > 0 else None
    return (Compose(parts) if parts else None), time_shift


def build_short_crop(augment: AugmentConfig) -> ShortCrop | None:
    """The training windows' short crop, or None when ``augment.short_crop.p`` is 0."""
    crop = augment.short_crop
    return ShortCrop(crop.p, crop.min_s, crop.max_s) if crop.p > 0 else None


class WindowDataModule(pl.LightningDataModule):
    """Owns the training and validation window datasets and their loaders.

    :meth:`load` decodes every recording (once; later calls do nothing), so
    unreadable files are reported before a Trainer exists.
    """

    def __init__(self, data: DataConfig, augment: AugmentConfig | None = None, seed: int = 0) -> None:
        super().__init__()
        self.data = data
        self.augment = augment or AugmentConfig()
        self.seed = int(seed)
        self.spec = WindowSpec(duration_s=data.window_s, overlap=data.overlap)
        self.train_set: WindowDataset | None = None
        self.val_set: WindowDataset | None = None

    def load(self) -> None:
        if self.train_set is not None:
            return
        d = self.data
        audio = AudioConfig(sample_rate=d.sample_rate, channel=d.channel)
        sources = {"train": d.train_manifest, "val": d.val_manifest}
        # both manifests are read before any decoding, so a bad one fails at once
        entries = {name: read_entries(source, d.data_root) for name, source in sources.items()}
        decoded = {
            name: load_recordings(entries[name], audio, cache_dtype=d.cache_dtype,
                                  skip_bad_files=d.skip_bad_files, source=source_name(sources[name]))
            for name in sources
        }
        transforms, time_shift = build_augment(self.augment, d.sample_rate)
        self.train_set = WindowDataset(
            decoded["train"], self.spec, d.sample_rate, augment=transforms, time_shift=time_shift,
            short_crop=build_short_crop(self.augment), seed=self.seed, min_overlap_s=d.min_event_overlap_s,
        )
        self.val_set = WindowDataset(
            decoded["val"], self.spec, d.sample_rate, min_overlap_s=d.min_event_overlap_s,
        )

    def setup(self, stage: str | None = None) -> None:
        self.load()

    def set_epoch(self, epoch: int) -> None:
        if self.train_set is not None:
            self.train_set.set_epoch(epoch)

    def class_counts(self) -> tuple[int, int]:
        """``(negatives, positives)`` among the training windows (before augmentation)."""
        self.load()
        counts = np.bincount(self.train_set.labels, minlength=2)
        return int(counts[0]), int(counts[1])

    def pos_weight(self) -> float:
        """Inverse-frequency weight of positives: negatives / positives (1 if either is 0)."""
        negatives, positives = self.class_counts()
        return negatives / positives if negatives and positives else 1.0

    def _replicas(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return trainer.world_size, trainer.global_rank

    def train_dataloader(self) -> DataLoader:
        self.load()
        world, rank = self._replicas()
        if self.data.balanced_sampler:
            sampler: Sampler[int] = BalancedSampler(
                self.train_set.labels, num_replicas=world, rank=rank, seed=self.seed
            )
        else:
            sampler = DistributedSampler(
                self.train_set, num_replicas=world, rank=rank, shuffle=True, seed=self.seed
            )
        # BatchNorm cannot train on a last batch of one window
        drop_last = len(sampler) > self.data.batch_size
        return self._loader(self.train_set, sampler, self.data.batch_size, drop_last)

    def val_dataloader(self) -> DataLoader:
        self.load()
        world, rank = self._replicas()
        sampler = DistributedSampler(self.val_set, num_replicas=world, rank=rank, shuffle=False)
        return self._loader(self.val_set, sampler, self.data.eval_batch_size or self.data.batch_size, False)

    def _loader(self, dataset, sampler, batch_size: int, drop_last: bool) -> DataLoader:
        return DataLoader(
            dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last,
            num_workers=self.data.num_workers, persistent_workers=False,
        )
