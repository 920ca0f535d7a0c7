"""Pydantic models of the service's JSON bodies.

`ScanResultOut` mirrors :class:`audio_artifacts.reports.ScanResult` field by
field and in the same order, so a response is the same object as one row of
``scan``'s JSONL (with the upload's file name as ``path``). They exist for
validation and for the OpenAPI page at ``/docs``; the schema itself is
defined once, in ``reports``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from audio_artifacts.reports import ScanResult


class SpanOut(BaseModel):
    """A window or a merged event: seconds from the start, and a probability."""

    start: float = Field(ge=0, description="start, seconds from the start of the recording")
    end: float = Field(ge=0, description="end, seconds from the start of the recording")
    probability: float = Field(ge=0, le=1, description="artifact probability")


class ModelRefOut(BaseModel):
    """Which model answered."""

    name: str
    version: str


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
    events: list[SpanOut] = Field(description="runs of consecutive flagged windows, merged")
    model: ModelRefOut

    @classmethod
    def from_result(cls, result: ScanResult) -> ScanResultOut:
        return cls.model_validate(result.to_dict())


class HealthOut(BaseModel):
    """Liveness and what the service runs."""

    status: Literal["ok"] = "ok"
    model: ModelRefOut
    threshold: float = Field(description="default decision threshold (a request may pass its own)")
    backend: str = Field(description="inference backend: torch or onnxruntime")
    sample_rate: int = Field(description="model rate, Hz (uploads are resampled to it)")
    window_s: float = Field(description="window length, seconds")
    hop_s: float = Field(description="window hop, seconds")
    max_upload_mb: float = Field(description="largest accepted file, MiB")
    max_batch_files: int = Field(description="most files per batch request")
    package_version: str


class ErrorOut(BaseModel):
    """Body of every 4xx answer of our own: what was wrong and how to fix it."""

    detail: str
