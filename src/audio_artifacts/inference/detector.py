"""The detector: recordings -> windows -> batched inference -> `ScanResult`.

Data flow per recording (the same window code as training)::

    audio.stream_audio  ->  windows.iter_windows  ->  batches (B, samples)
        -> backend.logits  ->  sigmoid(logit / T) (once, here)  ->  window probabilities
        -> recording probability (max) -> verdict, triggered_at, events
        -> each event described (inference.describe: type, lines, period,
           level, band, precise start / end), flagged recordings only

A reader thread decodes, resamples and windows the recordings (file after
file) while the calling thread runs the model, so both cores work: numpy,
soundfile, soxr, torch and ONNX Runtime all release the GIL. Batches are
filled across file boundaries, so a folder of short recordings still makes
full batches. The queue between the threads holds at most a few batches, so
memory stays bounded whatever the length of a recording.

Comparisons with the threshold are ``probability >= threshold`` everywhere
(verdict, ``triggered_at``, events). ``T`` is the model directory's
temperature (``model.json``, fitted on validation by ``train``; 1.0 when the
directory has none), so probabilities are calibrated and the stored threshold
is on the same calibrated scale.

Stimulus-aware (``scan_many(..., stimuli=...)``): the recording and its
stimulus are read whole, `inference.stimulus.explain_recording` makes the
residual (what the stimulus does not explain), and the model judges both the
recording's and the residual's windows; a window's probability is the
smaller of the two (``stimulus_rule="both"``): an artifact is in the output
and not explained by the input. A model directory with a ``residual/`` model
(`inference.residual_model`: the same model fine-tuned on residuals) judges
the residual's windows with it, on the main model's scale.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from audio_artifacts.errors import AudioLoadError
from audio_artifacts.inference.backends import Backend, open_backend

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from audio_artifacts.results.schema import ScanResult

_END = object()  # sentinel closing the reader's queue


@dataclass
class _Batch:
    """Windows for one model call, possibly from several files, and the files closed by it.

    ``closed`` lists the files (in input order) whose every window is in this
    batch or an earlier one; the consumer finishes them after this batch.
    """

    samples: np.ndarray  # (n, window_samples) float32, n may be 0
    lengths: np.ndarray  # (n,) int64: real samples of each row (the rest is padding)
    owners: list[int]  # file index of each row
    starts: list[float]
    ends: list[float]
    closed: list  # of _FileDone | _FileFailed


@dataclass
class _FileDone:
    index: int
    info: object  # audio.AudioInfo
    stimulus: object | None = None  # results.schema.StimulusRef of a stimulus-aware scan


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
    stimulus: object | None = None  # results.schema.StimulusRef when judged against a stimulus
    # With a residual: the two inputs of the stimulus rule, shape (n_windows,) each.
    recording_probabilities: np.ndarray | None = None
    residual_probabilities: np.ndarray | None = None


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
        Windows per model call. 16 keeps the default model's peak memory on a
        2-hour recording near 0.5 GB (32: 0.85 GB) at the same speed.
    threads : int, optional
        Cores the model may use in all (None: every core, ``os.cpu_count()``).
        They are split between ``workers`` concurrent model calls; for torch
        the per-call count sets the process-wide intra-op pool
        (``torch.set_num_threads``).
    block_seconds : float
        Length of the blocks read from disk (input side); bounds memory.
    channel : "mean" or int
        How multi-channel files become mono (see ``audio.AudioConfig``).
    prefetch_batches : int
        Batches the reader thread may prepare ahead of the model (>= 1).
    workers : int, optional
        Model calls run at the same time, each on its own thread (results
        stay in input order); None: ``min(2, threads)``. As many threads
        describe the flagged recordings beside them. On 2 cores this
        gives two single-threaded calls in parallel, which measured faster
        than one call on two intra-op threads (docs/scan.md).
    describe : bool
        Describe every event (type, line frequencies, period, level, band,
        start / end from the audio: ``inference.describe``); False keeps the
        plain runs of flagged windows.
    device : str
        Torch device of the model (``"cpu"``; ``"cuda"`` on a GPU worker).
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        backend: str | Backend = "auto",
        threshold: float | None = None,
        batch_size: int = 16,
        threads: int | None = None,
        block_seconds: float = 30.0,
        channel: str | int = "mean",
        prefetch_batches: int = 2,
        workers: int | None = None,
        describe: bool = True,
        device: str = "cpu",
        stimulus_rule: str = "both",
    ) -> None:
        from audio_artifacts.audio import AudioConfig
        from audio_artifacts.models.model_dir import default_model_dir, read_model_info

        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        threads = (os.cpu_count() or 1) if threads is None else threads
        workers = min(2, threads) if workers is None else workers
        if threads < 1 or workers < 1:
            raise ValueError(f"threads and workers must be >= 1, got threads={threads}, workers={workers}")
        if stimulus_rule not in ("both", "residual"):
            raise ValueError(f"stimulus_rule must be 'both' or 'residual', got {stimulus_rule!r}")
        self.stimulus_rule = stimulus_rule
        if prefetch_batches < 1:
            raise ValueError(f"prefetch_batches must be >= 1, got {prefetch_batches}")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        self.model_dir = Path(model_dir) if model_dir is not None else Path(default_model_dir())
        self.info = read_model_info(self.model_dir)
        per_call = max(1, threads // workers)
        if isinstance(backend, str):
            self.backend: Backend = open_backend(self.model_dir, backend, threads=per_call, device=device)
        else:
            self.backend = backend
        # the residual model is read when a stimulus-aware scan first needs it (plain scans never do)
        self._residual_spec = (backend if isinstance(backend, str) else "auto", per_call, device)
        self._residual_model = None
        self._residual_lock = threading.Lock()
        self.threshold = float(self.info.threshold if threshold is None else threshold)
        self.temperature = float(self.info.temperature)
        self.min_duration_s = float(self.info.min_duration_s)
        self.batch_size = batch_size
        self.prefetch_batches = prefetch_batches
        self.workers = workers
        self.audio_config = AudioConfig(
            sample_rate=self.info.sample_rate, channel=channel, block_seconds=block_seconds
        )
        self.describer = None
        if describe:
            from audio_artifacts.inference.describe import DetectorView, EventDescriber

            size = getattr(self.backend, "embedding_size", None)
            view = None if size is None else DetectorView(
                self.backend.embedding, size, self.info.sample_rate, self.info.window.duration_s,
                self.info.window.overlap)
            self.describer = EventDescriber(self.model_dir, channel=channel, detector=view)

    # ------------------------------------------------------------------ public API

    def scan_file(self, path: str | Path, display_name: str | None = None,
                  stimulus: str | Path | None = None, stimulus_name: str | None = None) -> ScanResult:
        """Scan one recording; a bad recording gives ``status="error"``, never an exception.

        Parameters
        ----------
        path : str or Path
            The recording (any format `audio.read_info` accepts).
        display_name : str, optional
            What to report as ``path`` (e.g. an uploaded file's name); default ``str(path)``.
        stimulus : str or Path, optional
            What the test system played: judge only what it does not explain
            (`inference.stimulus`); ``stimulus_name`` is what the row calls it.
        """
        names = None if display_name is None else [display_name]
        stimuli = None if stimulus is None else [stimulus]
        stimulus_names = None if stimulus_name is None else [stimulus_name]
        results = self.scan_many([path], display_names=names, stimuli=stimuli, stimulus_names=stimulus_names)
        try:
            return next(results)
        finally:
            results.close()

    def scan_many(
        self, paths: Iterable[str | Path], display_names: Sequence[str] | None = None,
        stimuli: Sequence[str | Path | None] | None = None, stimulus_names: Sequence[str] | None = None,
    ) -> Iterator[ScanResult]:
        """Scan recordings one after the other, yielding a `ScanResult` per input, in input order.

        The reader thread decodes the next recordings while the model runs on
        the current one, so a folder of many files keeps both cores busy.
        ``stimuli`` (one per path, None for none) makes the scan stimulus-aware:
        the windows are those of the residual (`inference.stimulus`), read whole.
        """
        paths = [Path(p) for p in paths]
        if display_names is not None and len(display_names) != len(paths):
            raise ValueError("display_names must have one name per path")
        if stimuli is not None and len(stimuli) != len(paths):
            raise ValueError("stimuli must have one entry (or None) per path")
        if stimulus_names is not None and len(stimulus_names) != len(paths):
            raise ValueError("stimulus_names must have one name per path")
        plan = None
        if stimuli is not None:
            plan = [None if s is None else (Path(s), str(s) if stimulus_names is None else stimulus_names[i])
                    for i, s in enumerate(stimuli)]
        def result(index: int, outcome: WindowScores | _FileFailed) -> ScanResult:
            name = display_names[index] if display_names is not None else str(paths[index])
            stimulus = None if plan is None or plan[index] is None else plan[index][0]
            return self._result(name, outcome, paths[index], stimulus)

        if self.describer is None or self.workers < 2:
            for index, outcome in self._scores(paths, plan):
                yield result(index, outcome)
            return
        # Describing a flagged recording costs several times its model calls, so it runs on
        # `workers` threads beside the model (numpy / scipy leave the GIL); rows stay in input order.
        pending: deque[Future] = deque()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="describe") as pool:
            try:
                for index, outcome in self._scores(paths, plan):
                    pending.append(pool.submit(result, index, outcome))
                    while pending and (pending[0].done() or len(pending) > 2 * self.workers):
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()

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

    def window_scores(self, path: str | Path, stimulus: str | Path | None = None) -> WindowScores:
        """`WindowScores` of one recording (of its residual with ``stimulus``); `AudioLoadError` for a bad one."""
        plan = None if stimulus is None else [(Path(stimulus), str(stimulus))]
        ((_, outcome),) = list(self._scores([Path(path)], plan))
        if isinstance(outcome, _FileFailed):
            raise AudioLoadError(path, outcome.message)
        return outcome

    # ------------------------------------------------------------------ internals

    def _result(self, name: str, outcome: WindowScores | _FileFailed, path: Path | None = None,
                stimulus: Path | None = None) -> ScanResult:
        from audio_artifacts.results.schema import ScanResult

        model = {"name": self.info.name, "version": self.info.version,
                 "backend": getattr(self.backend, "name", type(self.backend).__name__)}
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
        result = ScanResult.from_windows(
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
            stimulus=outcome.stimulus,
        )
        return result if path is None else self.describe_result(result, path, stimulus)

    def describe_result(self, result: ScanResult, path: str | Path, stimulus: str | Path | None = None) -> ScanResult:
        """``result`` with its events described from the recording at ``path`` (``inference.describe``).

        With the ``stimulus`` a stimulus-aware result was judged against (and
        used: not silent, no warning), the events are described from the
        residual, made again at the recording's rate (<= 48 kHz, where every event is measured;
        the windows judged it at the model's rate).
        Nothing to do (the result is returned as it is) for a result without
        events, an error result, or a detector made with ``describe=False``.
        Use it after re-deciding a result at another threshold.
        """
        if self.describer is None or not result.ok or not result.events or result.duration_s is None:
            return result
        from dataclasses import replace

        ref = result.stimulus
        if stimulus is not None and ref is not None and not ref.silent and ref.warning is None:
            from audio_artifacts.audio import AudioConfig
            from audio_artifacts.inference.describe import MAX_RATE
            from audio_artifacts.inference.stimulus import residual_of_files

            rate = min(int(result.sample_rate or MAX_RATE), MAX_RATE)
            try:
                residual, _ = residual_of_files(path, stimulus, AudioConfig(sample_rate=rate))
            except AudioLoadError as exc:  # read once already; describe from the recording rather than lose it
                log.warning("%s: events described from the recording: %s", result.path, exc)
            else:
                return replace(result, events=self.describer.describe_residual_events(
                    residual, rate, result.events, result.path))
        return replace(result, events=self.describer.describe_events(path, result.events, result.duration_s))

    def _scores(self, paths: list[Path], stimuli: list | None = None
                ) -> Iterator[tuple[int, "WindowScores | _FileFailed"]]:
        """Run the reader thread over ``paths`` and the model here; yield per file, in order.

        ``stimuli``: per path None or (stimulus file, name for the row).
        """
        items: queue.Queue = queue.Queue(maxsize=self.prefetch_batches)
        stop = threading.Event()
        reader = threading.Thread(
            target=self._read_all, args=(paths, items, stop, stimuli), name="audio-artifacts-reader", daemon=True
        )
        reader.start()
        # per open file: window starts, ends and logits so far
        open_files: dict[int, tuple[list[float], list[float], list[np.ndarray]]] = {}
        # batches handed to the model, oldest first: finished strictly in order
        in_flight: deque[tuple[_Batch, Future | None]] = deque()
        pool = None
        if self.workers > 1:
            pool = ThreadPoolExecutor(self.workers, thread_name_prefix="audio-artifacts-model")
        try:
            while True:
                item = items.get()
                if item is _END:
                    break
                if isinstance(item, _ReaderCrashed):
                    raise item.error
                future = None
                if item.owners:
                    if pool is not None:
                        future = pool.submit(self._logits, item)
                    else:
                        future = Future()
                        future.set_result(self._logits(item))
                in_flight.append((item, future))
                while in_flight and (
                    len(in_flight) >= self.workers or in_flight[0][1] is None or in_flight[0][1].done()
                ):
                    yield from self._finish(*in_flight.popleft(), open_files, self.stimulus_rule)
            while in_flight:
                yield from self._finish(*in_flight.popleft(), open_files, self.stimulus_rule)
        finally:
            stop.set()
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            while reader.is_alive():  # unblock a reader waiting on a full queue
                try:
                    items.get(timeout=0.05)
                except queue.Empty:
                    pass
            reader.join()

    def _logits(self, item: _Batch) -> np.ndarray:
        """A batch's logits: the recordings' rows by the model, the residuals' by the residual model."""
        owners = np.asarray(item.owners)
        residual_rows = owners < 0
        model = self._residual() if residual_rows.any() else None
        if model is None:
            return self.backend.logits(item.samples, item.lengths)
        logits = np.empty(owners.size, dtype=np.float64)
        if not residual_rows.all():
            plain = ~residual_rows
            logits[plain] = self.backend.logits(item.samples[plain], item.lengths[plain])
        logits[residual_rows] = model.logits(item.samples[residual_rows], item.lengths[residual_rows])
        return logits

    def _residual(self):
        """The model directory's `ResidualModel` (None without one), opened once."""
        with self._residual_lock:
            if self._residual_model is None:
                from audio_artifacts.inference.residual_model import open_residual_model

                kind, threads, device = self._residual_spec
                self._residual_model = open_residual_model(self.model_dir, self.info, kind, threads, device) \
                    or False
            return self._residual_model or None

    def _finish(self, item: _Batch, future: Future | None, open_files: dict, stimulus_rule: str = "both"):
        """Hand a batch's logits to its files; yield the files it closes."""
        if future is not None:
            logits = future.result()
            owners = np.asarray(item.owners)
            # rows are grouped by file, in order: split at owner changes
            cuts = np.flatnonzero(np.diff(owners)) + 1
            for rows in np.split(np.arange(owners.size), cuts):
                starts, ends, chunks = open_files.setdefault(int(owners[rows[0]]), ([], [], []))
                starts.extend(item.starts[rows[0] : rows[-1] + 1])
                ends.extend(item.ends[rows[0] : rows[-1] + 1])
                chunks.append(logits[rows[0] : rows[-1] + 1])
        for marker in item.closed:
            starts, ends, chunks = open_files.pop(marker.index, ([], [], []))
            _, _, residual_chunks = open_files.pop(_residual_owner(marker.index), ([], [], []))
            if isinstance(marker, _FileFailed):
                yield marker.index, marker
                continue
            recording = probabilities = sigmoid(np.concatenate(chunks) / self.temperature)
            residual = None
            if residual_chunks:
                residual = sigmoid(np.concatenate(residual_chunks) / self.temperature)
                # An artifact is in the recording AND not explained by its input: both must flag it.
                probabilities = residual if stimulus_rule == "residual" else np.minimum(recording, residual)
            yield marker.index, WindowScores(
                info=marker.info,
                starts=np.asarray(starts, dtype=np.float64),
                ends=np.asarray(ends, dtype=np.float64),
                probabilities=probabilities,
                stimulus=marker.stimulus,
                recording_probabilities=None if residual is None else recording,
                residual_probabilities=residual,
            )

    def _read_all(self, paths: list[Path], items: queue.Queue, stop: threading.Event,
                  stimuli: list | None = None) -> None:
        """Reader thread: every file -> windows packed into batches (across files) -> queue."""
        rate = self.info.sample_rate
        width = self.info.window.window_samples(rate)
        batch = _BatchBuilder(self.batch_size, width)

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
                info, n_windows = None, 0
                try:
                    info = self._read_info(path)
                    if info.duration_s < self.min_duration_s:
                        batch.closed.append(_FileFailed(
                            index, f"recording is {info.duration_s:.3f} s long; the model "
                                   f"{self.info.name} judges recordings of at least {self.min_duration_s:g} s",
                            info))
                        continue
                    windows, stimulus = self._windows(path, None if stimuli is None else stimuli[index])
                    for residual, window in windows:
                        # The residual's windows belong to a shadow owner, merged when the file closes.
                        if batch.add(_residual_owner(index) if residual else index, window) \
                                and not put(batch.take()):
                            return
                        n_windows += not residual
                    batch.closed.append(
                        _FileDone(index, info, stimulus) if n_windows
                        else _FileFailed(index, "no audio samples to scan", info)
                    )
                except AudioLoadError as exc:
                    batch.closed.append(_FileFailed(index, exc.reason, info))
                except Exception as exc:  # noqa: BLE001 - one odd file must not end a sweep
                    # audio.py turns every known bad input into AudioLoadError;
                    # anything else is reported on this file's row, by type.
                    reason = f"unexpected error while reading: {type(exc).__name__}: {exc}"
                    batch.closed.append(_FileFailed(index, reason, info))
            if not put(batch.take()):
                return
            put(_END)
        except BaseException as exc:  # a bug, not a bad file: hand it to the caller
            put(_ReaderCrashed(exc))

    def _read_info(self, path: Path):
        from audio_artifacts.audio import read_info

        return read_info(path)

    def _windows(self, path: Path, stimulus: tuple[Path, str] | None = None):
        """The windows of one recording at the model rate and its `StimulusRef`.

        Yields ``(residual, window)`` pairs: without a ``stimulus`` (its file,
        its name for the row) the recording's windows (`windows.iter_windows`,
        streamed). With one, both files are read whole, and the recording's
        windows are followed by those of the residual
        (`inference.stimulus.explain_recording`) unless the stimulus was not
        used (silent, or it does not match: then the recording alone).
        """
        from audio_artifacts.audio import load_audio, stream_audio
        from audio_artifacts.windows import iter_windows, windows_of

        rate = self.info.sample_rate
        if stimulus is None:
            windows = iter_windows(stream_audio(path, self.audio_config), self.info.window, rate)
            return ((False, w) for w in windows), None
        from audio_artifacts.inference.stimulus import explain_recording
        from audio_artifacts.results.schema import StimulusRef

        recording = load_audio(path, self.audio_config)
        try:
            played = load_audio(stimulus[0], self.audio_config)
        except AudioLoadError as exc:
            raise AudioLoadError(path, f"its stimulus {exc.path}: {exc.reason}") from exc
        residual, fit = explain_recording(recording, played, rate)
        ref = StimulusRef(stimulus[1], fit.offset_s,
                          fit.alignment_snr_db, fit.explained, fit.thd_percent, fit.lines_hz, fit.silent, fit.warning)
        pairs = [(False, w) for w in windows_of(recording, self.info.window, rate)]
        if not (fit.silent or fit.warning):
            pairs += [(True, w) for w in windows_of(residual, self.info.window, rate)]
        return pairs, ref


def _residual_owner(index: int) -> int:
    """The batch owner id of file ``index``'s residual windows (never a file index)."""
    return -1 - index


class _BatchBuilder:
    """Fills ``(batch_size, width)`` arrays with windows of one or more files."""

    def __init__(self, batch_size: int, width: int) -> None:
        self.batch_size, self.width = batch_size, width
        self._new()

    def _new(self) -> None:
        self.samples = np.empty((self.batch_size, self.width), dtype=np.float32)
        self.lengths = np.empty(self.batch_size, dtype=np.int64)
        self.owners: list[int] = []
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.closed: list = []

    def add(self, index: int, window) -> bool:
        """Add a window; True when the batch is full (then `take` it)."""
        self.samples[len(self.owners)] = window.samples
        self.lengths[len(self.owners)] = window.valid
        self.owners.append(index)
        self.starts.append(window.start_s)
        self.ends.append(window.end_s)
        return len(self.owners) == self.batch_size

    def take(self) -> _Batch:
        """The batch so far (rows and closed files); starts a new one."""
        n = len(self.owners)
        done = _Batch(self.samples[:n], self.lengths[:n], self.owners, self.starts, self.ends, self.closed)
        self._new()
        return done
