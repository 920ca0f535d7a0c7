"""``audio-artifacts serve``: run the HTTP inference service on uvicorn.

The model is loaded once per worker process at start-up; OpenAPI docs are at
``/docs``. With ``--token-file`` (or ``AUDIO_ARTIFACTS_TOKEN``) the ``/api/``
endpoints need ``Authorization: Bearer <token>``; listening on an address
other than loopback without a token needs ``--allow-unauthenticated``.

Exit codes (the table of every command's codes is in docs/scan.md):
0 after a clean shutdown (SIGTERM, Ctrl-C), 2 bad options, 5 the address
cannot be listened on (port in use, no permission), 6 the service failed to
start otherwise (see its log).
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import signal
import socket
import sys
from pathlib import Path

EXIT_OK, EXIT_USAGE, EXIT_CANNOT_LISTEN, EXIT_START_FAILED = 0, 2, 5, 6
TOKEN_ENV = "AUDIO_ARTIFACTS_TOKEN"


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
    security = parser.add_argument_group("security and robustness")
    security.add_argument("--token-file", metavar="FILE", default=None,
                          help=f"file holding the bearer token the /api/ endpoints require "
                               f"(default: the environment variable {TOKEN_ENV}, if set)")
    security.add_argument("--allow-unauthenticated", action="store_true",
                          help="allow listening on a non-loopback address without a token")
    security.add_argument("--ssl-certfile", metavar="FILE", default=None, help="serve HTTPS with this certificate")
    security.add_argument("--ssl-keyfile", metavar="FILE", default=None, help="private key of --ssl-certfile")
    security.add_argument("--read-timeout", type=float, default=30.0, metavar="S",
                          help="drop a client that stalls this long while sending headers or body (default: 30)")
    security.add_argument("--max-pending", type=int, default=None, metavar="N",
                          help="uploads in progress per worker before new ones get 503 + Retry-After "
                               "(default: max(32, 8 x --inference-threads))")
    security.add_argument("--shutdown-grace", type=float, default=30.0, metavar="S",
                          help="on SIGTERM / Ctrl-C, let requests in progress finish for this long (default: 30)")
    security.add_argument("--results", metavar="FILE.jsonl", default=None,
                          help="append every result to this file, as scan's JSONL rows (fsync'ed)")
    security.add_argument("--access-log", metavar="FILE", default="-",
                          help="JSON access log, one line per request: '-' standard error (default), "
                               "a file to append to, or 'off'")


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


def read_token(token_file: str | None) -> str | None:
    """The token from ``--token-file`` or ``AUDIO_ARTIFACTS_TOKEN`` (``ValueError`` when unusable)."""
    if token_file is not None:
        try:
            text = Path(token_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"--token-file {token_file}: {exc.strerror or exc}") from None
        token = text.strip()
        if not token or "\n" in token:
            raise ValueError(f"--token-file {token_file}: must hold the token on one line")
        return token
    token = os.environ.get(TOKEN_ENV)
    return token.strip() if token is not None and token.strip() else None


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (as uvicorn binds: SO_REUSEADDR); ``OSError`` when it cannot."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say
    # so, and without it every answer waited ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def _listen_reason(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {host}:{port}: the port is already in use (another serve running?)"
    if exc.errno == errno.EACCES:
        return f"cannot listen on {host}:{port}: permission denied (ports below 1024 need privileges)"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def _shut_down_cleanly(signum: int, frame: object) -> None:
    """Called once uvicorn has finished its graceful shutdown (it re-raises the signal)."""


def run(args: argparse.Namespace) -> int:
    """Start uvicorn with the service; returns when the server stops."""
    from audio_artifacts.service.config import CONFIG_ENV, ServiceConfig

    if not 0 <= args.port <= 65535:
        return _usage_error(f"--port must be in 0..65535, got {args.port}")
    if args.workers < 1:
        return _usage_error(f"--workers must be at least 1, got {args.workers}")
    if args.model is not None and not Path(args.model).is_dir():
        return _usage_error(f"--model {args.model}: not a directory")
    if (args.ssl_certfile is None) != (args.ssl_keyfile is None):
        return _usage_error("--ssl-certfile and --ssl-keyfile go together")
    for option, value in (("--ssl-certfile", args.ssl_certfile), ("--ssl-keyfile", args.ssl_keyfile)):
        if value is not None and not Path(value).is_file():
            return _usage_error(f"{option} {value}: no such file")
    if not args.shutdown_grace >= 0:
        return _usage_error(f"--shutdown-grace must be >= 0 seconds, got {args.shutdown_grace}")
    if args.results is not None and args.workers > 1:
        return _usage_error("--results needs --workers 1 (one process appends to the file)")
    try:
        token = read_token(args.token_file)
    except ValueError as exc:
        return _usage_error(str(exc))
    if token is None and not _is_loopback(args.host) and not args.allow_unauthenticated:
        return _usage_error(
            f"--host {args.host} is reachable from other machines and no token is set: pass --token-file FILE "
            f"(or set {TOKEN_ENV}), or --allow-unauthenticated on a network you trust")
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
            token=token,
            max_pending=args.max_pending,
            read_timeout_s=args.read_timeout,
            results_path=args.results,
            access_log=None if args.access_log == "off" else args.access_log,
        )
    except ValueError as exc:
        return _usage_error(str(exc))
    if config.results_path is not None:
        from audio_artifacts.results.writers import ResultsWriteError, _RowWriter

        try:  # an unwritable --results is a usage error now, not a failure at the first upload
            _RowWriter(config.results_path, resume=True).close()
        except ResultsWriteError as exc:
            return _usage_error(str(exc))

    try:
        sock = bind_socket(args.host, args.port)
    except OSError as exc:
        print(f"audio-artifacts serve: error: {_listen_reason(exc, args.host, args.port)}", file=sys.stderr)
        return EXIT_CANNOT_LISTEN

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from audio_artifacts.service.protocol import DeadlineH11Protocol

    if token is None and not _is_loopback(args.host):
        print(f"audio-artifacts serve: warning: listening on {args.host} without authentication "
              "(--allow-unauthenticated); expose it only to trusted test stations", file=sys.stderr)
    common = {
        "host": args.host, "port": args.port, "log_level": args.log_level, "http": DeadlineH11Protocol,
        "access_log": False,  # ours is the JSON access log of guard.RequestGuard
        "timeout_graceful_shutdown": args.shutdown_grace,
        "ssl_certfile": args.ssl_certfile, "ssl_keyfile": args.ssl_keyfile,
    }
    # uvicorn shuts down gracefully on SIGTERM / SIGINT and then raises the signal
    # again with the handler it found; a no-op handler makes that a clean exit 0.
    signal.signal(signal.SIGTERM, _shut_down_cleanly)
    signal.signal(signal.SIGINT, _shut_down_cleanly)
    try:
        if args.workers == 1:
            from audio_artifacts.service.app import create_app

            # uvicorn runs the lifespan (model loading) before it serves on the socket.
            uv_config = uvicorn.Config(create_app(config), **common)
            uv_config.read_timeout_s = args.read_timeout  # read by DeadlineH11Protocol
            server = uvicorn.Server(uv_config)
            server.run(sockets=[sock])
            if not server.started:
                print("audio-artifacts serve: error: the service failed to start (see the log above)",
                      file=sys.stderr)
                return EXIT_START_FAILED
        else:
            # Worker processes import the app by name and rebuild it from the environment.
            os.environ[CONFIG_ENV] = config.to_json()
            uv_config = uvicorn.Config("audio_artifacts.service.app:create_app_from_environment", factory=True,
                                       workers=args.workers, **common)
            uv_config.read_timeout_s = args.read_timeout
            Multiprocess(uv_config, sockets=[sock]).run()
    except SystemExit as exc:  # uvicorn's own start-up failures (e.g. the app failed to load)
        if exc.code not in (None, 0):
            print(f"audio-artifacts serve: error: the service failed to start (uvicorn exit {exc.code}; "
                  "see the log above)", file=sys.stderr)
            return EXIT_START_FAILED
    finally:
        sock.close()
    return EXIT_OK
