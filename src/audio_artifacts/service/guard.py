"""What stands in front of the endpoints: authentication, back-pressure, read timeouts, access log.

`RequestGuard` is a plain ASGI middleware around the FastAPI app, so it
decides before any endpoint code runs and before a byte of the body is read:

* with a token configured, everything under ``/api/`` needs
  ``Authorization: Bearer <token>`` (compared in constant time) or gets 401;
* at most ``max_pending`` inference requests are in progress (receiving,
  waiting for a thread, or being scanned); the next one gets 503 with
  ``Retry-After`` at once, its body unread (uvicorn discards it as it
  arrives, so nothing of it is stored);
* every wait for the next piece of a request body is bounded by
  ``read_timeout_s``: a client that stalls gets 408 and its connection is
  closed (the endpoint's upload folder is removed on the way out);
* one JSON line per request goes to the access log: request id, client,
  method, path, status, upload names and sizes, verdicts, duration. Never
  headers (so never the token) and never audio.

Stalls *before* the request headers are complete are handled one layer
down, in `service.protocol`.
"""

from __future__ import annotations

import hmac
import json
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, TextIO

import anyio

from audio_artifacts.service.uploads import UploadError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths that need the token when one is configured.
PROTECTED_PREFIX = "/api/"
#: Paths counted against ``max_pending``.
INFERENCE_PREFIX = "/api/v1/inference/"
#: Key under ``scope["state"]`` where endpoints leave what the access log reports.
ACCESS_KEY = "access"
RETRY_AFTER_S = 1


class ClientStalled(UploadError):
    """The client sent nothing for ``read_timeout_s`` in the middle of a request body."""

    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"no request data for {seconds:g} s; the upload was dropped")


class AccessLog:
    """One JSON object per line, to a stream or a file, safe from several threads."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    @classmethod
    def open(cls, target: str | None) -> AccessLog | None:
        """``"-"``: standard error; a path: appended to; ``None``: no access log."""
        if target is None:
            return None
        if target == "-":
            return cls(sys.stderr)
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(open(path, "a", encoding="utf-8", buffering=1))  # noqa: SIM115 - lives as long as the app

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            self._stream.write(line)  # one write per line: lines of several workers do not interleave
            self._stream.flush()


def bearer_token_matches(headers: list[tuple[bytes, bytes]], token: bytes) -> bool:
    """True when the ``Authorization`` header is ``Bearer <token>`` (constant-time compare)."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, given = value.partition(b" ")
            if scheme.lower() != b"bearer":
                return False
            return hmac.compare_digest(given.strip(), token)
    return False


async def _answer(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    *headers],
    })
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """ASGI middleware: auth, back-pressure, body read timeout, access log (see the module doc).

    Parameters
    ----------
    app
        The FastAPI application.
    token
        The bearer token; ``None``: no authentication.
    max_pending
        Most inference requests in progress at once in this process.
    read_timeout_s
        Longest wait for the next piece of a request body, seconds.
    access_log
        Where the JSON lines go; ``None``: nowhere.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        max_pending: int,
        read_timeout_s: float,
        access_log: AccessLog | None,
    ) -> None:
        self.app = app
        self.token = None if token is None else token.encode()
        self.max_pending = max_pending
        self.read_timeout_s = read_timeout_s
        self.access_log = access_log
        self.pending = 0  # only touched on the event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        request_id = uuid.uuid4().hex[:16]
        path = scope.get("path", "")
        access: dict[str, Any] = {}
        scope.setdefault("state", {})[ACCESS_KEY] = access
        scope["state"]["authorized"] = True
        status: list[int] = []
        received = [0]

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode())]}
            await send(message)

        async def timed_receive() -> Message:
            try:
                with anyio.fail_after(self.read_timeout_s):
                    message = await receive()
            except TimeoutError:
                raise ClientStalled(self.read_timeout_s) from None
            if message["type"] == "http.request":
                received[0] += len(message.get("body", b""))
            return message

        try:
            if self.token is not None and not bearer_token_matches(scope.get("headers", []), self.token):
                if path.startswith(PROTECTED_PREFIX):
                    await _answer(guarded_send, 401, "missing or wrong token: send 'Authorization: Bearer <token>'",
                                  [(b"www-authenticate", b'Bearer realm="audio-artifacts"')])
                    return
                scope["state"]["authorized"] = False  # /health then says only status and model
            if path.startswith(INFERENCE_PREFIX):
                if self.pending >= self.max_pending:
                    await _answer(guarded_send, 503,
                                  f"busy: {self.pending} uploads in progress (limit {self.max_pending}); retry shortly",
                                  [(b"retry-after", str(RETRY_AFTER_S).encode())])
                    return
                self.pending += 1
                try:
                    await self.app(scope, timed_receive, guarded_send)
                finally:
                    self.pending -= 1
            else:
                await self.app(scope, timed_receive, guarded_send)
        finally:
            if self.access_log is not None:
                client = scope.get("client")
                self.access_log.write({
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "request_id": request_id,
                    "client": f"{client[0]}:{client[1]}" if client else None,
                    "method": scope.get("method"),
                    "path": path,
                    "status": status[0] if status else None,
                    "uploads": access.get("uploads", []),
                    "verdicts": access.get("verdicts", []),
                    "received_bytes": received[0],
                    "duration_ms": round(1000 * (time.monotonic() - started), 1),
                })
