"""Manifests: which recordings exist and how they are labelled.

Three sources give the same list of :class:`RecordingEntry`:

* the prototype's CSV, ``;``-separated with a header ``path;class``, class
  ``artifact`` or ``no_artifact``, paths relative to a data root (by default
  the CSV's own folder). A header-less two-column file is accepted too;
* the simulator's extended CSV: the same two first columns plus
  ``split;device;stimulus;input_level_db;sample_rate;channels;subtype;
  duration_s;artifact_types;events`` where ``events`` is a JSON list of
  ``{type, start_s, end_s, level_db, params}`` (times in seconds from the
  start of the recording). Any other columns are kept as strings;
* a folder ``ROOT/artifact/**`` and ``ROOT/no_artifact/**`` (audio files at
  any depth).

Every problem in a manifest (missing file, unknown class, malformed row, bad
events JSON, ...) is collected and raised at once in one
:class:`~audio_artifacts.errors.ManifestError`, with row numbers (the header
is row 1).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audio_artifacts.errors import ManifestError

CLASSES: tuple[str, str] = ("no_artifact", "artifact")
DELIMITER = ";"

#: Columns of the simulator's extended CSV, in order (``events`` comes last).
EXTENDED_COLUMNS: tuple[str, ...] = (
    "path",
    "class",
    "split",
    "device",
    "stimulus",
    "input_level_db",
    "sample_rate",
    "channels",
    "subtype",
    "duration_s",
    "artifact_types",
    "events",
)

#: File extensions :func:`read_folder` treats as recordings (lower case, no dot).
AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {"wav", "wave", "flac", "ogg", "oga", "opus", "mp3", "aif", "aiff", "aifc", "w64", "rf64", "caf", "au", "snd"}
)

#: Separator of the types in the ``artifact_types`` column; ``"none"`` for a clean recording.
TYPES_SEPARATOR = "+"
NO_TYPES = "none"


@dataclass(frozen=True)
class ArtifactEvent:
    """One artifact occurrence in a recording.

    Attributes
    ----------
    type : str
        Artifact kind (e.g. ``"tonal"``, ``"tick"``), as the simulator names it.
    start_s, end_s : float
        Interval in seconds from the start of the recording, ``0 <= start_s <= end_s``.
    level_db : float
        Artifact level (the simulator's definition, relative to the device's noise floor in its band).
    params : dict
        The drawn parameters (JSON-serialisable). ``params["period_s"]``, when
        present, marks a periodic train (ticks, thumps) and is used by
        :func:`audio_artifacts.data.labels.window_label`.
    """

    type: str
    start_s: float
    end_s: float
    level_db: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """``end_s - start_s`` in seconds."""
        return self.end_s - self.start_s

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written in the ``events`` column."""
        return {
            "type": self.type,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "level_db": self.level_db,
            "params": self.params,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ArtifactEvent:
        """Parse and validate one event; ValueError says what is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"an event must be a JSON object, got {type(data).__name__}")
        missing = [key for key in ("type", "start_s", "end_s", "level_db") if key not in data]
        if missing:
            raise ValueError(f"event is missing {', '.join(missing)}")
        unknown = sorted(set(data) - {"type", "start_s", "end_s", "level_db", "params"})
        if unknown:
            raise ValueError(f"event has unknown key(s) {', '.join(unknown)}")
        if not isinstance(data["type"], str) or not data["type"]:
            raise ValueError(f"event type must be a non-empty string, got {data['type']!r}")
        numbers = {}
        for key in ("start_s", "end_s", "level_db"):
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"event {key} must be a finite number, got {value!r}")
            numbers[key] = float(value)
        if numbers["start_s"] < 0 or numbers["end_s"] < numbers["start_s"]:
            raise ValueError(f"event interval must satisfy 0 <= start_s <= end_s, got {numbers['start_s']}..{numbers['end_s']}")
        params = data.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ValueError(f"event params must be a JSON object, got {type(params).__name__}")
        period = params.get("period_s")
        if period is not None and (isinstance(period, bool) or not isinstance(period, (int, float)) or not period > 0):
            raise ValueError(f"event params.period_s must be a positive number of seconds, got {period!r}")
        return cls(data["type"], numbers["start_s"], numbers["end_s"], numbers["level_db"], dict(params))


@dataclass(frozen=True)
class RecordingEntry:
    """One labelled recording.

    Attributes
    ----------
    path : Path
        Absolute path of the recording.
    label : int
        1 = artifact, 0 = no_artifact.
    events : tuple of ArtifactEvent or None
        Interval labels; None when the manifest has none for this recording
        (then every window takes ``label``); an empty tuple means "known to
        be clean".
    columns : dict
        Every other manifest column, as strings.
    """

    path: Path
    label: int
    events: tuple[ArtifactEvent, ...] | None
    columns: dict[str, str] = field(default_factory=dict)

    @property
    def class_name(self) -> str:
        """``"artifact"`` or ``"no_artifact"``."""
        return CLASSES[self.label]


def parse_events(text: str) -> tuple[ArtifactEvent, ...] | None:
    """Parse an ``events`` cell: empty -> None, else a JSON list of events.

    Raises
    ------
    ValueError
        Invalid JSON, not a list, or an invalid event (the message says which).
    """
    text = text.strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"events is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if data is None:
        return None
    if not isinstance(data, list):
        raise ValueError(f"events must be a JSON list, got {type(data).__name__}")
    events = []
    for number, item in enumerate(data):
        try:
            events.append(ArtifactEvent.from_dict(item))
        except ValueError as exc:
            raise ValueError(f"events[{number}]: {exc}") from None
    return tuple(sorted(events, key=lambda e: (e.start_s, e.end_s, e.type)))


def _resolve(raw: str, root: Path) -> Path:
    candidate = Path(raw).expanduser()
    if not candidate.is_absolute():
        candidate = root / candidate
    return Path(os.path.normpath(candidate.absolute()))


def _read_text(path: Path) -> str:
    if not path.exists():
        raise ManifestError(path, ["manifest file does not exist"])
    if path.is_dir():
        raise ManifestError(path, ["is a folder; use read_folder / load_entries for ROOT/artifact, ROOT/no_artifact"])
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(path, [f"not UTF-8 text (byte {exc.start}): is this really a CSV manifest?"]) from None
    except OSError as exc:
        raise ManifestError(path, [f"cannot be read: {exc.strerror or exc}"]) from None


def read_manifest(
    path: str | os.PathLike[str],
    data_root: str | os.PathLike[str] | None = None,
    *,
    check_files: bool = True,
) -> list[RecordingEntry]:
    """Read a prototype ``path;class`` CSV or the simulator's extended CSV.

    Parameters
    ----------
    path : str or path-like
        The CSV (``;``-separated, UTF-8, header row first).
    data_root : str or path-like, optional
        Base of relative paths; default the CSV's folder.
    check_files : bool
        Also report listed files that do not exist or are not files.

    Returns
    -------
    list of RecordingEntry
        In file order.

    Raises
    ------
    ManifestError
        Listing every problem found (row numbers count the header as row 1).
    """
    path = Path(path)
    root = Path(data_root) if data_root is not None else path.parent
    rows = list(csv.reader(io.StringIO(_read_text(path)), delimiter=DELIMITER))
    rows_numbered = [(number, row) for number, row in enumerate(rows, start=1) if any(cell.strip() for cell in row)]
    if not rows_numbered:
        raise ManifestError(path, ["empty manifest (no header, no rows)"])

    header = [cell.strip() for cell in rows_numbered[0][1]]
    problems: list[str] = []
    if "path" in header and "class" in header:
        data_rows = rows_numbered[1:]
    elif len(header) == 2 and header[1] in CLASSES:
        header = ["path", "class"]  # header-less prototype file
        data_rows = rows_numbered
    else:
        hint = " (is it ';'-separated?)" if len(header) == 1 else ""
        raise ManifestError(path, [f"row 1: header must contain 'path' and 'class', found {header!r}{hint}"])
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        problems.append(f"row 1: duplicate column name(s) {', '.join(duplicates)}")
    if any(not name for name in header):
        problems.append("row 1: empty column name")
    if problems:
        raise ManifestError(path, problems)
    if not data_rows:
        raise ManifestError(path, ["no recordings listed (only a header)"])

    entries: list[RecordingEntry] = []
    for number, row in data_rows:
        where = f"row {number}"
        if len(row) != len(header):
            problems.append(f"{where}: expected {len(header)} fields ({DELIMITER!r}-separated), found {len(row)}")
            continue
        cells = dict(zip(header, row))
        raw_path, class_name = cells["path"].strip(), cells["class"].strip()
        row_problems = []
        if not raw_path:
            row_problems.append(f"{where}: empty path")
        if class_name not in CLASSES:
            row_problems.append(f"{where}: unknown class {class_name!r} (expected 'artifact' or 'no_artifact')")
        events = None
        if "events" in cells:
            try:
                events = parse_events(cells["events"])
            except ValueError as exc:
                row_problems.append(f"{where}: {exc}")
        resolved = _resolve(raw_path, root) if raw_path else None
        if check_files and resolved is not None:
            if not resolved.exists():
                row_problems.append(f"{where}: file not found: {resolved}")
            elif not resolved.is_file():
                row_problems.append(f"{where}: not a file: {resolved}")
        if not row_problems and events is not None:
            label = CLASSES.index(class_name)
            if label == 0 and events:
                row_problems.append(f"{where}: class 'no_artifact' but {len(events)} artifact event(s) listed")
            if label == 1 and not events:
                row_problems.append(f"{where}: class 'artifact' but the events list is empty")
        if row_problems:
            problems.extend(row_problems)
            continue
        columns = {name: value for name, value in cells.items() if name not in ("path", "class", "events")}
        entries.append(RecordingEntry(resolved, CLASSES.index(class_name), events, columns))
    if problems:
        raise ManifestError(path, problems)
    return entries


def read_folder(root: str | os.PathLike[str]) -> list[RecordingEntry]:
    """Recordings under ``ROOT/artifact/**`` (label 1) and ``ROOT/no_artifact/**`` (label 0).

    Files with an extension in :data:`AUDIO_EXTENSIONS` are taken, at any
    depth, sorted by path. ``columns`` holds ``folder``, the file's folder
    relative to the class folder ("" at its top).

    Raises
    ------
    ManifestError
        ROOT missing or not a folder, neither class folder present, another
        folder next to them (an unknown class, e.g. a misspelling), or no
        recordings at all.
    """
    root = Path(root)
    if not root.is_dir():
        raise ManifestError(root, ["folder does not exist" if not root.exists() else "is not a folder"])
    problems = []
    class_dirs = {name: root / name for name in CLASSES if (root / name).is_dir()}
    if not class_dirs:
        problems.append("needs a sub-folder 'artifact' and/or 'no_artifact' holding the recordings")
    for child in sorted(root.iterdir()):
        if child.is_dir() and child.name not in CLASSES and not child.name.startswith("."):
            problems.append(f"unknown class folder {child.name!r} (expected 'artifact' or 'no_artifact')")
    entries = []
    for name, folder in class_dirs.items():
        for file in sorted(folder.rglob("*")):
            if file.is_file() and file.suffix.lower().lstrip(".") in AUDIO_EXTENSIONS:
                relative = file.parent.relative_to(folder).as_posix()
                columns = {"folder": "" if relative == "." else relative}
                entries.append(RecordingEntry(Path(os.path.normpath(file.absolute())), CLASSES.index(name), None, columns))
    if class_dirs and not entries:
        problems.append(f"no audio files ({', '.join(sorted(AUDIO_EXTENSIONS))}) under {', '.join(CLASSES)}")
    if problems:
        raise ManifestError(root, problems)
    return sorted(entries, key=lambda e: str(e.path))


def load_entries(
    source: str | os.PathLike[str], data_root: str | os.PathLike[str] | None = None
) -> list[RecordingEntry]:
    """A manifest CSV (:func:`read_manifest`) or a class-folder tree (:func:`read_folder`)."""
    source = Path(source)
    if source.is_dir():
        if data_root is not None:
            raise ValueError(f"data_root is only for CSV manifests; {source} is a folder")
        return read_folder(source)
    return read_manifest(source, data_root)


def artifact_types_of(events: Sequence[ArtifactEvent] | None) -> str:
    """The ``artifact_types`` cell for a list of events: sorted types joined by ``+``, or ``none``."""
    types = sorted({event.type for event in events or ()})
    return TYPES_SEPARATOR.join(types) if types else NO_TYPES


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(os.path.relpath(path, root)).as_posix() if path.is_absolute() else path.as_posix()
    except ValueError:  # another drive (Windows)
        return path.as_posix()


def write_manifest(
    path: str | os.PathLike[str], entries: Iterable[RecordingEntry], data_root: str | os.PathLike[str]
) -> Path:
    """Write the simulator's extended CSV.

    :func:`read_manifest` reads back the same paths, labels and events; the
    columns come back with every extended column present (empty where the
    entry had none) and ``artifact_types`` filled in.

    Parameters
    ----------
    path : str or path-like
        Destination CSV (written to a temporary file, then renamed).
    entries : iterable of RecordingEntry
        Recordings; ``columns`` fill the extended columns (missing ones stay
        empty, ``artifact_types`` is derived from the events when absent) and
        any further columns are appended before ``events``.
    data_root : str or path-like
        Paths are written relative to it (``..`` where outside it).

    Returns
    -------
    Path
        The written CSV.
    """
    path = Path(path)
    root = Path(os.path.normpath(Path(data_root).absolute()))
    entries = list(entries)
    extra: list[str] = []
    for entry in entries:
        for name in entry.columns:
            if name not in EXTENDED_COLUMNS and name not in extra:
                extra.append(name)
    header = list(EXTENDED_COLUMNS[:-1]) + extra + ["events"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=DELIMITER, lineterminator="\n")
    writer.writerow(header)
    for entry in entries:
        if entry.label not in (0, 1):
            raise ValueError(f"{entry.path}: label must be 0 or 1, got {entry.label!r}")
        cells = {name: str(value) for name, value in entry.columns.items()}
        cells["path"] = _relative(Path(entry.path), root)
        cells["class"] = CLASSES[entry.label]
        if not cells.get("artifact_types") and entry.events is not None:
            cells["artifact_types"] = artifact_types_of(entry.events)
        cells["events"] = (
            "" if entry.events is None else json.dumps([e.to_dict() for e in entry.events], separators=(",", ":"))
        )
        writer.writerow([cells.get(name, "") for name in header])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(partial, path)
    return path
