"""The one result schema (:class:`ScanResult`) and the files it is written to.

``scan``, ``serve`` and ``evaluate`` all describe a scanned recording with a
:class:`ScanResult`. Results are written as they are made: every row of a
:class:`JsonlWriter` or :class:`CsvSummaryWriter` is flushed and fsync'ed
before the next file is scanned, so a crash or a kill loses nothing already
written, and ``--resume`` (:func:`done_paths`) skips what is already there.

Conventions
-----------
* Times are seconds from the start of the recording.
* A window is *flagged* when its probability is ``>= threshold``; the verdict
  is ``"artifact"`` when the recording-level probability is ``>= threshold``.
* ``events`` are runs of consecutive flagged windows merged into one
  interval; an event's probability is the highest of its windows.
* The recording-level probability defaults to the highest window probability.

The spectrogram + probability picture lives in :mod:`audio_artifacts.plots`.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import json
import math
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from audio_artifacts.errors import AudioArtifactsError

STATUSES = ("ok", "error")
VERDICTS = ("artifact", "no_artifact")

#: Columns of the flat CSV summary before file identities were recorded (still read).
LEGACY_CSV_COLUMNS = (
    "path", "status", "error", "duration_s", "sample_rate", "channels",
    "probability", "verdict", "threshold", "triggered_at", "n_events",
    "model_name", "model_version",
)
#: Columns of the flat CSV summary, in order.
CSV_COLUMNS = (*LEGACY_CSV_COLUMNS, "file_size", "file_mtime_ns", "file_sha256", "file_hashed_bytes")
#: CSV dialects: ``plain`` (``,``, ``.`` decimals, no BOM) and ``excel`` (``;``,
#: ``,`` decimals and a UTF-8 BOM: what Excel in a German or most European
#: locales opens as a table when the file is double-clicked).
CSV_DIALECTS = ("plain", "excel")
_BOM = "\ufeff"
#: Bytes of a file's head hashed for its identity (the whole file when smaller).
IDENTITY_HEAD_BYTES = 1024 * 1024


class ResultsWriteError(AudioArtifactsError):
    """Results cannot be written (disk full, file too large, permission, I/O error).

    Rows written before the failure are complete and durable; a torn row is
    removed again where the file system allows it.
    """

    def __init__(self, path: str | os.PathLike[str] | None, reason: str, rows_written: int) -> None:
        self.path = None if path is None else str(path)
        self.reason = reason
        self.rows_written = rows_written
        where = self.path if self.path is not None else "the output stream"
        super().__init__(f"cannot write results to {where}: {reason} "
                         f"({rows_written} row(s) written in this run are intact)")


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    if exc.errno == errno.EFBIG:
        return "file too large (file-size limit of this process or file system reached)"
    if exc.errno == errno.EDQUOT:
        return "disk quota exceeded"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


@dataclass(frozen=True)
class FileIdentity:
    """What identifies the bytes a result was made from, so ``--resume`` can tell a replaced file.

    Attributes
    ----------
    size : int
        Bytes.
    mtime_ns : int or None
        Modification time, ns since the epoch (``None`` for uploads).
    sha256 : str
        Hex SHA-256 of the first ``hashed_bytes`` bytes.
    hashed_bytes : int
        ``min(size, IDENTITY_HEAD_BYTES)``: the whole file when it is small.
    """

    size: int
    mtime_ns: int | None
    sha256: str
    hashed_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "mtime_ns": self.mtime_ns, "sha256": self.sha256,
                "hashed_bytes": self.hashed_bytes}

    @classmethod
    def coerce(cls, value: FileIdentity | Mapping[str, Any] | None) -> FileIdentity | None:
        if value is None or isinstance(value, FileIdentity):
            return value
        try:
            mtime = value.get("mtime_ns")
            return cls(int(value["size"]), None if mtime in (None, "") else int(mtime), str(value["sha256"]),
                       int(value["hashed_bytes"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"expected a file identity {{size, mtime_ns, sha256, hashed_bytes}}, got {value!r}") from exc

    @classmethod
    def of(cls, path: str | os.PathLike[str], with_mtime: bool = True) -> FileIdentity | None:
        """The identity of the file at ``path`` now; ``None`` when it cannot be read."""
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                return None  # a folder, a pipe (opening one would wait for a writer), a device
            with open(path, "rb") as handle:
                status = os.fstat(handle.fileno())
                head = handle.read(IDENTITY_HEAD_BYTES)
        except OSError:
            return None
        return cls(status.st_size, status.st_mtime_ns if with_mtime else None,
                   hashlib.sha256(head).hexdigest(), len(head))


@dataclass(frozen=True)
class Span:
    """A time interval with a probability: a window or a merged event.

    Parameters
    ----------
    start, end : float
        Seconds from the start of the recording, ``0 <= start <= end``.
    probability : float
        Artifact probability in [0, 1].
    """

    start: float
    end: float
    probability: float

    def __post_init__(self) -> None:
        for name in ("start", "end", "probability"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if not (math.isfinite(self.start) and math.isfinite(self.end)) or not 0.0 <= self.start <= self.end:
            raise ValueError(f"span times must satisfy 0 <= start <= end, got start={self.start}, end={self.end}")
        _check_probability("span probability", self.probability)

    def to_dict(self) -> dict[str, float]:
        return {"start": self.start, "end": self.end, "probability": self.probability}

    @classmethod
    def coerce(cls, value: Span | Mapping[str, Any]) -> Span:
        """A :class:`Span` from itself or a ``{start, end, probability}`` mapping."""
        if isinstance(value, Span):
            return value
        try:
            return cls(value["start"], value["end"], value["probability"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"expected {{start, end, probability}}, got {value!r}") from exc


@dataclass(frozen=True)
class ModelRef:
    """Which model made a result: its name and version (from ``model.json``)."""

    name: str
    version: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version}

    @classmethod
    def coerce(cls, value: ModelRef | Mapping[str, Any]) -> ModelRef:
        """A :class:`ModelRef` from itself, a ``{name, version}`` mapping or a ``ModelInfo``."""
        if isinstance(value, ModelRef):
            return value
        if isinstance(value, Mapping):
            return cls(str(value.get("name", "")), str(value.get("version", "")))
        if hasattr(value, "name") and hasattr(value, "version"):  # models.model_dir.ModelInfo
            return cls(str(value.name), str(value.version))
        raise ValueError(f"expected a model {{name, version}}, got {value!r}")


def _check_probability(what: str, value: float) -> None:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{what} must be a finite number in [0, 1], got {value!r}")


def merge_events(windows: Sequence[Span], threshold: float) -> tuple[Span, ...]:
    """Merge runs of consecutive windows with ``probability >= threshold``.

    Parameters
    ----------
    windows : sequence of Span
        Windows in time order (as the detector makes them).
    threshold : float
        Decision threshold in [0, 1].

    Returns
    -------
    tuple of Span
        One span per run: from the first window's start to the furthest end
        in the run, with the run's highest probability.
    """
    events: list[Span] = []
    run: list[Span] = []
    for window in [*windows, None]:
        if window is not None and window.probability >= threshold:
            run.append(window)
            continue
        if run:
            events.append(Span(run[0].start, max(w.end for w in run), max(w.probability for w in run)))
            run = []
    return tuple(events)


@dataclass(frozen=True)
class ScanResult:
    """What ``scan`` / ``serve`` / ``evaluate`` report for one recording.

    Build it with :meth:`from_windows` (a recording that was scanned) or
    :meth:`failure` (one that could not be); ``to_dict`` gives the JSON object
    of the output contract, ``from_dict`` reads it back.

    Attributes
    ----------
    path : str
        The recording as the user named it (or the upload's file name).
    status : {"ok", "error"}
    error : str or None
        Why the recording could not be scanned (names the file and the reason).
    duration_s : float or None
        Length of the recording in seconds.
    sample_rate, channels : int or None
        Of the file as stored (before resampling / mixing to mono).
    probability : float or None
        Recording-level artifact probability in [0, 1].
    verdict : {"artifact", "no_artifact"} or None
        ``None`` on error.
    threshold : float
        The decision threshold used.
    triggered_at : float or None
        Start (s) of the first window over the threshold.
    windows, events : tuple of Span
        Every window scanned, and the merged runs of flagged windows.
    model : ModelRef
    identity : FileIdentity or None
        Size, modification time and head hash of the file scanned (``None``
        when unknown, e.g. the file does not exist).
    """

    path: str
    status: str
    error: str | None
    duration_s: float | None
    sample_rate: int | None
    channels: int | None
    probability: float | None
    verdict: str | None
    threshold: float
    triggered_at: float | None
    windows: tuple[Span, ...] = field(default_factory=tuple)
    events: tuple[Span, ...] = field(default_factory=tuple)
    model: ModelRef = field(default_factory=lambda: ModelRef("", ""))
    identity: FileIdentity | None = None

    def __post_init__(self) -> None:
        # Accept plain lists / dicts from callers and JSON; store immutable values.
        object.__setattr__(self, "path", str(self.path))
        object.__setattr__(self, "windows", tuple(Span.coerce(w) for w in self.windows))
        object.__setattr__(self, "events", tuple(Span.coerce(e) for e in self.events))
        object.__setattr__(self, "model", ModelRef.coerce(self.model))
        object.__setattr__(self, "identity", FileIdentity.coerce(self.identity))
        object.__setattr__(self, "threshold", float(self.threshold))
        _check_probability("threshold", self.threshold)
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if self.status == "error":
            if not self.error:
                raise ValueError("an error result needs an error message")
            if self.verdict is not None:
                raise ValueError("an error result has no verdict")
        else:
            if self.error is not None:
                raise ValueError("an ok result has no error message")
            if self.verdict not in VERDICTS:
                raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
            if self.probability is None:
                raise ValueError("an ok result needs a probability")
        if self.probability is not None:
            object.__setattr__(self, "probability", float(self.probability))
            _check_probability("probability", self.probability)
        for name in ("duration_s", "triggered_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))
        for name in ("sample_rate", "channels"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, int(value))

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def flagged(self) -> bool:
        """True when the verdict is ``"artifact"``."""
        return self.verdict == "artifact"

    @classmethod
    def from_windows(
        cls,
        path: str | os.PathLike[str],
        *,
        windows: Iterable[Span | Mapping[str, Any]],
        threshold: float,
        model: ModelRef | Mapping[str, Any],
        duration_s: float,
        sample_rate: int,
        channels: int,
        probability: float | None = None,
    ) -> ScanResult:
        """The result of a scanned recording, derived from its window probabilities.

        Parameters
        ----------
        windows : iterable of Span or {start, end, probability}
            Every window in time order; at least one.
        threshold : float
            Decision threshold in [0, 1].
        probability : float, optional
            Recording-level probability; the highest window probability if omitted.
        """
        spans = tuple(Span.coerce(w) for w in windows)
        if not spans:
            raise ValueError(f"{path}: a scanned recording has at least one window")
        _check_probability("threshold", float(threshold))
        if probability is None:
            probability = max(w.probability for w in spans)
        events = merge_events(spans, threshold)
        return cls(
            path=str(path),
            status="ok",
            error=None,
            duration_s=duration_s,
            sample_rate=sample_rate,
            channels=channels,
            probability=probability,
            verdict="artifact" if probability >= threshold else "no_artifact",
            threshold=threshold,
            triggered_at=events[0].start if events else None,
            windows=spans,
            events=events,
            model=model,
        )

    @classmethod
    def failure(
        cls,
        path: str | os.PathLike[str],
        message: str,
        model: ModelRef | Mapping[str, Any],
        threshold: float,
        *,
        duration_s: float | None = None,
        sample_rate: int | None = None,
        channels: int | None = None,
    ) -> ScanResult:
        """The result of a recording that could not be scanned."""
        return cls(
            path=str(path),
            status="error",
            error=str(message) or "unknown error",
            duration_s=duration_s,
            sample_rate=sample_rate,
            channels=channels,
            probability=None,
            verdict=None,
            threshold=threshold,
            triggered_at=None,
            model=model,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the output contract (keys in contract order)."""
        return {
            "path": self.path,
            "status": self.status,
            "error": self.error,
            "duration_s": self.duration_s,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "probability": self.probability,
            "verdict": self.verdict,
            "threshold": self.threshold,
            "triggered_at": self.triggered_at,
            "windows": [w.to_dict() for w in self.windows],
            "events": [e.to_dict() for e in self.events],
            "model": self.model.to_dict(),
            "identity": None if self.identity is None else self.identity.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScanResult:
        """Read back an object written by :meth:`to_dict` (ValueError if malformed)."""
        required = ("path", "status", "error", "threshold", "model")
        missing = [k for k in required if k not in data]
        if missing:
            raise ValueError(f"scan result is missing {', '.join(missing)}")
        return cls(
            path=data["path"],
            status=data["status"],
            error=data["error"],
            duration_s=data.get("duration_s"),
            sample_rate=data.get("sample_rate"),
            channels=data.get("channels"),
            probability=data.get("probability"),
            verdict=data.get("verdict"),
            threshold=data["threshold"],
            triggered_at=data.get("triggered_at"),
            windows=data.get("windows") or (),
            events=data.get("events") or (),
            model=data["model"],
            identity=data.get("identity"),
        )

    def to_row(self) -> dict[str, Any]:
        """The flat CSV summary row (:data:`CSV_COLUMNS`)."""
        return {
            "path": self.path,
            "status": self.status,
            # One line per row: multi-line messages would make rows hard to grep.
            "error": " | ".join(self.error.splitlines()) if self.error else "",
            "duration_s": _blank(self.duration_s),
            "sample_rate": _blank(self.sample_rate),
            "channels": _blank(self.channels),
            "probability": _blank(self.probability),
            "verdict": _blank(self.verdict),
            "threshold": self.threshold,
            "triggered_at": _blank(self.triggered_at),
            "n_events": len(self.events),
            "model_name": self.model.name,
            "model_version": self.model.version,
            "file_size": "" if self.identity is None else self.identity.size,
            "file_mtime_ns": "" if self.identity is None else _blank(self.identity.mtime_ns),
            "file_sha256": "" if self.identity is None else self.identity.sha256,
            "file_hashed_bytes": "" if self.identity is None else self.identity.hashed_bytes,
        }


def _blank(value: Any) -> Any:
    return "" if value is None else value


# --------------------------------------------------------------------------- writers


def _complete_text(path: Path) -> str:
    """The file's text up to and including its last newline (drops a torn last row)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    cut = text.rfind("\n")
    return text[: cut + 1] if cut >= 0 else ""


def _drop_torn_tail(path: Path) -> None:
    """Truncate a file after its last newline, so appended rows start on a fresh line."""
    with open(path, "rb+") as handle:
        data = handle.read()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            handle.truncate(keep)


def replace_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, fsync and rename (never half a file)."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.rewrite-{os.getpid()}")
    try:
        with open(temporary, "w", encoding="utf-8", errors="backslashreplace", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ResultsWriteError(path, _os_reason(exc), 0) from None
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _RowWriter:
    """Append-only file, one row per result, durable after each row.

    A row is one ``write`` of its bytes followed by ``fsync``; when either
    fails (disk full, file-size limit, I/O error) the file is cut back to
    where the row began, so no torn row is left, and `ResultsWriteError`
    says why and how many rows this run wrote.
    """

    def __init__(self, path: str | os.PathLike[str], resume: bool = False) -> None:
        self.path: Path | None = Path(path)
        self.rows_written = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            existing = resume and self.path.is_file() and self.path.stat().st_size > 0
            if existing:
                _drop_torn_tail(self.path)
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if existing else os.O_TRUNC)
            self._fd: int | None = os.open(self.path, flags, 0o666)
            self._fresh = os.fstat(self._fd).st_size == 0
        except OSError as exc:
            raise ResultsWriteError(self.path, _os_reason(exc), 0) from None
        self._stream: TextIO | None = None

    @classmethod
    def to_stream(cls, stream: TextIO):  # noqa: ANN206 - returns the concrete writer
        """A writer on an open text stream (e.g. stdout): flushed per row, never closed."""
        writer = cls.__new__(cls)
        writer.path, writer._fd, writer._stream, writer._fresh, writer.rows_written = None, None, stream, True, 0
        return writer

    def _write_text(self, text: str) -> None:
        if self._fd is None:
            try:
                self._stream.write(text)
                self._stream.flush()
            except OSError as exc:
                raise ResultsWriteError(None, _os_reason(exc), self.rows_written) from None
            self.rows_written += 1
            return
        # A file name that is not valid UTF-8 (lone surrogates in Python) is written
        # as a \udcXX escape, which a JSON reader turns back into the same name.
        data = text.encode("utf-8", errors="backslashreplace")
        start = os.fstat(self._fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            os.fsync(self._fd)
        except OSError as exc:
            try:
                os.ftruncate(self._fd, start)  # no torn row left behind
                os.fsync(self._fd)
            except OSError:
                pass  # --resume drops a torn last row anyway
            raise ResultsWriteError(self.path, _os_reason(exc), self.rows_written) from None
        self.rows_written += 1

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self):  # noqa: ANN204 - returns the concrete writer
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class JsonlWriter(_RowWriter):
    """Write one JSON object per line, each flushed and fsync'ed when written.

    Parameters
    ----------
    path : path-like
        The ``.jsonl`` file; parent folders are created.
    resume : bool
        Append to an existing file (after dropping a torn last line) instead of
        starting it afresh.
    """

    def write(self, result: ScanResult) -> None:
        self._write_text(json.dumps(result.to_dict(), ensure_ascii=False, allow_nan=False) + "\n")

    @staticmethod
    def done_paths(path: str | os.PathLike[str]) -> set[str]:
        """Paths of every complete row in an existing JSONL file (empty if none)."""
        return {r.path for r in read_jsonl(path)} if Path(path).is_file() else set()


def _excel_number(value: Any) -> Any:
    return str(value).replace(".", ",") if isinstance(value, float) else value


class CsvSummaryWriter(_RowWriter):
    """Stream the flat CSV summary (:data:`CSV_COLUMNS`), durable after each row.

    Parameters
    ----------
    path, resume
        As for `JsonlWriter`.
    dialect : {"plain", "excel"}
        ``excel``: ``;`` between fields, decimal commas and a UTF-8 BOM.
    """

    def __init__(self, path: str | os.PathLike[str], resume: bool = False, dialect: str = "plain") -> None:
        if dialect not in CSV_DIALECTS:
            raise ValueError(f"dialect must be one of {CSV_DIALECTS}, got {dialect!r}")
        self.dialect = dialect
        super().__init__(path, resume=resume)

    @classmethod
    def to_stream(cls, stream: TextIO, dialect: str = "plain"):  # noqa: ANN206
        writer = super().to_stream(stream)
        writer.dialect = dialect
        return writer

    def write(self, result: ScanResult) -> None:
        buffer = io.StringIO()
        excel = getattr(self, "dialect", "plain") == "excel"
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n", delimiter=";" if excel else ",")
        if self._fresh:
            if excel:
                buffer.write(_BOM)
            writer.writeheader()
        row = result.to_row()
        writer.writerow({k: _excel_number(v) for k, v in row.items()} if excel else row)
        self._write_text(buffer.getvalue())
        self._fresh = False

    @staticmethod
    def header_line(dialect: str) -> str:
        """The header row of a new summary in ``dialect`` (with the BOM for ``excel``)."""
        return (_BOM + ";".join(CSV_COLUMNS) if dialect == "excel" else ",".join(CSV_COLUMNS)) + "\n"

    @staticmethod
    def is_legacy(path: str | os.PathLike[str]) -> bool:
        """True for a summary written before the ``file_*`` columns existed."""
        path = Path(path)
        if not path.is_file():
            return False
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            first = handle.readline().rstrip("\r\n").removeprefix(_BOM)
        return first in (",".join(LEGACY_CSV_COLUMNS), ";".join(LEGACY_CSV_COLUMNS))

    @staticmethod
    def dialect_of(path: str | os.PathLike[str]) -> str | None:
        """``plain`` or ``excel`` from an existing summary's header; ``None`` if it has none."""
        path = Path(path)
        if not path.is_file():
            return None
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            first = handle.readline().rstrip("\r\n")
        excel = first.startswith(_BOM)
        header = first.removeprefix(_BOM).split(";" if excel else ",")
        if tuple(header) in (CSV_COLUMNS, LEGACY_CSV_COLUMNS):
            return "excel" if excel else "plain"
        return None

    @staticmethod
    def read_rows(path: str | os.PathLike[str]) -> list[dict[str, str]]:
        """Every complete row of an existing CSV summary, as strings by column name.

        Both dialects and the older header without the ``file_*`` columns are
        read; numbers come back with ``.`` decimals. A torn last row (crash
        mid-write) and rows with the wrong number of fields are skipped; a
        file without the expected header gives no rows.
        """
        path = Path(path)
        dialect = CsvSummaryWriter.dialect_of(path)
        if dialect is None:
            return []
        text = _complete_text(path).removeprefix(_BOM)
        rows = csv.reader(io.StringIO(text), delimiter=";" if dialect == "excel" else ",")
        header = tuple(next(rows, ()))
        found = []
        for row in rows:
            if len(row) != len(header):
                continue
            values = dict(zip(header, row))
            if dialect == "excel":
                values = {k: (_decimal_point(v) if k in _NUMERIC_COLUMNS else v) for k, v in values.items()}
            found.append(values)
        return found

    @staticmethod
    def done_paths(path: str | os.PathLike[str]) -> set[str]:
        """Paths of every complete row in an existing CSV summary (empty if none)."""
        return {row["path"] for row in CsvSummaryWriter.read_rows(path)}


_NUMERIC_COLUMNS = frozenset({"duration_s", "probability", "threshold", "triggered_at"})


def _decimal_point(value: str) -> str:
    return value.replace(",", ".")


def read_jsonl(path: str | os.PathLike[str]) -> list[ScanResult]:
    """Every complete row of a JSONL results file; a torn or malformed line is skipped."""
    results = []
    for line in _complete_text(Path(path)).splitlines():
        if not line.strip():
            continue
        try:
            results.append(ScanResult.from_dict(json.loads(line)))
        except (ValueError, TypeError, KeyError):
            continue  # a row torn by a crash; the scan that resumes writes it again
    return results


def done_paths(path: str | os.PathLike[str]) -> set[str]:
    """Paths already in a results file (``.csv`` summary or JSONL), for ``--resume``."""
    if Path(path).suffix.lower() == ".csv":
        return CsvSummaryWriter.done_paths(path)
    return JsonlWriter.done_paths(path)


def write_csv_summary(results: Iterable[ScanResult], path: str | os.PathLike[str], dialect: str = "plain") -> Path:
    """Write the flat CSV summary of ``results`` to ``path`` (overwrites)."""
    with CsvSummaryWriter(path, dialect=dialect) as writer:
        for result in results:
            writer.write(result)
    return Path(path)


# --------------------------------------------------------------------------- terminal table


class TableFormatter:
    """Fixed-width terminal table, printable one row at a time as files finish."""

    def __init__(self, name_width: int = 40) -> None:
        if name_width < 8:
            raise ValueError(f"name_width must be >= 8, got {name_width}")
        self.name_width = name_width

    def header(self) -> str:
        w = self.name_width
        head = f"{'file':<{w}}  {'verdict':<11}  {'prob':>6}  {'first hit':>9}  {'events':>6}  {'duration':>9}"
        return head + "\n" + "-" * len(head)

    def row(self, result: ScanResult) -> str:
        w = self.name_width
        name = result.path if len(result.path) <= w else "…" + result.path[-(w - 1):]
        if not result.ok:
            return f"{name:<{w}}  {'ERROR':<11}  {result.error}"
        hit = "-" if result.triggered_at is None else f"{result.triggered_at:.2f}s"
        return (
            f"{name:<{w}}  {result.verdict:<11}  {result.probability:>6.3f}  {hit:>9}  "
            f"{len(result.events):>6}  {_duration(result.duration_s):>9}"
        )

    @staticmethod
    def footer(n_files: int, n_artifact: int, n_error: int) -> str:
        """One line of counts, e.g. ``"3 file(s): 1 artifact, 1 no_artifact, 1 error"``."""
        return (
            f"{n_files} file(s): {n_artifact} artifact, "
            f"{n_files - n_artifact - n_error} no_artifact, {n_error} error"
        )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_table(results: Sequence[ScanResult], name_width: int = 40) -> str:
    """A readable table of ``results`` with a one-line count at the end."""
    table = TableFormatter(name_width)
    footer = table.footer(len(results), sum(r.flagged for r in results), sum(not r.ok for r in results))
    lines = [table.header(), *(table.row(r) for r in results), "", footer]
    return "\n".join(lines)
