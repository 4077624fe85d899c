"""The relay's websocket server protocol: uvicorn's, with a deadline on unfinished messages.

uvicorn pings every ``ws_ping_interval`` seconds and closes a connection whose peer
does not answer within ``ws_ping_timeout``, so a silent peer goes away. A peer that
answers pings is not bounded: it can keep a message unfinished for ever, sending a
fragmented message one fragment at a time (pings and pongs may come between
fragments) or a frame a few bytes at a time between pings. Each such connection
holds the relay's buffers and a task.

:func:`protocol_class` returns uvicorn's sans-I/O websocket protocol with one change:
from the moment bytes of an unfinished frame or message are buffered, that frame or
message must be complete within ``ws_frame_timeout`` seconds, or the connection is
failed with close code 1008 (policy violation). A connection with nothing unfinished
(an idle live stream) has no deadline and stays up as long as it answers pings.
Time while the relay itself has paused reading (its application has not taken the
previous message yet) does not count: the peer cannot finish then.

And one more: on a graceful shutdown uvicorn closes every websocket with 1012 and no
reason, so every client reconnects within the same moment. This protocol closes
with 1012 and the reason ``stream.shutdown retry_ms=<n>``
(:func:`server.errors.shutdown_reason`), ``n`` drawn uniformly from
``[0, restart_spread]`` seconds for each connection: clients come back spread out.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, ClassVar, Final

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from server.errors import CLOSE_POLICY, STATUS, shutdown_reason

__all__ = ["FRAME_TIMEOUT_CLOSE", "protocol_class"]

FRAME_TIMEOUT_CLOSE: Final = CLOSE_POLICY
"""The close code of a connection whose frame or message did not finish in time."""


_SHUTDOWN_CLOSE: Final = STATUS["stream.shutdown"].close


class _DeadlineProtocol(WebSocketsSansIOProtocol):
    frame_timeout: ClassVar[float] = 10.0
    restart_spread: ClassVar[float] = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    async def receive(self) -> Any:
        event = await super().receive()
        self._watch()  # reading may have resumed: an unfinished frame's clock runs again
        return event

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        # uvicorn's own shutdown, but for the close reason: a handshake not done
        # yet, or a close already sent, stays uvicorn's business.
        if self.close_sent or not self.handshake_complete or self.initial_response is not None:
            super().shutdown()
            return
        assert _SHUTDOWN_CLOSE is not None
        self.stop_keepalive()
        self._stop()
        # Spreading reconnects needs no secret randomness.
        retry_ms = round(random.uniform(0.0, self.restart_spread) * 1000)  # noqa: S311
        self.queue.put_nowait({"type": "websocket.disconnect", "code": _SHUTDOWN_CLOSE})
        self.conn.send_close(_SHUTDOWN_CLOSE, shutdown_reason(retry_ms))
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()

    def _unfinished(self) -> bool:
        # Bytes the parser holds are always the start of a frame it could not finish
        # (whole frames become events at once); ``frames`` holds the fragments of a
        # message whose last fragment has not come yet.
        return bool(self.conn.reader.buffer) or bool(self.frames)

    def _watch(self) -> None:
        if self.close_sent or self.disconnected or self.read_paused or not self._unfinished():
            self._stop()
        elif self._deadline is None:
            self._deadline = self.loop.call_later(self.frame_timeout, self._expire)

    def _stop(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.close_sent or self.transport.is_closing():
            return
        self.conn.fail(FRAME_TIMEOUT_CLOSE, "a frame or message took too long")
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()


def protocol_class(frame_timeout: float, restart_spread: float = 0.0) -> type[asyncio.Protocol]:
    """uvicorn's websocket protocol (``uvicorn.Config(ws=...)``) with this deadline,
    telling clients on shutdown to come back within ``restart_spread`` seconds."""
    return type(
        "HearthWebSocketProtocol",
        (_DeadlineProtocol,),
        {"frame_timeout": frame_timeout, "restart_spread": restart_spread},
    )
