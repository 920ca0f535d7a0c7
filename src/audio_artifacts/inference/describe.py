"""Say what was found in each event: type, line frequencies, period, level, band and precise times.

The detector flags 5 s windows; :class:`EventDescriber` re-reads each flagged
span of the recording at its own rate (at most 48 kHz, so a 12 kHz whine of
a 48 kHz file is kept), plus a margin on both sides, measures it
(:mod:`audio_artifacts.explain.measure`) and fills the :class:`Event` fields.
A long span is measured at its two edges (:data:`EDGE_S`): its start and
fields from the first, its end from the last, its type from both.

The type comes from the model directory's type head (``type_head.json``,
:mod:`audio_artifacts.explain.type_head`). When the detector can say what it
saw (:class:`DetectorView`: a model with ``embedding()``, run in torch) and
the directory has ``type_head_detector.json``, the type comes from that head
instead, which also reads the detector's embedding of the event's windows
(max and mean over them) and its highest window probability. A directory without one still
gets frequencies, period, level, band and times by measurement; ``type`` is
then ``None`` and ``type_probabilities`` empty (the fields to report are
chosen by simple rules on the measurements, never named as a type).

Describing runs only for recordings with events, so scanning clean
recordings costs nothing more.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from audio_artifacts.results.schema import EVENT_TYPES, MAX_EVENT_FREQUENCIES, Event

log = logging.getLogger(__name__)

#: Seconds read before and after a flagged span: onsets a little outside the windows are found.
MARGIN_S = 1.5
#: Events longer than this (margins included) are measured in their first and last ``EDGE_S``
#: seconds only: the cost of an event is bounded (2 x 13 s of audio), not its length. On two
#: simulated sets (2026-12-08) describing took 35-40 % less time than with edges only past 120 s,
#: with as many types right (229 against 231 of 290 events) and more lines found.
LONG_EVENT_S = 26.0
EDGE_S = 10.0
#: The measuring rate is the recording's own, capped here (Hz). Capping at the detector's 32 kHz
#: was tried: 26 % faster, but type accuracy 0.809 -> 0.791 and periods 0.692 -> 0.647 (foreign split).
MAX_RATE = 48000


@dataclass(frozen=True)
class Description:
    """What the measurement says about one event (before it becomes an :class:`Event`)."""

    start: float
    end: float
    type: str | None
    type_probabilities: tuple[tuple[str, float], ...]
    frequencies_hz: tuple[float, ...]
    period_s: float | None
    level_db: float | None
    band_hz: tuple[float, float] | None


def detector_feature_names(size: int) -> tuple[str, ...]:
    """Names of what :meth:`DetectorView.features` adds to the measured features, for an embedding ``size`` wide."""
    return (*(f"detector_max{i}" for i in range(size)), *(f"detector_mean{i}" for i in range(size)),
            "detector_probability")


@dataclass(frozen=True)
class DetectorView:
    """The detector's own view of an event: its embedding of the windows of the event's span.

    ``embed(batch (B, W), lengths (B,)) -> (embeddings (B, size), logits (B,))``
    (``TorchBackend.embedding``); windows as the scan makes them.
    """

    embed: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    size: int
    sample_rate: int
    window_s: float = 5.0
    overlap: float = 0.25

    def features(self, audio) -> np.ndarray:
        """Max and mean of the embeddings of the windows of ``audio``'s span, then the highest probability.

        ``audio`` is the :class:`~audio_artifacts.explain.measure.EventAudio`
        the describer measures (:func:`read_span`): the span is cut from it and
        brought to the detector's rate, so the file is read once per event.
        """
        import soxr

        from audio_artifacts.windows import WindowSpec, windows_of

        first = max(0, int(round((audio.span_s[0] - audio.offset_s) * audio.rate)))
        last = max(first, int(round((audio.span_s[1] - audio.offset_s) * audio.rate)))
        samples = np.asarray(audio.samples[first:last], dtype=np.float32)
        if audio.rate != self.sample_rate and samples.size:
            samples = soxr.resample(samples, audio.rate, self.sample_rate, quality="HQ").astype(np.float32)
        if samples.size == 0:
            samples = np.zeros(1, dtype=np.float32)
        windows = windows_of(samples, WindowSpec(self.window_s, self.overlap), self.sample_rate)
        embeddings, logits = self.embed(np.stack([w.samples for w in windows]),
                                        np.array([w.valid for w in windows], dtype=np.int64))
        probability = 1.0 / (1.0 + np.exp(-float(np.max(logits))))
        return np.concatenate([embeddings.max(axis=0), embeddings.mean(axis=0), [probability]]).astype(np.float64)


class EventDescriber:
    """Describes events of recordings with a model directory's type head (if it has one).

    Parameters
    ----------
    model_dir : str or Path, optional
        Where ``type_head.json`` is looked for; None: no type head.
    channel : "mean" or int
        How multi-channel files become mono (as the detector's audio).
    detector : DetectorView, optional
        Lets ``type_head_detector.json`` (when the directory has it) read the
        detector's embedding of each event; without it ``type_head.json`` is used.

    Raises
    ------
    ModelDirError
        When the directory's type head cannot be read.
    """

    def __init__(self, model_dir: str | os.PathLike[str] | None = None, channel: str | int = "mean",
                 detector: DetectorView | None = None) -> None:
        from audio_artifacts.errors import ModelDirError
        from audio_artifacts.explain.measure import FEATURE_NAMES
        from audio_artifacts.explain.type_head import DETECTOR_TYPE_HEAD_FILE, load_type_head

        self.head = None if model_dir is None else load_type_head(model_dir, FEATURE_NAMES)
        self.detector_head, self.detector = None, None
        if model_dir is not None and detector is not None:
            names = (*FEATURE_NAMES, *detector_feature_names(detector.size))
            self.detector_head = load_type_head(model_dir, names, DETECTOR_TYPE_HEAD_FILE)
            self.detector = None if self.detector_head is None else detector
        for head in (self.head, self.detector_head):
            if head is not None and tuple(head.type_names) != EVENT_TYPES:
                raise ModelDirError(f"{model_dir}: type head names {head.type_names}, expected {EVENT_TYPES}")
        self.channel = channel

    def describe_events(self, path: str | os.PathLike[str], events: Sequence[Event],
                        duration_s: float) -> tuple[Event, ...]:
        """``events`` with their description; an event that cannot be measured is kept as it was."""
        return self._describe_all(path, events, lambda e: self.describe_span(path, e.start, e.end, duration_s))

    def describe_residual_events(self, residual: np.ndarray, sample_rate: int, events: Sequence[Event],
                                 name: str = "residual") -> tuple[Event, ...]:
        """``events`` described from a stimulus-aware scan's residual (mono, at ``sample_rate``).

        The residual is what the stimulus does not explain, so a tone or a
        buzz is measured without the speech or music over it. Only measured
        features choose the type here: the detector's embedding is that of
        the recording model, not of the residual.
        """
        from audio_artifacts.explain.measure import EventAudio

        duration_s = len(residual) / sample_rate

        def read(start: float, end: float) -> EventAudio:
            first = int(round(max(0.0, start - MARGIN_S) * sample_rate))
            last = int(round(min(duration_s, end + MARGIN_S) * sample_rate))
            return EventAudio(np.asarray(residual[first:max(first, last)], dtype=np.float32), sample_rate,
                              first / sample_rate, (start, end))

        return self._describe_all(name, events, lambda e: self._describe_long(e.start, e.end, read, None))

    def _describe_all(self, name, events: Sequence[Event], describe) -> tuple[Event, ...]:  # noqa: ANN001
        described = []
        for event in events:
            try:
                d = describe(event)
            except Exception as exc:  # noqa: BLE001 - a description must never lose the detection
                log.warning("%s: event %.2f-%.2f s not described: %s: %s", name, event.start, event.end,
                            type(exc).__name__, exc)
                described.append(event)
                continue
            described.append(Event(d.start, max(d.start, d.end), event.probability, type=d.type,
                                   type_probabilities=d.type_probabilities, frequencies_hz=d.frequencies_hz,
                                   period_s=d.period_s, level_db=d.level_db, band_hz=d.band_hz))
        return tuple(described)

    def describe_span(self, path: str | os.PathLike[str], start: float, end: float,
                      duration_s: float) -> Description:
        """Measure the span ``[start, end]`` (s) of the recording at ``path``; see the module docstring."""
        return self._describe_long(start, end, lambda a, b: read_span(path, a, b, duration_s, self.channel),
                                   None if self.detector is None else self.detector.features)

    def _describe_long(self, start: float, end: float, read, seen_of) -> Description:  # noqa: ANN001
        """Describe ``read(start, end)``; ``seen_of(audio)``: the detector's view of it (None: measured only).

        A long event is measured at its two edges (`EDGE_S` each): the head
        gives the start and the fields, the tail the end, and the type is the
        one both edges make most likely together (their mean probabilities).
        """
        from audio_artifacts.explain.measure import analyse

        def measure(audio):  # noqa: ANN001, ANN202
            return analyse(audio), None if seen_of is None else seen_of(audio)

        if end - start + 2 * MARGIN_S <= LONG_EVENT_S:
            analysis, seen = measure(read(start, end))
            return self.describe_analysis(analysis, seen=seen)
        (head_a, head_seen), (tail_a, tail_seen) = measure(read(start, start + EDGE_S)), measure(read(end - EDGE_S, end))
        both = [self._type_probabilities(a, s) for a, s in ((head_a, head_seen), (tail_a, tail_seen))]
        p = None if both[0] is None else (both[0] + both[1]) / 2.0
        head = self.describe_analysis(head_a, seen=head_seen, probabilities=p)
        tail = self.describe_analysis(tail_a, head.type, seen=tail_seen, probabilities=p)
        return Description(head.start, tail.end, head.type, head.type_probabilities, head.frequencies_hz,
                           head.period_s, head.level_db, head.band_hz)

    def _type_probabilities(self, analysis, seen: np.ndarray | None = None) -> np.ndarray | None:  # noqa: ANN001
        """The type head's probabilities (`EVENT_TYPES` order) for a measured event; None without a head."""
        from audio_artifacts.explain.measure import features

        head, measured = self.head, features(analysis)
        if seen is not None and self.detector_head is not None:
            head, measured = self.detector_head, np.concatenate([measured, seen])
        return None if head is None else head.probabilities(measured)

    def describe_analysis(self, analysis, kind: str | None = None, seen: np.ndarray | None = None,  # noqa: ANN001
                          probabilities: np.ndarray | None = None) -> Description:
        """Describe a measured event (:class:`~audio_artifacts.explain.measure.Analysis`).

        ``kind`` forces the type used to choose the fields (the head's is used
        otherwise); ``seen`` (:meth:`DetectorView.features`) picks the head
        that also reads the detector's embedding; ``probabilities`` (of
        `EVENT_TYPES`, e.g. over several parts of one event) replace the head's.
        """
        from audio_artifacts.explain.measure import describe_fields

        p = self._type_probabilities(analysis, seen) if probabilities is None else probabilities
        named: tuple[tuple[str, float], ...] = ()
        line_probability = None
        if p is not None:
            named = tuple((name, round(float(v), 4)) for name, v in zip(EVENT_TYPES, p))
            kind = kind or EVENT_TYPES[int(np.argmax(p))]
            line_probability = max(v for name, v in named if name in ("tdma_buzz", "packet_buzz"))
        fields = describe_fields(analysis, kind, line_probability, MAX_EVENT_FREQUENCIES)
        return Description(
            round(fields.start, 3), round(fields.end, 3), kind if p is not None else None, named,
            tuple(round(f, 2) for f in fields.frequencies_hz),
            None if fields.period_s is None else round(fields.period_s, 6),
            None if fields.level_db is None else round(fields.level_db, 1),
            None if fields.band_hz is None else (round(fields.band_hz[0], 1), round(fields.band_hz[1], 1)),
        )


def measure_span(path: str | os.PathLike[str], start: float, end: float, duration_s: float,
                 channel: str | int = "mean"):
    """Read ``[start - MARGIN_S, end + MARGIN_S]`` of a recording and measure it (an ``Analysis``).

    Raises
    ------
    AudioLoadError
        When the recording cannot be read.
    """
    from audio_artifacts.explain.measure import analyse

    return analyse(read_span(path, start, end, duration_s, channel))


def read_span(path: str | os.PathLike[str], start: float, end: float, duration_s: float,
              channel: str | int = "mean"):
    """``[start - MARGIN_S, end + MARGIN_S]`` of a recording at its own rate (<= ``MAX_RATE``): an ``EventAudio``.

    Raises
    ------
    AudioLoadError
        When the recording cannot be read.
    """
    from audio_artifacts.audio import read_segment
    from audio_artifacts.explain.measure import EventAudio

    first, last = max(0.0, start - MARGIN_S), min(duration_s, end + MARGIN_S)
    samples, rate, offset = read_segment(path, first, max(first, last), channel, MAX_RATE)
    return EventAudio(samples, rate, offset, (start, end))
