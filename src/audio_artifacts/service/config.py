"""Configuration of the HTTP inference service, passed in (never read from globals)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

BACKENDS = ("auto", "torch", "onnx")

# Environment variable that carries the configuration to uvicorn worker
# processes when ``--workers`` > 1 (each worker builds its own app from it).
CONFIG_ENV = "AUDIO_ARTIFACTS_SERVE_CONFIG"


@dataclass(frozen=True)
class ServiceConfig:
    """Everything the service needs to start.

    Parameters
    ----------
    model_dir
        Model directory to load; ``None`` loads the bundled default model.
    backend
        ``"auto"``, ``"torch"`` or ``"onnx"`` (``"onnx"`` needs ``model.onnx``).
    threshold
        Decision threshold on the artifact probability, in [0, 1]; ``None``
        uses the threshold stored in the model directory. A request may still
        pass its own.
    batch_size
        Windows per model call; ``None`` keeps the detector's default.
    max_upload_mb
        Largest accepted upload per file, in MiB (also the per-file limit of
        the batch endpoint). Bigger uploads are refused with 413 while they
        stream in.
    max_batch_files
        Most files accepted by one batch request.
    inference_threads
        Recordings analysed at the same time (threads off the event loop).
    backend_threads
        Compute threads of the detector (its ``threads``, shared by its parallel
        model calls); ``None`` uses all cores.
    temp_dir
        Parent folder of the service's upload folder; ``None`` uses the
        system temporary folder. Uploads are deleted after each request.
    token
        Bearer token the ``/api/`` endpoints require; ``None``: no
        authentication (loopback or an explicitly unauthenticated service).
    max_pending
        Most inference requests in progress at once per worker (receiving,
        queued or being scanned); more get 503 + ``Retry-After``. ``None``:
        `default_max_pending` of ``inference_threads``.
    read_timeout_s
        Longest a client may stall while sending headers or body, seconds.
    results_path
        Append every result, as scan's JSONL rows (fsync'ed), to this file;
        ``None``: keep no record.
    access_log
        ``"-"``: JSON access lines to standard error; a path: appended
        there; ``None``: no access log.
    """

    model_dir: Path | None = None
    backend: str = "auto"
    threshold: float | None = None
    batch_size: int | None = None
    max_upload_mb: float = 200.0
    max_batch_files: int = 32
    inference_threads: int = 1
    backend_threads: int | None = None
    temp_dir: Path | None = None
    token: str | None = field(default=None, repr=False)
    max_pending: int | None = None
    read_timeout_s: float = 30.0
    results_path: Path | None = None
    access_log: str | None = "-"

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {self.threshold}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not (math.isfinite(self.max_upload_mb) and self.max_upload_mb > 0):
            raise ValueError(f"max_upload_mb must be a positive number of MiB, got {self.max_upload_mb}")
        if self.max_batch_files < 1:
            raise ValueError(f"max_batch_files must be at least 1, got {self.max_batch_files}")
        if self.inference_threads < 1:
            raise ValueError(f"inference_threads must be at least 1, got {self.inference_threads}")
        if self.backend_threads is not None and self.backend_threads < 1:
            raise ValueError(f"backend_threads must be at least 1, got {self.backend_threads}")
        if self.token is not None and (not self.token or self.token != self.token.strip() or len(self.token) < 16):
            raise ValueError("the token must be at least 16 characters without surrounding white space")
        if self.max_pending is not None and self.max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {self.max_pending}")
        if not (math.isfinite(self.read_timeout_s) and self.read_timeout_s > 0):
            raise ValueError(f"read_timeout_s must be a positive number of seconds, got {self.read_timeout_s}")
        for key in ("model_dir", "temp_dir", "results_path"):
            if getattr(self, key) is not None:
                object.__setattr__(self, key, Path(getattr(self, key)))

    @property
    def pending_limit(self) -> int:
        """``max_pending``, or its default for ``inference_threads``."""
        return self.max_pending if self.max_pending is not None else default_max_pending(self.inference_threads)

    @property
    def max_upload_bytes(self) -> int:
        """Per-file upload limit in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    def to_json(self) -> str:
        """Serialise for worker processes (paths as strings)."""
        data = asdict(self)
        for key in ("model_dir", "temp_dir", "results_path"):
            if data[key] is not None:
                data[key] = str(data[key])
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> "ServiceConfig":
        """Inverse of :meth:`to_json`; unknown keys are an error."""
        data = json.loads(text)
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown service configuration keys: {', '.join(sorted(unknown))}")
        return cls(**data)


def default_max_pending(inference_threads: int) -> int:
    """Uploads in progress per worker by default.

    Enough that a line of a few dozen stations (and ``bench/serve_load.py``'s
    16 clients) never sees a 503 while every inference thread stays busy,
    small enough that a burst holds a bounded number of uploads on disk
    (each at most ``max_upload_mb``) and the last one in the queue waits
    seconds, not minutes (a 5 s recording takes about 10-20 ms to scan).
    """
    return max(32, 8 * inference_threads)
