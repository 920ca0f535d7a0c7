"""The Ray scan engine: recordings scanned by Ray actors, each holding one loaded `Detector`.

Data flow::

    driver (cli/scan.py)  --chunks of absolute paths-->  ScanWorker actors (one Detector each,
                                                          model loaded once per worker)
          <--ScanResult rows (identity taken on the worker, just before it reads the file)--

* Without an address a local Ray instance is started on this machine's
  cores; with one (``auto`` or ``HOST:PORT``) the driver joins that cluster.
* Workers read the files themselves: every node must see the recordings (and
  the model directory) at the same absolute paths, i.e. a shared file system,
  and have this package installed.
* Each worker has at most `IN_FLIGHT` chunks queued, so rows stream back as
  chunks finish and nothing is held back in the driver: the caller writes
  each row as it arrives (in arrival order, not input order).
* A worker that dies is replaced. The chunk it was running is split into
  single files and retried; the chunks only queued on it are retried as they
  were. A file that was alone on a worker that died twice becomes an error
  row naming the reason (`RetryBook`), so one poisonous recording never
  stops the others.

Ray is imported only here, and only when the engine is used: ``pip install
"audio-artifacts[ray]"``.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audio_artifacts.errors import EngineError, ModelDirError

if TYPE_CHECKING:
    from audio_artifacts.results.schema import ScanResult

#: Chunks queued per worker: one running, one waiting, so a worker never idles on the driver.
IN_FLIGHT = 2
#: A chunk is closed at this many files or this many bytes, whichever comes first:
#: short files still batch across file boundaries, long ones come back one by one.
CHUNK_FILES = 8
CHUNK_BYTES = 16 * 2**20
#: A file alone on a worker that died this many times gets an error row.
KILLS_PER_FILE = 2

INSTALL_HINT = "--engine ray needs Ray; install it with: pip install \"audio-artifacts[ray]\""


@dataclass(frozen=True)
class RayOptions:
    """How to run on Ray.

    Attributes
    ----------
    address : str, optional
        ``None``: start a local Ray instance on this machine's cores;
        ``"auto"`` or ``"HOST:PORT"``: join a running cluster.
    workers : int, optional
        Actors (each with one loaded model); None: as many as the cluster's
        CPUs (or GPUs, with ``gpus_per_worker``) allow.
    gpus_per_worker : float
        GPUs reserved by each actor (fractions share one GPU); its model then
        runs on CUDA.
    cpus_per_worker : float
        CPUs reserved by each actor; also the compute threads of its model.
    """

    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0


@dataclass
class Chunk:
    """Files handed to one worker call: (index into the driver's paths, path) pairs."""

    items: list[tuple[int, str]]


@dataclass
class RetryBook:
    """Who is retried after a worker died, and which file has used up its retries.

    Pure bookkeeping (no Ray), so the policy is tested on its own.
    """

    kills: dict[int, int] = field(default_factory=dict)
    limit: int = KILLS_PER_FILE

    def after_death(self, running: Chunk) -> tuple[list[Chunk], list[int]]:
        """The chunk a dead worker was running -> (chunks to retry, indices that get an error row).

        A chunk of several files is split into single files (none blamed: we
        cannot tell which one it was). A single file is blamed; at ``limit``
        deaths it is given up.
        """
        if len(running.items) > 1:
            return [Chunk([item]) for item in running.items], []
        (item,) = running.items
        self.kills[item[0]] = self.kills.get(item[0], 0) + 1
        if self.kills[item[0]] >= self.limit:
            return [], [item[0]]
        return [running], []


def make_chunks(paths: list[str], files: int = CHUNK_FILES, max_bytes: int = CHUNK_BYTES) -> list[Chunk]:
    """Consecutive chunks of at most ``files`` files or about ``max_bytes`` bytes (a file never split)."""
    chunks: list[Chunk] = []
    items: list[tuple[int, str]] = []
    size = 0
    for index, path in enumerate(paths):
        try:
            size += os.stat(path).st_size
        except OSError:
            pass  # a missing file is scanned (as an error row) like any other
        items.append((index, path))
        if len(items) >= files or size >= max_bytes:
            chunks.append(Chunk(items))
            items, size = [], 0
    if items:
        chunks.append(Chunk(items))
    return chunks


class ScanWorker:
    """The body of one Ray actor: one `Detector`, loaded once, scanning chunk after chunk.

    ``__init__`` never raises (Ray would only report a dead actor); `ready`
    hands a failure to the driver as (type name, message).
    """

    def __init__(self, detector_options: dict[str, Any], gpus: float) -> None:
        self.error: tuple[str, str] | None = None
        try:
            from audio_artifacts.inference.detector import Detector

            options = dict(detector_options)
            if gpus > 0:
                options["device"] = "cuda"
            self.detector = Detector(**options)
        except Exception as exc:  # noqa: BLE001 - reported by `ready`
            self.error = (type(exc).__name__, str(exc))

    def ready(self) -> tuple[int, str | None, str | None, str]:
        """(process id, error type, error message, package version) once the model is loaded."""
        from audio_artifacts import __version__

        if self.error is None:
            return os.getpid(), None, None, __version__
        return os.getpid(), self.error[0], self.error[1], __version__

    def scan(self, items: list[tuple[int, str]], names: list[str],
             stimuli: list[tuple[str, str] | None] | None = None) -> list[tuple[int, ScanResult]]:
        """Scan a chunk; (index, result) per file, identity taken just before the file is read.

        ``stimuli``: per item, (stimulus file, its name on the row) or None (stimulus-aware scan).
        """
        from audio_artifacts.results.schema import FileIdentity

        identities = [FileIdentity.of(path) for _, path in items]
        paths = [path for _, path in items]
        if stimuli is not None and any(s is not None for s in stimuli):
            results = self.detector.scan_many(paths, display_names=names,
                                              stimuli=[None if s is None else s[0] for s in stimuli],
                                              stimulus_names=[None if s is None else s[1] for s in stimuli])
        else:
            results = self.detector.scan_many(paths, display_names=names)
        try:
            return [(index, replace(result, identity=identity))
                    for (index, _), result, identity in zip(items, results, identities)]
        finally:
            results.close()


def import_ray():  # noqa: ANN201
    """The ``ray`` module, or `EngineError` with the install command."""
    try:
        import ray
    except ImportError as exc:
        raise EngineError(INSTALL_HINT) from exc
    return ray


@dataclass
class _Slot:
    """One actor as the driver sees it."""

    handle: Any
    ready_ref: Any
    pid: int | None = None
    in_flight: deque = field(default_factory=deque)  # (ref, Chunk), oldest (= running) first


class RayEngine:
    """Scan recordings on Ray; use as a context manager around `scan`.

    Parameters
    ----------
    options : RayOptions
    detector_options : dict
        Keyword arguments of `Detector` for each worker (``model_dir``,
        ``backend``, ``threshold``, ``batch_size``); ``threads`` defaults to
        the worker's CPUs.
    threshold : float
        The threshold the workers use (for error rows made on the driver).
    model : dict
        ``{"name", "version"}`` of the model (for error rows made on the driver).
    """

    def __init__(self, options: RayOptions, detector_options: dict[str, Any], threshold: float,
                 model: dict[str, str]) -> None:
        if options.workers is not None and options.workers < 1:
            raise ValueError(f"workers must be >= 1, got {options.workers}")
        if options.gpus_per_worker < 0 or options.cpus_per_worker <= 0:
            raise ValueError("gpus_per_worker must be >= 0 and cpus_per_worker > 0")
        self.options = options
        self.detector_options = dict(detector_options)
        self.detector_options.setdefault("threads", max(1, int(options.cpus_per_worker)))
        self.threshold = threshold
        self.model = model
        self.deaths = 0
        self._ray = None
        self._started = False
        self._slots: list[_Slot] = []
        self._actor_class = None

    # ------------------------------------------------------------------ lifetime

    def __enter__(self) -> RayEngine:
        ray = import_ray()
        self._ray = ray
        if not ray.is_initialized():
            if self.options.address is None:
                ray.init(include_dashboard=False, logging_level="WARNING", log_to_driver=True)
            else:
                _check_reachable(self.options.address)
                try:
                    ray.init(address=self.options.address, logging_level="WARNING")
                except (ConnectionError, ValueError) as exc:
                    raise EngineError(f"cannot join the Ray cluster at {self.options.address}: {exc}") from exc
            self._started = True
        self._actor_class = ray.remote(ScanWorker).options(
            num_cpus=self.options.cpus_per_worker, num_gpus=self.options.gpus_per_worker,
            max_restarts=0, max_task_retries=0)
        n = self._worker_count()
        self._slots = [self._spawn() for _ in range(n)]
        return self

    def __exit__(self, *exc: object) -> None:
        ray = self._ray
        for slot in self._slots:
            try:
                ray.kill(slot.handle, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._slots = []
        if self._started:
            ray.shutdown()
            self._started = False

    def _worker_count(self) -> int:
        resources = self._ray.cluster_resources()
        if self.options.gpus_per_worker > 0:
            fit = int(resources.get("GPU", 0) / self.options.gpus_per_worker)
            if fit < 1:
                raise EngineError(f"--ray-gpus-per-worker {self.options.gpus_per_worker:g}: the Ray cluster "
                                  f"has {resources.get('GPU', 0):g} GPU(s)")
        else:
            fit = int(resources.get("CPU", 0) / self.options.cpus_per_worker)
        if self.options.workers is None:
            return max(1, fit)
        if self.options.workers > fit:
            print(f"audio-artifacts scan: warning: {self.options.workers} Ray workers asked, the cluster fits "
                  f"{fit} now; the others start when resources free up", file=sys.stderr)
        return self.options.workers

    def _spawn(self) -> _Slot:
        handle = self._actor_class.remote(self.detector_options, self.options.gpus_per_worker)
        return _Slot(handle, handle.ready.remote())

    def worker_pids(self) -> list[int]:
        """Process ids of the workers whose model is loaded (on their nodes)."""
        return [slot.pid for slot in self._slots if slot.pid is not None]

    # ------------------------------------------------------------------ scanning

    def scan(self, paths: list[Path],
             stimuli: dict[str, tuple[Path, str]] | None = None) -> Iterator[tuple[Path, ScanResult]]:
        """(path, result) per recording, in the order results arrive; every path exactly once.

        ``stimuli``: recording (``str(path)``) -> (stimulus file, its name on the row), read by the
        workers like the recordings (shared file system).
        """
        from audio_artifacts.results.schema import ScanResult

        ray = self._ray
        if self._ray is None:
            raise RuntimeError("use RayEngine as a context manager")
        absolute = [os.path.abspath(p) for p in paths]
        names = [str(p) for p in paths]
        played = [None if stimuli is None or str(p) not in stimuli
                  else (os.path.abspath(stimuli[str(p)][0]), stimuli[str(p)][1]) for p in paths]
        todo: deque[Chunk] = deque(make_chunks(absolute))
        book = RetryBook()
        max_deaths = 3 * len(self._slots) + 2 * len(paths) + 2
        while todo or any(slot.in_flight for slot in self._slots):
            for slot in self._slots:
                while slot.pid is not None and todo and len(slot.in_flight) < IN_FLIGHT:
                    chunk = todo.popleft()
                    ref = slot.handle.scan.remote(chunk.items, [names[i] for i, _ in chunk.items],
                                                  [played[i] for i, _ in chunk.items])
                    slot.in_flight.append((ref, chunk))
            waiting = {slot.ready_ref: slot for slot in self._slots if slot.pid is None}
            waiting.update({ref: slot for slot in self._slots for ref, _ in slot.in_flight})
            done, _ = ray.wait(list(waiting), num_returns=1)
            slot = waiting[done[0]]
            if done[0] == slot.ready_ref and slot.pid is None:
                try:
                    pid, error_type, message, version = ray.get(done[0])
                except _died(ray) as exc:
                    self._replace(slot, f"a Ray worker died while loading the model: {_reason(exc)}", max_deaths)
                    continue
                if error_type is not None:
                    if error_type == "ModelDirError":
                        raise ModelDirError(message)
                    raise EngineError(f"a Ray worker cannot load the model: {error_type}: {message}")
                self._check_version(version)
                slot.pid = pid
                continue
            try:
                rows = ray.get(done[0])
            except _died(ray) as exc:
                reason = _reason(exc)
                finished, given_up = self._after_death(slot, reason, book, todo, max_deaths)
                for rows in finished:
                    for index, result in rows:
                        yield paths[index], result
                for index in given_up:
                    yield paths[index], ScanResult.failure(
                        names[index], f"{names[index]}: a Ray worker died each time it scanned this recording "
                        f"({KILLS_PER_FILE} times; last: {reason})", self.model, self.threshold)
                continue
            slot.in_flight = deque(item for item in slot.in_flight if item[0] != done[0])
            for index, result in rows:
                yield paths[index], result

    def _after_death(self, slot: _Slot, reason: str, book: RetryBook, todo: deque,
                     max_deaths: int) -> tuple[list[list], list[int]]:
        """A worker died: replace it and requeue its chunks.

        Returns the rows of chunks that had finished before the death and the
        indices of files given up (`RetryBook`).
        """
        ray = self._ray
        running, queued, finished = None, [], []
        for ref, chunk in slot.in_flight:
            try:
                finished.append(ray.get(ref, timeout=0))
            except (*_died(ray), ray.exceptions.GetTimeoutError):
                if running is None:
                    running = chunk  # tasks of one caller run in order: the oldest unfinished one
                else:
                    queued.append(chunk)
        retry, given_up = book.after_death(running) if running is not None else ([], [])
        for chunk in reversed(queued):
            todo.appendleft(chunk)
        for chunk in reversed(retry):
            todo.appendleft(chunk)
        files = sum(len(c.items) for c in retry + queued)
        print(f"audio-artifacts scan: warning: a Ray worker died ({reason}); retrying {files} recording(s)",
              file=sys.stderr)
        self._replace(slot, reason, max_deaths)
        return finished, given_up

    def _replace(self, slot: _Slot, reason: str, max_deaths: int) -> None:
        """Count a death and put a fresh actor into ``slot`` (its chunks are requeued by the caller)."""
        self.deaths += 1
        if self.deaths > max_deaths:
            raise EngineError(f"Ray workers died {self.deaths} times (last: {reason}); giving up")
        fresh = self._spawn()
        slot.handle, slot.ready_ref, slot.pid, slot.in_flight = fresh.handle, fresh.ready_ref, None, deque()

    def _check_version(self, version: str) -> None:
        from audio_artifacts import __version__

        if version != __version__:
            print(f"audio-artifacts scan: warning: a Ray worker runs audio-artifacts {version}, "
                  f"the driver {__version__}", file=sys.stderr)


#: Seconds to wait for a TCP connection to ``--ray-address HOST:PORT`` (Ray itself retries for minutes).
CONNECT_TIMEOUT_S = 10.0


def _check_reachable(address: str) -> None:
    """`EngineError` at once when ``HOST:PORT`` does not accept connections (``auto`` is left to Ray)."""
    import socket

    host, sep, port = address.rpartition(":")
    if address == "auto" or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise EngineError(f"cannot join the Ray cluster at {address}: nothing answers there ({exc}); "
                          "is `ray start --head` running, and is the port open?") from exc


def _died(ray) -> tuple[type[BaseException], ...]:  # noqa: ANN001
    """Ray's exceptions for "the worker process is gone" (killed, crashed, out of memory)."""
    errors = ray.exceptions
    return (errors.RayActorError, errors.WorkerCrashedError, errors.OutOfMemoryError)


def _reason(exc: BaseException) -> str:
    """The first line of a Ray error, short enough for a row."""
    text = str(exc).strip().splitlines()
    first = next((line.strip() for line in text if line.strip()), type(exc).__name__)
    return f"{type(exc).__name__}: {first}"[:300]
