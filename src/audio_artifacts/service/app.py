"""The FastAPI application: health, one-file and batch inference over uploads.

Safety properties (tested against a real uvicorn process):

* no endpoint takes a server path or a URL; recordings arrive only as
  multipart uploads, stored under names chosen here, in a folder owned by the
  request and deleted when the request ends (also on errors and disconnects);
* the upload limit is enforced on the bytes actually received (413);
* inference runs in worker threads behind a bounded limiter, so the event
  loop, and with it ``/health``, keeps answering during a long scan;
* `guard.RequestGuard` in front: bearer token, at most ``max_pending``
  uploads in progress (503 beyond), a read timeout on bodies (408), one JSON
  access-log line per request; `protocol` bounds the time to send headers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from audio_artifacts import __version__
from audio_artifacts.results.schema import ScanResult
from audio_artifacts.results.writers import JsonlWriter
from audio_artifacts.service.config import CONFIG_ENV, ServiceConfig
from audio_artifacts.service.guard import ACCESS_KEY, AccessLog, ClientStalled, RequestGuard
from audio_artifacts.service.scanning import scan_single_upload, scan_upload
from audio_artifacts.service.schemas import ErrorOut, HealthOut, ModelRefOut, ScanResultOut
from audio_artifacts.service.uploads import ReceivedForm, UploadError, UploadLimits, receive_form

API_PREFIX = "/api/v1/inference"
THRESHOLD_FIELD = "threshold"
#: Optional second file of the single-file endpoint: what the test system played.
STIMULUS_FIELD = "stimulus"


@dataclass
class ServiceState:
    """What the lifespan sets up once and every request uses."""

    config: ServiceConfig
    detector: Any  # audio_artifacts.inference.detector.Detector
    limiter: anyio.CapacityLimiter
    upload_root: Path
    results: JsonlWriter | None = None
    results_lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, results: list[ScanResult]) -> None:
        """Append results to ``--results`` (blocking: fsync per row; call from a thread)."""
        if self.results is None:
            return
        with self.results_lock:
            for result in results:
                self.results.write(result)

    @asynccontextmanager
    async def request_folder(self) -> AsyncIterator[Path]:
        """A fresh folder for one request's uploads, removed whatever happens."""
        folder = Path(tempfile.mkdtemp(prefix="request-", dir=self.upload_root))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    async def run(self, function, *args):  # noqa: ANN001, ANN202
        """Run blocking ``function(*args)`` in a worker thread, at most N at a time."""
        return await anyio.to_thread.run_sync(function, *args, limiter=self.limiter)


def _state(request: Request) -> ServiceState:
    return request.app.state.service


def _note(request: Request, form: ReceivedForm | None = None, results: list[ScanResult] = ()) -> None:
    """What the access log reports about this request: upload names and sizes, verdicts."""
    access = request.scope.get("state", {}).get(ACCESS_KEY)
    if access is None:
        return
    if form is not None:
        access["uploads"] = [{"name": f.filename, "bytes": f.size} for f in form.files]
    if results:
        access["verdicts"] = [r.verdict if r.ok else "error" for r in results]


def _multipart_body(field: str, many: bool, stimulus: bool = False) -> dict[str, Any]:
    """OpenAPI request body for our hand-parsed multipart forms (for /docs)."""
    binary = {"type": "string", "format": "binary"}
    body = {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [field],
                        "properties": {
                            field: {"type": "array", "items": binary} if many else binary,
                            THRESHOLD_FIELD: {
                                "type": "number",
                                "minimum": 0,
                                "maximum": 1,
                                "description": "decision threshold for this request (default: the model's)",
                            },
                        },
                    }
                }
            },
        }
    }
    if stimulus:
        properties = body["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
        properties[STIMULUS_FIELD] = {**binary, "description": "optional: what the test system played (any rate, "
                                      "format, level, start); the recording is judged on what it does not explain"}
    return body


_ERRORS = {
    400: {"model": ErrorOut, "description": "malformed multipart body"},
    401: {"model": ErrorOut, "description": "a token is configured and the request lacks it (Authorization: Bearer)"},
    408: {"model": ErrorOut, "description": "the client stopped sending the body for --read-timeout seconds"},
    413: {"model": ErrorOut, "description": "upload larger than the limit, or too many files"},
    415: {"model": ErrorOut, "description": "not multipart, or (single file) not a readable recording"},
    422: {"model": ErrorOut, "description": "missing file field, bad threshold, or a recording that cannot be scanned"},
    503: {"model": ErrorOut, "description": "--max-pending uploads already in progress; retry after Retry-After seconds"},
}


def _request_threshold(query_value: float | None, form: ReceivedForm) -> float | None:
    """The threshold of a request: from the query or the form (they must agree)."""
    raw = form.fields.get(THRESHOLD_FIELD)
    if raw is None:
        return query_value
    try:
        value = float(raw)
    except ValueError:
        raise UploadError(422, f"threshold must be a number in [0, 1], got {raw!r}") from None
    if not 0.0 <= value <= 1.0:
        raise UploadError(422, f"threshold must lie in [0, 1], got {value}")
    if query_value is not None and query_value != value:
        raise UploadError(422, "threshold given twice (query and form) with different values")
    return value


async def _receive(request: Request, folder: Path, field: str, limits: UploadLimits,
                   extra_fields: tuple[str, ...] = ()) -> ReceivedForm:
    form = await receive_form(
        request.headers.get("content-type"),
        request.headers.get("content-length"),
        request.stream(),
        folder,
        (field, *extra_fields),
        limits,
    )
    if not any(f.field == field for f in form.files):
        raise UploadError(422, f"no recording in the request: send it in the multipart field {field!r}")
    for name in (field, *extra_fields) if extra_fields else ():
        if sum(f.field == name for f in form.files) > 1:
            raise UploadError(422, f"send one file in the multipart field {name!r}")
    return form


def _add_routes(app: FastAPI) -> None:
    @app.get("/health", response_model=HealthOut, response_model_exclude_none=True, tags=["service"])
    async def health(request: Request) -> HealthOut:
        """Liveness and the model that answers (and, to authorised callers, its settings)."""
        state = _state(request)
        info = state.detector.info
        backend = getattr(state.detector.backend, "name", type(state.detector.backend).__name__)
        model = ModelRefOut(name=info.name, version=info.version, backend=backend)
        if not request.scope.get("state", {}).get("authorized", True):
            return HealthOut(model=model)
        return HealthOut(
            model=model,
            threshold=state.detector.threshold,
            backend=backend,
            sample_rate=info.sample_rate,
            window_s=info.window.duration_s,
            hop_s=info.window.duration_s * (1.0 - info.window.overlap),
            max_upload_mb=state.config.max_upload_mb,
            max_batch_files=state.config.max_batch_files,
            package_version=__version__,
        )

    @app.post(
        f"{API_PREFIX}/file",
        response_model=ScanResultOut,
        responses=_ERRORS,
        openapi_extra=_multipart_body("file", many=False, stimulus=True),
        tags=["inference"],
    )
    async def inference_file(
        request: Request,
        threshold: float | None = Query(None, ge=0.0, le=1.0, description="decision threshold for this request"),
    ) -> ScanResultOut:
        """Scan one uploaded recording (multipart field ``file``).

        An optional second file in the field ``stimulus`` is what the test
        system played: the recording is then judged on what the stimulus does
        not explain (the result's ``stimulus`` says how it was aligned).
        """
        state = _state(request)
        limits = UploadLimits(max_file_bytes=state.config.max_upload_bytes, max_files=2)
        async with state.request_folder() as folder:
            form = await _receive(request, folder, "file", limits, extra_fields=(STIMULUS_FIELD,))
            _note(request, form)
            chosen = _request_threshold(threshold, form)
            recording = next(f for f in form.files if f.field == "file")
            stimulus = next((f for f in form.files if f.field == STIMULUS_FIELD), None)
            result = await state.run(scan_single_upload, state.detector, recording, chosen, stimulus)
            _note(request, results=[result])
            await state.run(state.record, [result])
        return ScanResultOut.from_result(result)

    @app.post(
        f"{API_PREFIX}/batch",
        response_model=list[ScanResultOut],
        responses=_ERRORS,
        openapi_extra=_multipart_body("files", many=True),
        tags=["inference"],
    )
    async def inference_batch(
        request: Request,
        threshold: float | None = Query(None, ge=0.0, le=1.0, description="decision threshold for this request"),
    ) -> list[ScanResultOut]:
        """Scan several uploaded recordings (repeated multipart field ``files``), in order.

        A file that cannot be scanned gives an object with ``status: "error"``
        in its place; the others are still scanned.
        """
        state = _state(request)
        limits = UploadLimits(
            max_file_bytes=state.config.max_upload_bytes, max_files=state.config.max_batch_files
        )
        async with state.request_folder() as folder:
            form = await _receive(request, folder, "files", limits)
            _note(request, form)
            chosen = _request_threshold(threshold, form)
            results = []
            for upload in form.files:  # one thread call per file: long batches do not hog the limiter
                results.append(await state.run(scan_upload, state.detector, upload, chosen))
            _note(request, results=results)
            await state.run(state.record, results)
        return [ScanResultOut.from_result(r) for r in results]


def create_app(config: ServiceConfig) -> FastAPI:
    """The service for ``config``; the model is loaded once, when the app starts.

    Parameters
    ----------
    config
        Model, limits and concurrency (see `ServiceConfig`).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from audio_artifacts.inference.detector import Detector

        options: dict[str, Any] = {"backend": config.backend, "threshold": config.threshold}
        if config.batch_size is not None:
            options["batch_size"] = config.batch_size
        if config.backend_threads is not None:
            options["threads"] = config.backend_threads
        detector = await anyio.to_thread.run_sync(lambda: Detector(config.model_dir, **options))
        if config.temp_dir is not None:
            config.temp_dir.mkdir(parents=True, exist_ok=True)
        upload_root = Path(tempfile.mkdtemp(prefix="audio-artifacts-uploads-", dir=config.temp_dir))
        results = JsonlWriter(config.results_path, resume=True) if config.results_path is not None else None
        app.state.service = ServiceState(
            config=config,
            detector=detector,
            limiter=anyio.CapacityLimiter(config.inference_threads),
            upload_root=upload_root,
            results=results,
        )
        try:
            yield
        finally:
            shutil.rmtree(upload_root, ignore_errors=True)
            if results is not None:
                results.close()

    app = FastAPI(
        title="audio-artifacts",
        summary="Find artifacts in hearing-aid test recordings",
        description=(
            "Upload recordings (multipart) and get one result object per recording: the same "
            "JSON as a row of `audio-artifacts scan`. No endpoint reads server paths or URLs."
        ),
        version=__version__,
        lifespan=lifespan,
        docs_url="/docs",
    )

    @app.exception_handler(UploadError)
    async def upload_error(request: Request, exc: UploadError) -> JSONResponse:
        # A stalled client is not waited for again: answer and close the connection.
        headers = {"connection": "close"} if isinstance(exc, ClientStalled) else None
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.message}, headers=headers)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # Nobody is left to read an answer; the request folder is already gone.
        return Response(status_code=400)

    _add_routes(app)
    app.add_middleware(
        RequestGuard,
        token=config.token,
        max_pending=config.pending_limit,
        read_timeout_s=config.read_timeout_s,
        access_log=AccessLog.open(config.access_log),
    )
    return app


def create_app_from_environment() -> FastAPI:
    """Factory for uvicorn worker processes (``--workers`` > 1): config from the environment."""
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise RuntimeError(f"{CONFIG_ENV} is not set; start the service with `audio-artifacts serve`")
    return create_app(ServiceConfig.from_json(text))
