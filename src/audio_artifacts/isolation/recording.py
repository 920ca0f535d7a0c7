"""Isolate the artifact of a scanned recording: WAVs of the artifact alone and of the residual.

For every event of a :class:`~audio_artifacts.results.schema.ScanResult` one
method estimates the artifact during the event, chosen from what the event
says about itself (:func:`plan_event`):

* ``clicks`` -> gated transient extraction (:mod:`.transients`);
* a period and a periodic kind (ticks, thumps, bursts, a buzz: ``period_s``
  is 1 / the buzz's fundamental) or a period without lines -> synchronous
  averaging (:mod:`.periodic`);
* line frequencies -> narrow-band extraction of the lines (:mod:`.lines`);
* nothing measured (an older row, a model that measures nothing) -> lines
  measured here on the event's time-median spectrum (:mod:`.measure`), else
  gated transients;
* ``noise_am`` without lines or period: not isolated (modulated noise cannot
  be told from the device's own noise sample by sample).

The estimates are faded in and out over 10 ms at the event's edges and
added into one artifact signal (zero outside the events); the residual is
the recording minus it. Both are written at the recording's own rate,
mono (mixed as the scan mixed it), 16-bit PCM.

The whole recording is held in memory at its own rate (a 1-hour 48 kHz
recording: about 700 MB), which is why this runs only for flagged recordings.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from audio_artifacts.isolation.lines import extract_lines
from audio_artifacts.isolation.measure import measure_lines
from audio_artifacts.isolation.periodic import synchronous_average
from audio_artifacts.isolation.transients import gated_transients
from audio_artifacts.results.schema import Event, ScanResult

#: Kinds whose period describes the artifact's waveform (averaged synchronously).
PERIODIC_TYPES = frozenset({"periodic_ticks", "thumps", "packet_buzz", "tdma_buzz"})
_FADE_S = 0.01


@dataclasses.dataclass(frozen=True)
class EventPlan:
    """How one event is isolated.

    Attributes
    ----------
    method : {"lines", "periodic", "transients", "none"}
    frequencies_hz : tuple of float
        For ``lines``: the lines extracted.
    period_s : float or None
        For ``periodic``.
    measured_here : bool
        True when the lines were measured by the fallback, not reported by the scan.
    """

    method: str
    frequencies_hz: tuple[float, ...] = ()
    period_s: float | None = None
    measured_here: bool = False

    def describe(self) -> str:
        """``"lines 217, 434 Hz"``, ``"periodic T = 0.8 s"``, ``"transients"``, ``"none"``."""
        if self.method == "lines":
            listed = ", ".join(f"{f:.0f}" for f in self.frequencies_hz)
            return f"lines {listed} Hz" + (" (measured for isolation)" if self.measured_here else "")
        if self.method == "periodic":
            return f"periodic T = {self.period_s:.4g} s"
        return self.method


@dataclasses.dataclass(frozen=True)
class IsolatedArtifact:
    """The files written for one recording and how each event was isolated."""

    artifact: Path
    residual: Path
    plans: tuple[EventPlan, ...]


def plan_event(event: Event, segment: np.ndarray, sample_rate: int) -> EventPlan:
    """Choose the isolation method of ``event`` from its fields (see the module docstring)."""
    if event.type == "clicks":
        return EventPlan("transients")
    if event.period_s is not None and (event.type in PERIODIC_TYPES or not event.frequencies_hz) \
            and event.type != "noise_am":
        return EventPlan("periodic", period_s=event.period_s)
    if event.frequencies_hz:
        return EventPlan("lines", frequencies_hz=event.frequencies_hz)
    if event.type == "noise_am":
        return EventPlan("none")
    measured = measure_lines(segment, sample_rate)
    if measured:
        return EventPlan("lines", frequencies_hz=measured, measured_here=True)
    return EventPlan("transients")


def estimate_event(plan: EventPlan, segment: np.ndarray, sample_rate: int) -> np.ndarray:
    """The artifact in ``segment`` by ``plan``'s method, same shape (float32)."""
    if plan.method == "lines":
        return extract_lines(segment, sample_rate, plan.frequencies_hz)
    if plan.method == "periodic":
        return synchronous_average(segment, sample_rate, plan.period_s)
    if plan.method == "transients":
        return gated_transients(segment, sample_rate)
    return np.zeros(segment.size, dtype=np.float32)


def isolate_samples(samples: np.ndarray, sample_rate: int, events: tuple[Event, ...]) -> tuple[np.ndarray, tuple[EventPlan, ...]]:
    """The artifact signal of ``samples`` (zero outside ``events``) and each event's plan."""
    x = np.asarray(samples, dtype=np.float32)
    artifact = np.zeros(x.size, dtype=np.float32)
    plans = []
    fade = max(1, int(_FADE_S * sample_rate))
    for event in events:
        start = min(x.size, int(round(event.start * sample_rate)))
        end = min(x.size, max(start, int(round(event.end * sample_rate))))
        segment = x[start:end]
        plan = plan_event(event, segment, sample_rate)
        plans.append(plan)
        if segment.size == 0:
            continue
        estimate = estimate_event(plan, segment, sample_rate)
        ramp = np.ones(segment.size, dtype=np.float32)
        edge = min(fade, segment.size // 2)
        if edge:
            rise = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, edge))).astype(np.float32)
            ramp[:edge], ramp[segment.size - edge:] = rise, rise[::-1]
        artifact[start:end] += estimate * ramp
    return artifact, tuple(plans)


def isolate_recording(
    audio_path: str | os.PathLike[str],
    result: ScanResult,
    artifact_path: str | os.PathLike[str],
    residual_path: str | os.PathLike[str],
    audio_config=None,
) -> IsolatedArtifact:
    """Write the isolated artifact and the residual of a scanned recording.

    Parameters
    ----------
    audio_path : path-like
        The recording ``result`` describes.
    result : ScanResult
        A successful result; its events say where and what to isolate.
    artifact_path, residual_path : path-like
        The WAV files to write (parent folders are created).
    audio_config : audio.AudioConfig, optional
        Channel handling as the scan used it; the rate is the recording's own.

    Raises
    ------
    ValueError
        For an error result.
    AudioLoadError
        When the recording cannot be read.
    """
    from audio_artifacts.audio import AudioConfig, load_audio, read_info, write_audio

    if not result.ok:
        raise ValueError(f"{result.path}: cannot isolate an error result ({result.error})")
    rate = read_info(audio_path).sample_rate
    config = dataclasses.replace(audio_config or AudioConfig(), sample_rate=rate)
    samples = load_audio(audio_path, config)
    artifact, plans = isolate_samples(samples, rate, result.events)
    written = (write_audio(artifact_path, np.clip(artifact, -1, 1), rate),
               write_audio(residual_path, np.clip(samples - artifact, -1, 1), rate))
    return IsolatedArtifact(written[0], written[1], plans)
