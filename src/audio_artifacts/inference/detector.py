"""The detector: recordings -> windows -> batched inference -> `ScanResult`.

Data flow per recording (the same window code as training)::

    audio.stream_audio  ->  windows.iter_windows  ->  batches (B, samples)
        -> backend.logits  ->  sigmoid (once, here)  ->  window probabilities
        -> recording probability (max) -> verdict, triggered_at, events

A reader thread decodes, resamples and windows the recordings (file after
file) while the calling thread runs the model, so both cores work: numpy,
soundfile, soxr, torch and ONNX Runtime all release the GIL. The queue
between them holds at most a few batches, so memory stays bounded whatever
the length of a recording.

Comparisons with the threshold are ``probability >= threshold`` everywhere
(verdict, ``triggered_at``, events).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio_artifacts.errors import AudioLoadError
from audio_artifacts.inference.backends import Backend, open_backend

_END = object()  # sentinel closing the reader's queue


@dataclass
class _Batch:
    index: int
    starts: list[float]
    ends: list[float]
    samples: np.ndarray  # (B, window_samples) float32


@dataclass
class _FileDone:
    index: int
    info: object  # audio.AudioInfo


@dataclass
class _FileFailed:
    index: int
    message: str  # the reason, without the path
    info: object | None = None  # audio.AudioInfo when the header could be read


@dataclass
class _ReaderCrashed:
    error: BaseException


@dataclass
class WindowScores:
    """Window-level output of one recording (before thresholding).

    Attributes
    ----------
    info : audio.AudioInfo
        What the file holds (rate, channels, duration).
    starts, ends : np.ndarray
        float64, shape ``(n_windows,)``, window times in seconds.
    probabilities : np.ndarray
        float64, shape ``(n_windows,)``, artifact probability of each window.
    """

    info: object
    starts: np.ndarray
    ends: np.ndarray
    probabilities: np.ndarray


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function, float64."""
    x = np.asarray(logits, dtype=np.float64)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


class Detector:
    """Scan recordings with a model directory.

    Parameters
    ----------
    model_dir : str or Path, optional
        A model directory (``models.model_dir``); None uses the bundled default model.
    backend : {"auto", "torch", "onnx"} or Backend
        ``"auto"`` uses ``model.onnx`` when the directory has one, else PyTorch.
        A ready `Backend` instance is used as given.
    threshold : float, optional
        Decision threshold on probabilities in [0, 1]; None uses the model's.
    batch_size : int
        Windows per model call.
    threads : int, optional
        Compute threads of the backend (None: the backend's default).
    block_seconds : float
        Length of the blocks read from disk (input side); bounds memory.
    channel : "mean" or int
        How multi-channel files become mono (see ``audio.AudioConfig``).
    prefetch_batches : int
        Batches the reader thread may prepare ahead of the model (>= 1).
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        backend: str | Backend = "auto",
        threshold: float | None = None,
        batch_size: int = 32,
        threads: int | None = None,
        block_seconds: float = 30.0,
        channel: str | int = "mean",
        prefetch_batches: int = 2,
    ) -> None:
        from audio_artifacts.audio import AudioConfig
        from audio_artifacts.models.model_dir import default_model_dir, read_model_info

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if prefetch_batches < 1:
            raise ValueError(f"prefetch_batches must be >= 1, got {prefetch_batches}")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.model_dir = Path(model_dir) if model_dir is not None else Path(default_model_dir())
        self.info = read_model_info(self.model_dir)
        if isinstance(backend, str):
            self.backend: Backend = open_backend(self.model_dir, backend, threads=threads)
        else:
            self.backend = backend
        self.threshold = float(self.info.threshold if threshold is None else threshold)
        self.batch_size = batch_size
        self.prefetch_batches = prefetch_batches
        self.audio_config = AudioConfig(
            sample_rate=self.info.sample_rate, channel=channel, block_seconds=block_seconds
        )

    # ------------------------------------------------------------------ public API

    def scan_file(self, path: str | Path, display_name: str | None = None) -> "ScanResult":  # noqa: F821
        """Scan one recording; a bad recording gives ``status="error"``, never an exception.

        Parameters
        ----------
        path : str or Path
            The recording (any format `audio.read_info` accepts).
        display_name : str, optional
            What to report as ``path`` (e.g. an uploaded file's name); default ``str(path)``.
        """
        names = None if display_name is None else [display_name]
        return next(self.scan_many([path], display_names=names))

    def scan_many(
        self, paths: Iterable[str | Path], display_names: Sequence[str] | None = None
    ) -> Iterator["ScanResult"]:  # noqa: F821
        """Scan recordings one after the other, yielding a `ScanResult` per input, in input order.

        The reader thread decodes the next recordings while the model runs on
        the current one, so a folder of many files keeps both cores busy.
        """
        paths = [Path(p) for p in paths]
        if display_names is not None and len(display_names) != len(paths):
            raise ValueError("display_names must have one name per path")
        for index, outcome in self._scores(paths):
            name = display_names[index] if display_names is not None else str(paths[index])
            yield self._result(name, outcome)

    def window_probabilities(self, path: str | Path) -> tuple[list[tuple[float, float]], np.ndarray]:
        """Window times and artifact probabilities of one recording (for evaluation).

        Returns
        -------
        windows : list of (start_s, end_s)
        probabilities : np.ndarray
            float64, shape ``(n_windows,)``.

        Raises
        ------
        AudioLoadError
            When the recording cannot be read.
        """
        scores = self.window_scores(path)
        return list(zip(scores.starts.tolist(), scores.ends.tolist())), scores.probabilities

    def window_scores(self, path: str | Path) -> WindowScores:
        """`WindowScores` of one recording; raises `AudioLoadError` for a bad one."""
        ((_, outcome),) = list(self._scores([Path(path)]))
        if isinstance(outcome, _FileFailed):
            raise AudioLoadError(path, outcome.message)
        return outcome

    # ------------------------------------------------------------------ internals

    def _result(self, name: str, outcome: "WindowScores | _FileFailed"):
        from audio_artifacts.reports import ScanResult

        model = {"name": self.info.name, "version": self.info.version}
        if isinstance(outcome, _FileFailed):
            info = outcome.info
            return ScanResult.failure(
                name,
                f"{name}: {outcome.message}",
                model,
                self.threshold,
                duration_s=None if info is None else info.duration_s,
                sample_rate=None if info is None else info.sample_rate,
                channels=None if info is None else info.channels,
            )
        info = outcome.info
        return ScanResult.from_windows(
            name,
            windows=[
                {"start": s, "end": e, "probability": p}
                for s, e, p in zip(outcome.starts.tolist(), outcome.ends.tolist(), outcome.probabilities.tolist())
            ],
            threshold=self.threshold,
            model=model,
            duration_s=info.duration_s,
            sample_rate=info.sample_rate,
            channels=info.channels,
        )

    def _scores(self, paths: list[Path]) -> Iterator[tuple[int, "WindowScores | _FileFailed"]]:
        """Run the reader thread over ``paths`` and the model here; yield per file, in order."""
        items: queue.Queue = queue.Queue(maxsize=self.prefetch_batches)
        stop = threading.Event()
        reader = threading.Thread(
            target=self._read_all, args=(paths, items, stop), name="audio-artifacts-reader", daemon=True
        )
        reader.start()
        starts: list[float] = []
        ends: list[float] = []
        logits: list[np.ndarray] = []
        try:
            while True:
                item = items.get()
                if item is _END:
                    break
                if isinstance(item, _ReaderCrashed):
                    raise item.error
                if isinstance(item, _Batch):
                    starts.extend(item.starts)
                    ends.extend(item.ends)
                    logits.append(self.backend.logits(item.samples))
                    continue
                if isinstance(item, _FileFailed):
                    outcome: WindowScores | _FileFailed = item
                else:
                    outcome = WindowScores(
                        info=item.info,
                        starts=np.asarray(starts, dtype=np.float64),
                        ends=np.asarray(ends, dtype=np.float64),
                        probabilities=sigmoid(np.concatenate(logits)),
                    )
                starts, ends, logits = [], [], []
                yield item.index, outcome
        finally:
            stop.set()
            while reader.is_alive():  # unblock a reader waiting on a full queue
                try:
                    items.get(timeout=0.05)
                except queue.Empty:
                    pass
            reader.join()

    def _read_all(self, paths: list[Path], items: queue.Queue, stop: threading.Event) -> None:
        """Reader thread: every file -> batches of windows, then a done / failed marker."""

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    items.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            for index, path in enumerate(paths):
                done = self._read_file(index, path, put)
                if not put(done):
                    return
            put(_END)
        except BaseException as exc:  # a bug, not a bad file: hand it to the caller
            put(_ReaderCrashed(exc))

    def _read_file(self, index: int, path: Path, put) -> _FileDone | _FileFailed:
        """One file -> batches through ``put``; its done / failed marker is returned."""
        from audio_artifacts.audio import read_info, stream_audio
        from audio_artifacts.windows import iter_windows

        info = None
        try:
            info = read_info(path)
            rate = self.info.sample_rate
            width = self.info.window.window_samples(rate)
            batch = np.empty((self.batch_size, width), dtype=np.float32)
            starts: list[float] = []
            ends: list[float] = []
            n_windows = 0
            for window in iter_windows(stream_audio(path, self.audio_config), self.info.window, rate):
                batch[len(starts)] = window.samples
                starts.append(window.start_s)
                ends.append(window.end_s)
                n_windows += 1
                if len(starts) == self.batch_size:
                    if not put(_Batch(index, starts, ends, batch)):
                        return _FileFailed(index, "scan stopped", info)
                    batch = np.empty((self.batch_size, width), dtype=np.float32)
                    starts, ends = [], []
            if starts and not put(_Batch(index, starts, ends, batch[: len(starts)])):
                return _FileFailed(index, "scan stopped", info)
        except AudioLoadError as exc:
            return _FileFailed(index, exc.reason, info)
        if n_windows == 0:
            return _FileFailed(index, "no audio samples to scan", info)
        return _FileDone(index, info)
