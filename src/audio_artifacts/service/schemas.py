"""Pydantic models of the service's JSON bodies.

`ScanResultOut` mirrors :class:`audio_artifacts.results.schema.ScanResult` field by
field and in the same order, so a response is the same object as one row of
``scan``'s JSONL (with the upload's file name as ``path``). They exist for
validation and for the OpenAPI page at ``/docs``; the schema itself is
defined once, in ``results.schema``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from audio_artifacts.results.schema import ScanResult


class SpanOut(BaseModel):
    """A window or a merged event: seconds from the start, and a probability."""

    start: float = Field(ge=0, description="start, seconds from the start of the recording")
    end: float = Field(ge=0, description="end, seconds from the start of the recording")
    probability: float = Field(ge=0, le=1, description="artifact probability")


class EventOut(SpanOut):
    """A flagged interval and what was found in it (fields null / empty when not measured)."""

    type: str | None = Field(default=None, description="most likely kind: tonal, tdma_buzz, packet_buzz, "
                             "periodic_ticks, thumps, noise_am or clicks")
    type_probabilities: dict[str, float] = Field(default_factory=dict, description="kind -> probability")
    frequencies_hz: list[float] = Field(default_factory=list, description="prominent line frequencies, ascending")
    period_s: float | None = Field(default=None, description="repetition period, s; null when not periodic")
    level_db: float | None = Field(default=None, description="dB over the device's floor in its band")
    band_hz: list[float] | None = Field(default=None, description="[low, high] band of the artifact, Hz")


class ModelRefOut(BaseModel):
    """Which model answered."""

    name: str
    version: str
    backend: str | None = Field(default=None, description="inference backend that ran it: torch or onnx")


class IdentityOut(BaseModel):
    """Size and SHA-256 of the bytes scanned (of the first MiB; the whole file when smaller)."""

    size: int = Field(ge=0, description="bytes")
    mtime_ns: int | None = Field(description="modification time (scan rows); null for uploads")
    sha256: str
    hashed_bytes: int = Field(ge=0, description="bytes hashed: min(size, 1 MiB)")


class StimulusOut(BaseModel):
    """The stimulus a recording was judged against (`results.schema.StimulusRef`)."""

    file: str = Field(description="the stimulus upload's file name")
    offset_s: float = Field(description="time in the stimulus at which the recording starts (alignment found)")
    alignment_snr_db: float | None = Field(None, description="cross-correlation peak over the other lags, dB")
    explained: float | None = Field(None, description="fraction of the recording's power the stimulus explains")
    thd_percent: float | None = Field(None, description="total harmonic distortion at a tone stimulus, percent")
    lines_hz: list[float] = Field(default_factory=list, description="the stimulus's dominant spectral lines")
    silent: bool = Field(False, description="the stimulus is silent: the recording itself was judged")
    warning: str | None = Field(None, description="why the stimulus was not used (recording judged as it is)")


class ScanResultOut(BaseModel):
    """One scanned recording: the same object as a row of ``scan``'s JSONL."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "path": "unit42_P1_V212-Tx_10dB.wav",
                    "status": "ok",
                    "error": None,
                    "duration_s": 12.0,
                    "sample_rate": 48000,
                    "channels": 2,
                    "probability": 0.93,
                    "verdict": "artifact",
                    "threshold": 0.5,
                    "triggered_at": 3.75,
                    "windows": [
                        {"start": 0.0, "end": 5.0, "probability": 0.12},
                        {"start": 3.75, "end": 8.75, "probability": 0.93},
                        {"start": 7.0, "end": 12.0, "probability": 0.41},
                    ],
                    "events": [{"start": 3.75, "end": 8.75, "probability": 0.93}],
                    "model": {"name": "fast", "version": "1.0.0"},
                    "identity": {"size": 1152044, "mtime_ns": None, "hashed_bytes": 1048576,
                                 "sha256": "9f2b5c0e8d1a4f3b7c6e5d4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c"},
                }
            ]
        }
    )

    path: str = Field(description="the upload's file name (sanitised), never a server path")
    status: Literal["ok", "error"]
    error: str | None = Field(description="why the recording could not be scanned (error rows only)")
    duration_s: float | None
    sample_rate: int | None = Field(description="of the file as uploaded, Hz")
    channels: int | None = Field(description="of the file as uploaded")
    probability: float | None = Field(description="recording-level artifact probability (max over windows)")
    verdict: Literal["artifact", "no_artifact"] | None
    threshold: float = Field(description="decision threshold used (probability >= threshold)")
    triggered_at: float | None = Field(description="start (s) of the first window over the threshold")
    windows: list[SpanOut]
    events: list[EventOut] = Field(description="runs of consecutive flagged windows, merged, described")
    model: ModelRefOut
    identity: IdentityOut | None = Field(description="which bytes were scanned (size, head SHA-256)")
    stimulus: StimulusOut | None = Field(None, description="with a stimulus upload: what it explained; windows "
                                         "and events then describe the residual")

    @classmethod
    def from_result(cls, result: ScanResult) -> ScanResultOut:
        return cls.model_validate(result.to_dict())


class HealthOut(BaseModel):
    """Liveness and what the service runs.

    With a token configured, a request without it gets only ``status`` and
    ``model``; the other fields are for authenticated callers.
    """

    status: Literal["ok"] = "ok"
    model: ModelRefOut
    threshold: float | None = Field(None, description="default decision threshold (a request may pass its own)")
    backend: str | None = Field(None, description="inference backend: torch or onnxruntime")
    sample_rate: int | None = Field(None, description="model rate, Hz (uploads are resampled to it)")
    window_s: float | None = Field(None, description="window length, seconds")
    hop_s: float | None = Field(None, description="window hop, seconds")
    max_upload_mb: float | None = Field(None, description="largest accepted file, MiB")
    max_batch_files: int | None = Field(None, description="most files per batch request")
    package_version: str | None = None


class ErrorOut(BaseModel):
    """Body of every 4xx answer of our own: what was wrong and how to fix it."""

    detail: str
