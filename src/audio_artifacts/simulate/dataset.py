"""Write a simulated dataset: WAV files and extended manifests, in parallel.

Layout::

    OUT/audio/<split>/<split>_<index>.wav
    OUT/train.csv, OUT/val.csv, OUT/test.csv   (with splits)
    OUT/manifest.csv                           (without; split "all")
    OUT/foreign.csv                            (with ``foreign``: held-out device
                                                families and bank groups, own seeds)
    OUT/stimuli/<split>/<split>_<index>.flac    what the test system played (``played.py``:
                                                own rate, own start, peak-normalised);
                                                none for quiet recordings

The manifests name the stimulus file in ``stimulus_path`` (relative to OUT;
empty for quiet) and its true alignment in ``stimulus_offset_s``.

Each recording is made from its own seed (see ``recording.py``), so the
files do not depend on the number of workers.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio_artifacts.audio import write_audio
from audio_artifacts.data.manifest import RecordingEntry, write_manifest
from audio_artifacts.simulate.played import played_stimulus
from audio_artifacts.simulate.recording import SimulatorConfig, simulate_recording

SPLIT_FRACTIONS: dict[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}


@dataclass(frozen=True)
class _Task:
    out: str
    config: SimulatorConfig
    seed: int
    split: str
    index: int
    n_devices: int


@dataclass(frozen=True)
class DatasetSummary:
    """What ``write_dataset`` made."""

    manifests: dict[str, Path]       # split -> manifest path
    counts: dict[str, int]           # split -> recordings
    artifact_counts: dict[str, int]  # split -> recordings labelled artifact
    audio_seconds: float
    wall_seconds: float

    @property
    def recordings_per_second(self) -> float:
        return sum(self.counts.values()) / max(self.wall_seconds, 1e-9)


def split_counts(n: int, split: bool, foreign: int = 0) -> dict[str, int]:
    """Recordings per split: 80 / 10 / 10 % (at least one each when n >= 3), or all in ``all``;
    plus ``foreign`` recordings in the foreign split when ``foreign > 0``."""
    if foreign < 0:
        raise ValueError(f"foreign must be >= 0, got {foreign}")
    if not split:
        counts = {"all": n}
    else:
        if n < 3:
            raise ValueError(f"--split needs at least 3 recordings, got {n}")
        val = max(1, int(round(n * SPLIT_FRACTIONS["val"])))
        test = max(1, int(round(n * SPLIT_FRACTIONS["test"])))
        counts = {"train": n - val - test, "val": val, "test": test}
    if foreign:
        counts["foreign"] = foreign
    return counts


def _compact(meta: dict) -> dict:
    """The stimulus parameters worth a manifest cell: long lists (tone steps, onsets) become their length."""
    out = {}
    for key, value in meta.items():
        if key == "stimulus_source":
            continue
        if isinstance(value, (list, tuple)) and len(value) > 8:
            out[f"n_{key}"] = len(value)
        else:
            out[key] = value
    return out


def _make_one(task: _Task) -> RecordingEntry:
    recording = simulate_recording(task.config, task.seed, task.split, task.index, task.n_devices)
    path = Path(task.out) / "audio" / task.split / f"{recording.recording_id}.wav"
    samples = recording.samples[:, 0] if recording.samples.shape[1] == 1 else recording.samples
    write_audio(path, samples, recording.sample_rate, subtype=recording.subtype)
    duration = recording.samples.shape[0] / recording.sample_rate
    played = played_stimulus(recording.stimulus_pa, recording.sample_rate, recording.seed_key)
    stimulus_path = stimulus_offset = ""
    if played is not None:
        relative = Path("stimuli") / task.split / f"{recording.recording_id}.flac"
        write_audio(Path(task.out) / relative, played.samples, played.sample_rate, subtype="PCM_24")
        stimulus_path, stimulus_offset = relative.as_posix(), f"{played.offset_s:.6f}"
    return RecordingEntry(
        path=path.resolve(),
        label=recording.label,
        events=recording.events,
        columns={
            "split": recording.split,
            "device": recording.device.device_id,
            "stimulus": recording.stimulus,
            "family": recording.device.family,
            "stimulus_source": recording.stimulus_source,
            "conditions": recording.condition_names,
            "input_level_db": "" if recording.input_level_db is None else f"{recording.input_level_db:g}",
            "sample_rate": str(recording.sample_rate),
            "channels": str(recording.samples.shape[1]),
            "subtype": recording.subtype,
            "duration_s": f"{duration:.6f}",
            "seed": recording.seed_key,
            "analyzer": json.dumps(recording.analyzer, sort_keys=True),
            "stimulus_params": json.dumps(_compact(recording.stimulus_meta), sort_keys=True),
            "stimulus_path": stimulus_path,
            "stimulus_offset_s": stimulus_offset,
        },
    )


def write_dataset(
    out: str | Path,
    n: int,
    seed: int,
    config: SimulatorConfig | None = None,
    *,
    split: bool = False,
    foreign: int = 0,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    only: tuple[str, ...] | None = None,
) -> DatasetSummary:
    """Simulate ``n`` recordings into ``out`` and write their manifests.

    Parameters
    ----------
    out : str or Path
        Output folder (created).
    n : int
        Number of recordings in total.
    seed : int
        Dataset seed; the same seed and config give identical files.
    config : SimulatorConfig, optional
    split : bool
        Write train / val / test (80 / 10 / 10 %, disjoint devices and seeds).
    foreign : int
        Also write this many recordings to ``foreign.csv`` / ``audio/foreign``:
        devices only from ``config.foreign_families``, bank clips only from the
        bank's foreign groups, seeds of their own (not counted in ``n``).
    workers : int
        Processes; 1 runs in this process.
    progress : callable, optional
        Called with (done, total) after each recording.
    only : tuple of str, optional
        Write only these splits (of those ``n``, ``split`` and ``foreign``
        define); their recordings are the same as in the full dataset, since a
        split's device pool depends on its own size only.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    config = config or SimulatorConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counts = split_counts(n, split, foreign)
    if only is not None:
        unknown = sorted(set(only) - set(counts))
        if unknown:
            raise ValueError(f"only: {', '.join(unknown)} not among this dataset's splits ({', '.join(counts)})")
        counts = {name: count for name, count in counts.items() if name in only}
    tasks = [
        _Task(str(out), config, seed, name, index, max(1, int(np.ceil(count / config.recordings_per_device))))
        for name, count in counts.items() for index in range(count)
    ]
    start = time.perf_counter()
    entries: dict[str, list[RecordingEntry]] = {name: [] for name in counts}
    if workers == 1:
        results = map(_make_one, tasks)
        for done, entry in enumerate(results, 1):
            entries[entry.columns["split"]].append(entry)
            if progress:
                progress(done, len(tasks))
    else:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for done, entry in enumerate(pool.imap(_make_one, tasks, chunksize=4), 1):
                entries[entry.columns["split"]].append(entry)
                if progress:
                    progress(done, len(tasks))
    manifests: dict[str, Path] = {}
    for name, rows in entries.items():
        path = out / ("manifest.csv" if name == "all" else f"{name}.csv")
        write_manifest(path, rows, out)
        manifests[name] = path
    wall = time.perf_counter() - start
    audio_seconds = sum(float(e.columns["duration_s"]) for rows in entries.values() for e in rows)
    return DatasetSummary(
        manifests=manifests,
        counts={k: len(v) for k, v in entries.items()},
        artifact_counts={k: sum(e.label for e in v) for k, v in entries.items()},
        audio_seconds=audio_seconds,
        wall_seconds=wall,
    )
