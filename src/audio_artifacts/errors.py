"""Exception types of audio-artifacts.

Every error a user can cause is one of these; the CLI turns them into one
readable line and an exit code, the service into an HTTP error body.
"""

from __future__ import annotations

from pathlib import Path


class AudioArtifactsError(Exception):
    """Base class of all errors raised on purpose by audio-artifacts."""


class AudioLoadError(AudioArtifactsError):
    """A recording cannot be read: the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ManifestError(AudioArtifactsError):
    """A manifest (CSV or folder) has problems; all of them are listed at once."""

    def __init__(self, source: str | Path, problems: list[str]) -> None:
        self.source = str(source)
        self.problems = list(problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{self.source}: {len(self.problems)} problem(s)\n{listing}")


class ConfigError(AudioArtifactsError):
    """A configuration (YAML or overrides) is invalid, e.g. has unknown keys."""


class CheckpointError(AudioArtifactsError):
    """A checkpoint does not fit the model (missing / unexpected / mis-shaped keys)."""


class ModelDirError(AudioArtifactsError):
    """A model directory is missing files or is inconsistent."""


class EngineError(AudioArtifactsError):
    """A scan engine cannot run (Ray missing, a cluster that cannot be joined, workers that keep dying)."""


class ExportError(AudioArtifactsError):
    """Export to ONNX failed or the exported model disagrees with PyTorch."""


class BankError(AudioArtifactsError):
    """A stimulus bank (its folder, ``index.csv`` or clips) has problems; all are listed at once."""

    def __init__(self, source: str | Path, problems: list[str]) -> None:
        self.source = str(source)
        self.problems = list(problems)
        listing = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{self.source}: {len(self.problems)} problem(s)\n{listing}")
