"""Receive multipart uploads into a request's own temporary folder, with limits.

The request body is parsed as it streams in and file parts are written to
disk chunk by chunk, so a size limit is enforced on the bytes actually
received (a ``Content-Length`` header is only a first, cheap check) and an
upload never sits in memory. File names sent by clients are only ever shown
back (sanitised); the files on disk get names chosen here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from audio_artifacts.errors import AudioArtifactsError

_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,10}$")
_MAX_NAME_CHARS = 200
# Multipart framing per part (boundary, headers) on top of the file bytes.
_PART_OVERHEAD_BYTES = 16 * 1024
# After refusing an upload as too large, read (and drop) at most this much of
# the rest of the body, so that clients which do not wait for an early answer
# still receive the 413 instead of a connection reset.
_DRAIN_BYTES = 64 * 1024 * 1024


class UploadError(AudioArtifactsError):
    """A request's upload is refused; ``status_code`` is the HTTP answer."""

    def __init__(self, status_code: int, message: str) -> None:
        self.status_code = status_code
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class UploadLimits:
    """Limits of one multipart request.

    Parameters
    ----------
    max_file_bytes
        Largest file part, in bytes.
    max_files
        Most file parts.
    max_field_bytes
        Largest plain (non-file) field value, in bytes.
    max_fields
        Most plain fields.
    """

    max_file_bytes: int
    max_files: int
    max_field_bytes: int = 1024
    max_fields: int = 8

    def __post_init__(self) -> None:
        if self.max_file_bytes < 1 or self.max_files < 1:
            raise ValueError("max_file_bytes and max_files must be at least 1")

    @property
    def max_body_bytes(self) -> int:
        """Largest body that can possibly be valid (for the Content-Length check)."""
        return (
            self.max_files * (self.max_file_bytes + _PART_OVERHEAD_BYTES)
            + self.max_fields * (self.max_field_bytes + _PART_OVERHEAD_BYTES)
        )


@dataclass(frozen=True)
class ReceivedFile:
    """One uploaded file, stored at ``path`` (a name we chose)."""

    field: str
    filename: str  # sanitised client file name, for display only
    path: Path
    size: int  # bytes


@dataclass
class ReceivedForm:
    """Everything a multipart request carried, in arrival order."""

    files: list[ReceivedFile] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)


def sanitise_filename(raw: str | None, fallback: str = "upload") -> str:
    """A client's file name reduced to a harmless display name.

    Folders (``/`` or ``\\``) and non-printable characters are dropped and the
    length is capped; the result is never used to build a path.
    """
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    if name in ("", ".", ".."):
        return fallback
    if len(name) > _MAX_NAME_CHARS:
        suffix = Path(name).suffix if _SAFE_SUFFIX.match(Path(name).suffix) else ""
        name = name[: _MAX_NAME_CHARS - len(suffix)] + suffix
    return name


def _disk_suffix(display_name: str) -> str:
    """Keep a plain extension (``.wav``) so format sniffing still sees it."""
    suffix = Path(display_name).suffix
    return suffix.lower() if _SAFE_SUFFIX.match(suffix) else ""


class _FormWriter:
    """python-multipart callbacks that write file parts to ``directory``."""

    def __init__(self, directory: Path, file_fields: Collection[str], limits: UploadLimits) -> None:
        self.directory = directory
        self.file_fields = file_fields
        self.limits = limits
        self.form = ReceivedForm()
        self.finished = False
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._field_name = ""
        self._filename: str | None = None
        self._path: Path | None = None
        self._handle: BinaryIO | None = None
        self._size = 0
        self._value = bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self._disposition = b""
        self._field_name = ""
        self._filename = None
        self._path = None
        self._size = 0
        self._value = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = b""
        self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise UploadError(400, "a multipart part has no field name (Content-Disposition name=...)")
        self._field_name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            if self._field_name not in self.file_fields:
                expected = " or ".join(repr(f) for f in self.file_fields)
                raise UploadError(
                    422, f"unexpected file field {self._field_name!r}: send recordings in {expected}"
                )
            if len(self.form.files) >= self.limits.max_files:
                raise UploadError(413, f"too many files: at most {self.limits.max_files} per request")
            self._filename = sanitise_filename(options[b"filename"].decode("utf-8", "replace"))
            index = len(self.form.files)
            self._path = self.directory / f"upload-{index:04d}{_disk_suffix(self._filename)}"
            self._handle = open(self._path, "xb")  # noqa: SIM115 - closed in on_part_end / close()
        elif len(self.form.fields) >= self.limits.max_fields:
            raise UploadError(413, f"too many form fields: at most {self.limits.max_fields}")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._size += end - start
        if self._handle is not None:
            if self._size > self.limits.max_file_bytes:
                raise UploadError(
                    413,
                    f"upload {self._filename!r} is larger than the limit of "
                    f"{self.limits.max_file_bytes / 2**20:g} MiB",
                )
            self._handle.write(data[start:end])
        else:
            if self._size > self.limits.max_field_bytes:
                raise UploadError(413, f"form field {self._field_name!r} is too long")
            self._value += data[start:end]

    def on_part_end(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            assert self._path is not None and self._filename is not None
            self.form.files.append(ReceivedFile(self._field_name, self._filename, self._path, self._size))
        else:
            self.form.fields[self._field_name] = self._value.decode("utf-8", "replace")

    def on_end(self) -> None:
        self.finished = True

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


async def receive_form(
    content_type: str | None,
    content_length: str | None,
    body: AsyncIterator[bytes],
    directory: Path,
    file_fields: Collection[str],
    limits: UploadLimits,
) -> ReceivedForm:
    """Parse a ``multipart/form-data`` body, writing its files into ``directory``.

    Parameters
    ----------
    content_type, content_length
        The request's headers (``None`` when absent).
    body
        The request body as it arrives.
    directory
        An empty folder owned by this request; the caller deletes it.
    file_fields
        Field names that may carry files.
    limits
        Size and count limits.

    Raises
    ------
    UploadError
        415 not multipart, 413 too large / too many, 400 malformed,
        422 a file in an unexpected field.
    """
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in options:
        raise UploadError(415, "send the recording as multipart/form-data (e.g. curl -F file=@rec.wav)")
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise UploadError(400, "Content-Length is not a number") from None
        if declared > limits.max_body_bytes:
            if declared <= _DRAIN_BYTES:
                await _drain(body, _DRAIN_BYTES)
            raise UploadError(413, f"request of {declared} bytes is larger than the upload limit")

    writer = _FormWriter(directory, file_fields, limits)
    parser = MultipartParser(options[b"boundary"], writer.callbacks())
    received = 0
    try:
        async for chunk in body:
            received += len(chunk)
            parser.write(chunk)  # first, so a too-large file is named in the answer
            if received > limits.max_body_bytes:
                raise UploadError(413, "request body is larger than the upload limit")
        parser.finalize()
    except MultipartParseError as exc:
        raise UploadError(400, f"malformed multipart body: {exc}") from None
    except UploadError as exc:
        if exc.status_code == 413:
            await _drain(body, _DRAIN_BYTES)
        raise
    finally:
        writer.close()
    if not writer.finished:
        raise UploadError(400, "the multipart body ended early (upload interrupted?)")
    return writer.form


async def _drain(body: AsyncIterator[bytes], limit: int) -> None:
    """Read and drop up to ``limit`` more bytes of ``body``."""
    dropped = 0
    async for chunk in body:
        dropped += len(chunk)
        if dropped > limit:
            break
