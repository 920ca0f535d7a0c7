"""Isolate a flagged recording's artifact: narrow-band lines, synchronous averaging, gated transients.

:func:`isolate_recording` writes the artifact alone and the residual as WAVs;
the methods are plain numpy functions on one event's samples.
"""

from audio_artifacts.isolation.recording import (
    EventPlan, IsolatedArtifact, isolate_recording, isolate_samples, plan_event,
)

__all__ = ["EventPlan", "IsolatedArtifact", "isolate_recording", "isolate_samples", "plan_event"]
