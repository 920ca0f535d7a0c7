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
from audio_artifacts.data.augment import Compose, TimeShift
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
    """Every window of every recording, as ``{"waveform", "label", "recording", "start_s"}``.

    Parameters
    ----------
    recordings : decoded recordings (:func:`load_recordings`)
    spec : window length and overlap
    sample_rate : Hz of ``recordings``' samples
    augment : waveform transforms for training (None for evaluation)
    time_shift : random window starts for training (None: the fixed grid)
    seed : base of the per-item random generators
    min_overlap_s : passed to ``window_label`` (None: its default)

    Items: ``waveform`` float32 tensor ``(W,)``, ``label`` float32 scalar
    (0 / 1, after augmentation), ``recording`` int index into ``recordings``,
    ``start_s`` float. Random draws for item ``i`` come from
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
        seed: int = 0,
        min_overlap_s: float | None = None,
    ) -> None:
        self.recordings = list(recordings)
        self.spec, self.sample_rate = spec, int(sample_rate)
        self.window_samples = spec.window_samples(self.sample_rate)
        self.augment, self.time_shift = augment, time_shift
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

    def _label(self, rec: int, start: int) -> int:
        n = self.recordings[rec].samples.shape[0]
        start_s = max(start, 0) / self.sample_rate
        end_s = min(start + self.window_samples, n) / self.sample_rate if start >= 0 else n / self.sample_rate
        return int(window_label(start_s, end_s, self.recordings[rec].entry, **self._label_kwargs))

    def _cut(self, samples: np.ndarray, start: int) -> np.ndarray:
        """``W`` float32 samples from ``start``; zero-padded; negative start = leading zeros."""
        window = np.zeros(self.window_samples, dtype=np.float32)
        offset = max(0, -start)
        chunk = samples[max(start, 0) : max(start, 0) + self.window_samples - offset]
        window[offset : offset + chunk.shape[0]] = chunk
        return window

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
        window = self._cut(samples, start)
        if self.augment is not None and rng is not None:
            window, label = self.augment(window, label, rng)
        return {
            "waveform": torch.from_numpy(np.ascontiguousarray(window, dtype=np.float32)),
            "label": torch.tensor(label, dtype=torch.float32),
            "recording": rec,
            "start_s": max(start, 0) / self.sample_rate,
        }
