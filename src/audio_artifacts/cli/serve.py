"""``audio-artifacts serve``: run the HTTP inference service on uvicorn.

The model is loaded once per worker process at start-up; OpenAPI docs are at
``/docs``. The service has no authentication: keep it on loopback or a
trusted test-station network (see docs/service.md).

Exit codes: 0 after a clean shutdown, 2 for bad options.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_USAGE = 0, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``audio-artifacts serve``."""
    parser.add_argument("--model", metavar="DIR", default=None,
                        help="model directory (default: the bundled default model)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="uvicorn worker processes, each with its own model copy (default: 1)")
    parser.add_argument("--max-upload-mb", type=float, default=200.0, metavar="MB",
                        help="largest accepted file in MiB; bigger uploads get 413 (default: 200)")
    parser.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto",
                        help=("inference backend (default: auto = model.onnx in ONNX Runtime when present, "
                              "except the fast default model, which is quicker in torch)"))
    parser.add_argument("--threshold", type=float, default=None, metavar="T",
                        help="default decision threshold in [0, 1] (default: the model's)")
    parser.add_argument("--max-batch-files", type=int, default=32, metavar="N",
                        help="most files in one batch request (default: 32)")
    parser.add_argument("--inference-threads", type=int, default=1, metavar="N",
                        help="recordings analysed at once per worker, off the event loop (default: 1)")
    parser.add_argument("--backend-threads", type=int, default=None, metavar="N",
                        help="compute threads of the detector, shared by its parallel model calls "
                             "(default: all cores)")
    parser.add_argument("--batch-size", type=int, default=None, metavar="N",
                        help="windows per model call (default: the detector's)")
    parser.add_argument("--temp-dir", metavar="DIR", default=None,
                        help="where uploads are stored while they are scanned (default: system temp)")
    parser.add_argument("--log-level", default="info",
                        choices=("critical", "error", "warning", "info", "debug"),
                        help="uvicorn log level (default: info)")


def _usage_error(message: str) -> int:
    print(f"audio-artifacts serve: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    """Start uvicorn with the service; returns when the server stops."""
    from audio_artifacts.service.config import CONFIG_ENV, ServiceConfig

    if not 0 <= args.port <= 65535:
        return _usage_error(f"--port must be in 0..65535, got {args.port}")
    if args.workers < 1:
        return _usage_error(f"--workers must be at least 1, got {args.workers}")
    if args.model is not None and not Path(args.model).is_dir():
        return _usage_error(f"--model {args.model}: not a directory")
    from audio_artifacts.models.model_dir import default_model_dir, read_model_info

    # Cheap checks now, so a wrong model directory is one clear line, not a start-up traceback.
    model_dir = Path(args.model) if args.model is not None else default_model_dir()
    read_model_info(model_dir)  # ModelDirError -> exit code 2
    if args.backend == "onnx" and not (model_dir / "model.onnx").is_file():
        return _usage_error(f"--backend onnx needs {model_dir / 'model.onnx'} (see `audio-artifacts export`)")
    try:
        config = ServiceConfig(
            model_dir=args.model,
            backend=args.backend,
            threshold=args.threshold,
            batch_size=args.batch_size,
            max_upload_mb=args.max_upload_mb,
            max_batch_files=args.max_batch_files,
            inference_threads=args.inference_threads,
            backend_threads=args.backend_threads,
            temp_dir=args.temp_dir,
        )
    except ValueError as exc:
        return _usage_error(str(exc))

    import uvicorn

    if not _is_loopback(args.host):
        print(
            f"audio-artifacts serve: note: listening on {args.host}; the service has no "
            "authentication, expose it only to trusted test stations",
            file=sys.stderr,
        )
    common = {"host": args.host, "port": args.port, "log_level": args.log_level}
    if args.workers == 1:
        from audio_artifacts.service.app import create_app

        # uvicorn runs the lifespan (model loading) before it opens the port.
        uvicorn.run(create_app(config), **common)
    else:
        # Worker processes import the app by name and rebuild it from the environment.
        os.environ[CONFIG_ENV] = config.to_json()
        uvicorn.run(
            "audio_artifacts.service.app:create_app_from_environment",
            factory=True,
            workers=args.workers,
            **common,
        )
    return EXIT_OK
