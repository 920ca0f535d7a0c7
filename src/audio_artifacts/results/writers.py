"""The files results are written to: JSONL, the flat CSV summary, atomic replacement.

Results are written as they are made: every row of a :class:`JsonlWriter` or
:class:`CsvSummaryWriter` is flushed and fsync'ed before the next file is
scanned, so a crash or a kill loses nothing already written, and ``--resume``
(:func:`done_paths`) skips what is already there.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from audio_artifacts.errors import AudioArtifactsError
from audio_artifacts.results.schema import CSV_COLUMNS, CSV_DIALECTS, OLDER_CSV_HEADERS, ScanResult

_BOM = "\ufeff"

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
        """True for a summary written with an older header (before the ``file_*`` or ``stimulus*`` columns)."""
        return CsvSummaryWriter.missing_columns(path) > 0

    @staticmethod
    def missing_columns(path: str | os.PathLike[str]) -> int:
        """How many of :data:`CSV_COLUMNS` (at the end) an existing summary's older header lacks; 0 otherwise."""
        path = Path(path)
        if not path.is_file():
            return 0
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            first = handle.readline().rstrip("\r\n").removeprefix(_BOM)
        for older in OLDER_CSV_HEADERS:
            if first in (",".join(older), ";".join(older)):
                return len(CSV_COLUMNS) - len(older)
        return 0

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
        if tuple(header) == CSV_COLUMNS or tuple(header) in OLDER_CSV_HEADERS:
            return "excel" if excel else "plain"
        return None

    @staticmethod
    def read_rows(path: str | os.PathLike[str]) -> list[dict[str, str]]:
        """Every complete row of an existing CSV summary, as strings by column name.

        Both dialects and the older headers (:data:`OLDER_CSV_HEADERS`) are
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

