"""Training and validation windows cut from whole recordings held in memory.

Each recording of a manifest is decoded once (:func:`audio_artifacts.audio.load_audio`:
mono, model rate) and cached as float32 or float16. Windows are the project's
5 s / 25 %-overlap windows (:func:`audio_artifacts.windows.window_starts`, the
same rule scanning uses); a window's label comes from the recording's event
intervals where present, else from its recording label
(:func:`audio_artifacts.data.labels.window_label`).

Files that cannot be read are all listed in one :class:`ManifestError` before
any training starts, or skipped with a warning when asked to.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from audio_artifacts.audio import AudioConfig, load_audio
from audio_artifacts.data.augment import Compose, ShortCrop, TimeShift
from audio_artifacts.data.labels import window_label
from audio_artifacts.data.manifest import RecordingEntry
from audio_artifacts.errors import AudioArtifactsError, ManifestError
from audio_artifacts.windows import WindowSpec, window_starts

__all__ = ["Recording", "WindowDataset", "load_recordings"]

_DTYPES = {"float32": np.float32, "float16": np.float16}


@dataclass(frozen=True)
class Recording:
    """A decoded recording and its manifest entry.

    ``samples``: ``(n,)`` mono at the dataset's sample rate, float32 or float16.
    """

    entry: RecordingEntry
    samples: np.ndarray


def load_recordings(
    entries: Sequence[RecordingEntry],
    audio: AudioConfig = AudioConfig(),
    *,
    cache_dtype: str = "float32",
    skip_bad_files: bool = False,
    source: str | Path = "manifest",
    workers: int | None = None,
) -> list[Recording]:
    """Decode every entry once (threads; decoding releases the GIL).

    Parameters
    ----------
    entries : manifest entries (``path`` absolute)
    audio : how to decode (sample rate, channel)
    cache_dtype : ``"float32"`` or ``"float16"`` (half the memory)
    skip_bad_files : False -> one ManifestError listing every missing / broken
        file; True -> those files are left out with one warning naming them all.
    source : the manifest, named in errors and warnings

    Raises
    ------
    ManifestError
        Bad files (unless skipped), or no readable recording at all.
    """
    if cache_dtype not in _DTYPES:
        raise ValueError(f"cache_dtype must be one of {sorted(_DTYPES)}, got {cache_dtype!r}")
    dtype = _DTYPES[cache_dtype]

    def decode(entry: RecordingEntry) -> np.ndarray | str:
        try:
            samples = load_audio(entry.path, audio)
        except AudioArtifactsError as exc:
            return str(exc)
        except OSError as exc:  # e.g. a file that vanished between listing and reading
            return f"{entry.path}: {exc.strerror or exc}"
        if samples.size == 0:
            return f"{entry.path}: no audio samples"
        return samples.astype(dtype, copy=False)

    workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        decoded = list(pool.map(decode, entries))
    problems = [d for d in decoded if isinstance(d, str)]
    recordings = [Recording(e, d) for e, d in zip(entries, decoded) if not isinstance(d, str)]
    if problems and not skip_bad_files:
        raise ManifestError(
            source, problems + ["(set data.skip_bad_files: true to train without these files)"]
        )
    if problems:
        warnings.warn(
            f"{source}: skipping {len(problems)} unreadable file(s):\n"
            + "\n".join(f"  - {p}" for p in problems),
            stacklevel=2,
        )
    if not recordings:
        raise ManifestError(source, ["no readable recordings"])
    return recordings


class WindowDataset(Dataset):
    """Every window of every recording, as ``{"waveform", "label", "length", "recording", "start_s"}``.

    Parameters
    ----------
    recordings : decoded recordings (:func:`load_recordings`)
    spec : window length and overlap
    sample_rate : Hz of ``recordings``' samples
    augment : waveform transforms for training (None for evaluation)
    time_shift : random window starts for training (None: the fixed grid)
    short_crop : cut windows down to short crops for training (None: never)
    seed : base of the per-item random generators
    min_overlap_s : passed to ``window_label`` (None: its default)

    Items: ``waveform`` float32 tensor ``(W,)``, ``label`` float32 scalar
    (0 / 1, after augmentation), ``length`` int64 scalar (real samples at the
    start of ``waveform``; the rest is zero padding the models mask),
    ``recording`` int index into ``recordings``, ``start_s`` float.
    Augmentation sees the real samples only. Random draws for item ``i`` come from
    ``numpy.random.default_rng([seed, epoch, i])``: reproducible, independent of
    worker processes and DDP ranks. Call :meth:`set_epoch` each epoch.
    """

    def __init__(
        self,
        recordings: Sequence[Recording],
        spec: WindowSpec = WindowSpec(),
        sample_rate: int = 32000,
        *,
        augment: Compose | None = None,
        time_shift: TimeShift | None = None,
        short_crop: ShortCrop | None = None,
        seed: int = 0,
        min_overlap_s: float | None = None,
    ) -> None:
        self.recordings = list(recordings)
        self.spec, self.sample_rate = spec, int(sample_rate)
        self.window_samples = spec.window_samples(self.sample_rate)
        self.augment, self.time_shift, self.short_crop = augment, time_shift, short_crop
        self.seed, self.epoch = int(seed), 0
        self._label_kwargs = {} if min_overlap_s is None else {"min_overlap_s": min_overlap_s}
        index = [
            (r, int(start))
            for r, rec in enumerate(self.recordings)
            for start in window_starts(rec.samples.shape[0], spec, self.sample_rate)
        ]
        self._index = np.array(index, dtype=np.int64).reshape(-1, 2)
        # grid labels (before augmentation): class statistics and samplers use them
        self.labels = np.array(
            [self._label(int(r), int(s)) for r, s in self._index], dtype=np.int64
        )

    def __len__(self) -> int:
        return int(self._index.shape[0])

    def set_epoch(self, epoch: int) -> None:
        """New random draws for the next epoch."""
        self.epoch = int(epoch)

    def recording_ids(self) -> list[str]:
        """Path of each recording, by ``recording`` index."""
        return [str(r.entry.path) for r in self.recordings]

    def _length(self, rec: int, start: int) -> int:
        """Real samples of the window starting at ``start`` (``W``, or less for a short recording)."""
        return min(self.window_samples, self.recordings[rec].samples.shape[0] - start)

    def _label(self, rec: int, start: int, length: int | None = None) -> int:
        length = self._length(rec, start) if length is None else length
        start_s, end_s = start / self.sample_rate, (start + length) / self.sample_rate
        return int(window_label(start_s, end_s, self.recordings[rec].entry, **self._label_kwargs))

    def _touches_event(self, rec: int, start: int, length: int) -> bool:
        events = self.recordings[rec].entry.events
        start_s, end_s = start / self.sample_rate, (start + length) / self.sample_rate
        return bool(events) and any(e.start_s <= end_s and e.end_s >= start_s for e in events)

    def _crop(self, rec: int, start: int, label: float, rng: np.random.Generator) -> tuple[int, int, float] | None:
        """A short crop of the window and its label, or None (no crop drawn, or its label is ambiguous)."""
        crop = self.short_crop.crop(start, self._length(rec, start), self.sample_rate, rng)
        if crop is None:
            return None
        if self.recordings[rec].entry.events is None:  # recording labels only: a crop keeps the label
            return crop[0], crop[1], label
        cropped = float(self._label(rec, *crop))
        if cropped < 0.5 and self._touches_event(rec, *crop):
            return None  # holds part of an event, too little to call it either way
        return crop[0], crop[1], cropped

    def __getitem__(self, i: int) -> dict[str, Any]:
        rec, start = (int(v) for v in self._index[i])
        samples = self.recordings[rec].samples
        label = float(self.labels[i])
        rng = None
        if self.augment is not None or self.time_shift is not None:
            rng = np.random.default_rng([self.seed, self.epoch, i])
        if self.time_shift is not None and rng is not None:
            shifted = self.time_shift.start(
                start, samples.shape[0], self.window_samples, self.sample_rate, rng
            )
            if shifted != start:
                start, label = shifted, float(self._label(rec, shifted))
        length = self._length(rec, start)
        if self.short_crop is not None and rng is not None:
            cropped = self._crop(rec, start, label, rng)
            if cropped is not None:
                start, length, label = cropped
        real = samples[start : start + length].astype(np.float32)
        if self.augment is not None and rng is not None:
            real, label = self.augment(real, label, rng)
        window = np.zeros(self.window_samples, dtype=np.float32)
        window[:length] = real
        return {
            "waveform": torch.from_numpy(window),
            "label": torch.tensor(label, dtype=torch.float32),
            "length": torch.tensor(length, dtype=torch.int64),
            "recording": rec,
            "start_s": start / self.sample_rate,
        }
