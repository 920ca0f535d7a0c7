"""uvicorn's h11 protocol with a deadline on request headers.

uvicorn bounds the idle time between requests (keep-alive) but not the time
a client may take to send a request's headers: a client that opens a
connection and sends half a request line holds it for ever. Here a timer
runs whenever the connection is not inside a request whose headers are
complete; if it fires the connection is closed. Once the headers are in,
`guard.RequestGuard` bounds each wait for the body instead.

The timeout comes from the uvicorn ``Config`` (attribute ``read_timeout_s``,
set by ``serve``), so worker processes started by uvicorn get it too.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

DEFAULT_READ_TIMEOUT_S = 30.0


class DeadlineH11Protocol(H11Protocol):
    """`H11Protocol` that drops a connection whose request headers stall."""

    def __init__(self, config, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        super().__init__(config, *args, **kwargs)
        self.read_timeout_s = float(getattr(config, "read_timeout_s", DEFAULT_READ_TIMEOUT_S))
        self._deadline: asyncio.TimerHandle | None = None

    def _in_request(self) -> bool:
        """Headers of the current request are complete and its answer is not yet sent."""
        return self.cycle is not None and not self.cycle.response_complete

    def _arm(self, restart: bool = False) -> None:
        if self._deadline is not None and not restart:
            return
        self._disarm()
        self._deadline = self.loop.call_later(self.read_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self._in_request() or self.transport.is_closing():
            return
        self.logger.warning("closing a connection from %s: no complete request within %g s",
                            "%s:%d" % self.client if self.client else "?", self.read_timeout_s)
        self.transport.close()

    def connection_made(self, transport) -> None:  # noqa: ANN001
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            self._disarm()
        elif self._in_request():
            self._disarm()
        elif self.conn.their_state is h11.SEND_BODY:
            self._arm(restart=True)  # discarding the body of an answered request: an idle bound
        else:
            self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm(restart=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
