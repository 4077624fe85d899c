"""A real HTTP endpoint on loopback that records the pushes a relay sends it.

A few lines of asyncio, not a framework: it reads one HTTP/1.1 request per
connection (request line, headers, ``Content-Length`` body), records it, and
answers with the status the test chose for that path (200 unless told), or holds
the answer until the test releases it (a slow push service).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

__all__ = ["Push", "PushSink", "push_sink"]


@dataclass(frozen=True)
class Push:
    """One request the sink received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def raw(self) -> bytes:
        """Everything the request carried after the request line, for "no content" checks."""
        lines = "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        return lines.encode("latin-1") + b"\r\n" + self.body


@dataclass
class PushSink:
    """The endpoint's state: what arrived, and how to answer."""

    port: int = 0
    received: list[Push] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)
    """Answer per path (default 200)."""
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    """Extra answer headers per path (e.g. a ``Location`` for a redirect)."""
    hold: set[str] = field(default_factory=set)
    """Paths whose answer waits for :attr:`release`."""
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def at(self, path: str) -> list[Push]:
        return [p for p in self.received if p.path == path]

    async def wait_for(self, path: str, count: int = 1, timeout: float = 20.0) -> list[Push]:
        """Wait (bounded) until ``path`` has received ``count`` requests."""
        async with asyncio.timeout(timeout), self.arrived:
            await self.arrived.wait_for(lambda: len(self.at(path)) >= count)
        return self.at(path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await self._read(reader)
            if request is None:
                return
            async with self.arrived:
                self.received.append(request)
                self.arrived.notify_all()
            if request.path in self.hold:
                await self.release.wait()
            status = self.status.get(request.path, 200)
            extra = "".join(f"{k}: {v}\r\n" for k, v in self.headers.get(request.path, {}).items())
            head = f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n"
            writer.write(f"{head}{extra}\r\n".encode())
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Push | None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Push(method=parts[0], path=parts[1], headers=headers, body=body)


@asynccontextmanager
async def push_sink(
    host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[PushSink]:
    """A running sink on a free port of ``host`` (over TLS with ``tls``)."""
    sink = PushSink()
    server = await asyncio.start_server(sink._serve, host, 0, ssl=tls)
    sink.port = server.sockets[0].getsockname()[1]
    try:
        yield sink
    finally:
        sink.release.set()
        server.close()
        await server.wait_closed()
