"""The one result schema: :class:`ScanResult`, its windows (:class:`Span`), events (:class:`Event`) and the CSV row.

``scan``, ``serve`` and ``evaluate`` all describe a scanned recording with a
:class:`ScanResult`. The files it is written to are in :mod:`audio_artifacts.results.writers`.

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

import hashlib
import math
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


STATUSES = ("ok", "error")
VERDICTS = ("artifact", "no_artifact")

#: Columns of the flat CSV summary before file identities were recorded (still read).
LEGACY_CSV_COLUMNS = (
    "path", "status", "error", "duration_s", "sample_rate", "channels",
    "probability", "verdict", "threshold", "triggered_at", "n_events",
    "model_name", "model_version",
)
#: Columns of the flat CSV summary before the stimulus columns (still read and resumed).
IDENTITY_CSV_COLUMNS = (*LEGACY_CSV_COLUMNS, "file_size", "file_mtime_ns", "file_sha256", "file_hashed_bytes")
#: The stimulus-aware scan's columns (empty for a scan without a stimulus).
STIMULUS_CSV_COLUMNS = ("stimulus", "stimulus_offset_s", "stimulus_explained", "stimulus_thd_percent",
                        "stimulus_warning")
#: Columns of the flat CSV summary before events were described (still read and resumed).
STIMULUS_CSV_HEADER = (*IDENTITY_CSV_COLUMNS, *STIMULUS_CSV_COLUMNS)
#: What every event says, in the CSV: ``event_types`` the kinds found (``+``-joined,
#: in event order), ``events`` each event's times, type, lines, period and level
#: (:meth:`Event.summary`, `` | ``-separated).
EVENT_CSV_COLUMNS = ("event_types", "events")
#: Columns of the flat CSV summary, in order.
CSV_COLUMNS = (*STIMULUS_CSV_HEADER, *EVENT_CSV_COLUMNS)
#: Every older header, oldest first: each is a prefix of CSV_COLUMNS.
OLDER_CSV_HEADERS = (LEGACY_CSV_COLUMNS, IDENTITY_CSV_COLUMNS, STIMULUS_CSV_HEADER)
#: CSV dialects: ``plain`` (``,``, ``.`` decimals, no BOM) and ``excel`` (``;``,
#: ``,`` decimals and a UTF-8 BOM: what Excel in a German or most European
#: locales opens as a table when the file is double-clicked).
CSV_DIALECTS = ("plain", "excel")
#: Bytes of a file's head hashed for its identity (the whole file when smaller).
IDENTITY_HEAD_BYTES = 1024 * 1024


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


#: The kinds of artifact an event can be (the simulator's taxonomy).
EVENT_TYPES = ("tonal", "tdma_buzz", "packet_buzz", "periodic_ticks", "thumps", "noise_am", "clicks")
#: At most this many line frequencies are reported per event.
MAX_EVENT_FREQUENCIES = 12


@dataclass(frozen=True)
class Event(Span):
    """A flagged interval of a recording and what was found in it.

    The description fields are optional: a result made without them (an older
    file, a model directory that measures nothing) reads back with ``None`` /
    empty values.

    Parameters
    ----------
    start, end, probability
        As :class:`Span`; ``probability`` is the highest window probability.
    type : str or None
        The most likely kind, one of :data:`EVENT_TYPES`.
    type_probabilities : tuple of (name, probability)
        Every kind's probability (several kinds may sound at once), in
        :data:`EVENT_TYPES` order; ``to_dict`` writes a ``name -> p`` mapping.
    frequencies_hz : tuple of float
        Prominent line frequencies, ascending (a buzz comb's fundamental
        first), at most :data:`MAX_EVENT_FREQUENCIES`; empty when none.
    period_s : float or None
        Repetition period (ticks, thumps, bursts, floor modulation; for a buzz
        1 / its fundamental); ``None`` when not periodic.
    level_db : float or None
        How far the artifact stands over the device's floor in its band (dB).
    band_hz : (low, high) or None
        The band the artifact occupies (Hz).
    """

    type: str | None = None
    type_probabilities: tuple[tuple[str, float], ...] = ()
    frequencies_hz: tuple[float, ...] = ()
    period_s: float | None = None
    level_db: float | None = None
    band_hz: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.type is not None and self.type not in EVENT_TYPES:
            raise ValueError(f"event type must be one of {EVENT_TYPES}, got {self.type!r}")
        probabilities = self.type_probabilities
        if isinstance(probabilities, Mapping):
            probabilities = probabilities.items()
        pairs = tuple((str(name), float(p)) for name, p in probabilities)
        for name, p in pairs:
            if name not in EVENT_TYPES:
                raise ValueError(f"type_probabilities: unknown type {name!r}; known: {EVENT_TYPES}")
            _check_probability(f"type probability of {name}", p)
        order = {name: i for i, name in enumerate(EVENT_TYPES)}
        object.__setattr__(self, "type_probabilities", tuple(sorted(pairs, key=lambda kv: order[kv[0]])))
        frequencies = tuple(float(f) for f in self.frequencies_hz)
        if len(frequencies) > MAX_EVENT_FREQUENCIES or not all(math.isfinite(f) and f > 0 for f in frequencies):
            raise ValueError(f"frequencies_hz: at most {MAX_EVENT_FREQUENCIES} positive frequencies, got {frequencies}")
        object.__setattr__(self, "frequencies_hz", frequencies)
        for name in ("period_s", "level_db"):
            value = getattr(self, name)
            if value is not None:
                value = float(value)
                if not math.isfinite(value) or (name == "period_s" and value <= 0):
                    raise ValueError(f"{name} must be a finite{' positive' if name == 'period_s' else ''} number, got {value}")
                object.__setattr__(self, name, value)
        if self.band_hz is not None:
            low, high = (float(f) for f in self.band_hz)
            if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
                raise ValueError(f"band_hz must be [low, high] with 0 <= low <= high, got {self.band_hz}")
            object.__setattr__(self, "band_hz", (low, high))

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "type": self.type,
            "type_probabilities": dict(self.type_probabilities),
            "frequencies_hz": list(self.frequencies_hz),
            "period_s": self.period_s,
            "level_db": self.level_db,
            "band_hz": None if self.band_hz is None else list(self.band_hz),
        }

    def summary(self) -> str:
        """One line for tables and the CSV, e.g. ``"4.05-7.04 s tonal 1000 Hz 38 dB"``.

        Times, then (when measured) the type, up to three line frequencies
        (``+N`` more), the period and the level.
        """
        parts = [f"{self.start:.2f}-{self.end:.2f} s"]
        if self.type is not None:
            parts.append(self.type)
        if self.frequencies_hz:
            shown = ",".join(f"{f:.0f}" for f in self.frequencies_hz[:3])
            more = len(self.frequencies_hz) - 3
            parts.append(f"{shown}{f' +{more}' if more > 0 else ''} Hz")
        if self.period_s is not None:
            parts.append(f"T={self.period_s * 1000:.1f} ms" if self.period_s < 0.1 else f"T={self.period_s:.3f} s")
        if self.level_db is not None:
            parts.append(f"{self.level_db:.0f} dB")
        return " ".join(parts)

    @classmethod
    def coerce(cls, value: Span | Mapping[str, Any]) -> Event:
        """An :class:`Event` from itself, a plain :class:`Span` or a mapping (description keys optional)."""
        if isinstance(value, Event):
            return value
        if isinstance(value, Span):
            return cls(value.start, value.end, value.probability)
        try:
            return cls(
                value["start"], value["end"], value["probability"],
                type=value.get("type"),
                type_probabilities=value.get("type_probabilities") or (),
                frequencies_hz=value.get("frequencies_hz") or (),
                period_s=value.get("period_s"),
                level_db=value.get("level_db"),
                band_hz=value.get("band_hz"),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"expected an event {{start, end, probability, ...}}, got {value!r}") from exc


@dataclass(frozen=True)
class ModelRef:
    """Which model made a result: its name and version (from ``model.json``) and the
    inference backend that ran it (``torch`` / ``onnx``; None in rows written before
    it was recorded)."""

    name: str
    version: str
    backend: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "backend": self.backend}

    @classmethod
    def coerce(cls, value: ModelRef | Mapping[str, Any]) -> ModelRef:
        """A :class:`ModelRef` from itself, a ``{name, version[, backend]}`` mapping or a ``ModelInfo``."""
        if isinstance(value, ModelRef):
            return value
        if isinstance(value, Mapping):
            backend = value.get("backend")
            return cls(str(value.get("name", "")), str(value.get("version", "")),
                       None if backend is None else str(backend))
        if hasattr(value, "name") and hasattr(value, "version"):  # models.model_dir.ModelInfo
            return cls(str(value.name), str(value.version))
        raise ValueError(f"expected a model {{name, version}}, got {value!r}")


@dataclass(frozen=True)
class StimulusRef:
    """The stimulus a recording was judged against (stimulus-aware scan), and what it explained.

    Windows, events and pictures of such a result describe the *residual*:
    the recording without the part the stimulus explains
    (`inference.stimulus.explain_recording`).

    Attributes
    ----------
    file : str
        The stimulus file as the user named it (or the upload's file name).
    offset_s : float
        Time in the stimulus file at which the recording starts (the alignment found).
    alignment_snr_db : float or None
        Cross-correlation peak over the spread of the other lags, dB.
    explained : float or None
        Fraction of the recording's power in the stimulus's active frames that it explains.
    thd_percent : float or None
        Total harmonic distortion of the recording at a tone stimulus (as an analyzer reports it).
    lines_hz : tuple of float
        The stimulus's dominant spectral lines (their harmonics are input-driven).
    silent : bool
        The stimulus is silent (a quiet measurement): the residual is the recording.
    warning : str or None
        Why the stimulus was not used (then the recording itself was judged).
    """

    file: str
    offset_s: float
    alignment_snr_db: float | None = None
    explained: float | None = None
    thd_percent: float | None = None
    lines_hz: tuple[float, ...] = ()
    silent: bool = False
    warning: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "file", str(self.file))
        object.__setattr__(self, "offset_s", float(self.offset_s))
        object.__setattr__(self, "lines_hz", tuple(float(f) for f in self.lines_hz or ()))
        for name in ("alignment_snr_db", "explained", "thd_percent"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "offset_s": self.offset_s, "alignment_snr_db": self.alignment_snr_db,
                "explained": self.explained, "thd_percent": self.thd_percent, "lines_hz": list(self.lines_hz),
                "silent": self.silent, "warning": self.warning}

    @classmethod
    def coerce(cls, value: StimulusRef | Mapping[str, Any] | None) -> StimulusRef | None:
        """A :class:`StimulusRef` from itself or its ``to_dict`` mapping; None stays None."""
        if value is None or isinstance(value, StimulusRef):
            return value
        try:
            return cls(value["file"], value["offset_s"], value.get("alignment_snr_db"), value.get("explained"),
                       value.get("thd_percent"), tuple(value.get("lines_hz") or ()), bool(value.get("silent")),
                       value.get("warning"))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"expected a stimulus {{file, offset_s, ...}}, got {value!r}") from exc


def _check_probability(what: str, value: float) -> None:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{what} must be a finite number in [0, 1], got {value!r}")


def merge_events(windows: Sequence[Span], threshold: float) -> tuple[Event, ...]:
    """Merge runs of consecutive windows with ``probability >= threshold``.

    Parameters
    ----------
    windows : sequence of Span
        Windows in time order (as the detector makes them).
    threshold : float
        Decision threshold in [0, 1].

    Returns
    -------
    tuple of Event
        One event per run: from the first window's start to the furthest end
        in the run, with the run's highest probability (no description yet).
    """
    events: list[Event] = []
    run: list[Span] = []
    for window in [*windows, None]:
        if window is not None and window.probability >= threshold:
            run.append(window)
            continue
        if run:
            events.append(Event(run[0].start, max(w.end for w in run), max(w.probability for w in run)))
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
    windows : tuple of Span
        Every window scanned.
    events : tuple of Event
        The merged runs of flagged windows, with what was found in each.
    model : ModelRef
    identity : FileIdentity or None
        Size, modification time and head hash of the file scanned (``None``
        when unknown, e.g. the file does not exist).
    stimulus : StimulusRef or None
        With a stimulus-aware scan: the stimulus and the alignment found;
        ``windows`` and ``events`` then describe the residual.
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
    events: tuple[Event, ...] = field(default_factory=tuple)
    model: ModelRef = field(default_factory=lambda: ModelRef("", ""))
    identity: FileIdentity | None = None
    stimulus: StimulusRef | None = None

    def __post_init__(self) -> None:
        # Accept plain lists / dicts from callers and JSON; store immutable values.
        object.__setattr__(self, "path", str(self.path))
        object.__setattr__(self, "windows", tuple(Span.coerce(w) for w in self.windows))
        object.__setattr__(self, "events", tuple(Event.coerce(e) for e in self.events))
        object.__setattr__(self, "model", ModelRef.coerce(self.model))
        object.__setattr__(self, "identity", FileIdentity.coerce(self.identity))
        object.__setattr__(self, "stimulus", StimulusRef.coerce(self.stimulus))
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
        stimulus: StimulusRef | Mapping[str, Any] | None = None,
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
        stimulus : StimulusRef, optional
            The stimulus the windows were judged against (they describe the residual).
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
            stimulus=stimulus,
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
            "stimulus": None if self.stimulus is None else self.stimulus.to_dict(),
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
            stimulus=data.get("stimulus"),
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
            **self._stimulus_cells(),
            "event_types": "+".join(dict.fromkeys(e.type for e in self.events if e.type is not None)),
            "events": " | ".join(e.summary() for e in self.events),
        }

    def _stimulus_cells(self) -> dict[str, Any]:
        """The :data:`STIMULUS_CSV_COLUMNS` cells (empty without a stimulus)."""
        ref = self.stimulus
        if ref is None:
            return dict.fromkeys(STIMULUS_CSV_COLUMNS, "")
        return {"stimulus": ref.file, "stimulus_offset_s": ref.offset_s, "stimulus_explained": _blank(ref.explained),
                "stimulus_thd_percent": _blank(ref.thd_percent),
                "stimulus_warning": " | ".join(ref.warning.splitlines()) if ref.warning else ""}


def _blank(value: Any) -> Any:
    return "" if value is None else value

