"""A hostile relay for the tests: a man in the middle in front of a real ``hearth serve``.

:class:`HostileProxy` is an ASGI app on its own port (uvicorn, in the test's event
loop) that forwards every HTTP request and websocket frame to the real relay and
lets a scenario rewrite what flows back: HTTP response bodies (``on_response``)
and stream frames from the relay (``on_frame``, which may drop, repeat or
rewrite a frame). Nothing of the relay is mocked: every answer starts as the real
relay's answer over real sockets; the proxy only does what an operator who
controls the relay's front end could do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.client_sdk.conftest import free_port

ResponseHook = Callable[[str, str, int, bytes], Awaitable[bytes]]
"""(method, path, status, body) -> the body the client receives."""
FrameHook = Callable[[str], Awaitable[list[str]]]
"""A relay-to-client stream frame -> the frames the client receives instead."""
RequestHook = Callable[[str, str, bytes], Awaitable[tuple[int, bytes] | None]]
"""(method, path, body) -> (status, body) to answer without forwarding, or None."""

_HOP = {"host", "content-length", "connection", "transfer-encoding", "upgrade", "keep-alive"}


async def _identity_response(method: str, path: str, status: int, body: bytes) -> bytes:
    return body


async def _identity_frame(frame: str) -> list[str]:
    return [frame]


async def _forward_request(method: str, path: str, body: bytes) -> tuple[int, bytes] | None:
    return None


class HostileProxy:
    """Forward to ``upstream``; rewrite answers with the current hooks."""

    def __init__(self, upstream: str = "") -> None:
        self.upstream = upstream
        """The real relay's URL; may be set after construction, before :meth:`start`."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        """Where clients connect; the relay's ``HEARTH_ORIGIN`` must name it."""
        self.on_response: ResponseHook = _identity_response
        self.on_frame: FrameHook = _identity_frame
        self.on_request: RequestHook = _forward_request
        """Answer an HTTP request itself (the relay never sees it): a refusal, say."""
        self.requests: list[str] = []
        """Every HTTP request that reached the proxy, as ``METHOD path?query``."""
        self._http = httpx.AsyncClient(timeout=30)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._http = httpx.AsyncClient(base_url=self.upstream, timeout=30)
        config = uvicorn.Config(
            self._app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            interface="asgi3",
        )
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True  # a hook may be holding an answer forever
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, 10)
        await self._http.aclose()

    def reset(self) -> None:
        self.on_response = _identity_response
        self.on_frame = _identity_frame
        self.on_request = _forward_request

    # -- ASGI ----------------------------------------------------------------------

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self._forward_http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._forward_ws(scope, receive, send)

    async def _forward_http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [
            (k.decode(), v.decode()) for k, v in scope["headers"] if k.decode().lower() not in _HOP
        ]
        path = scope["path"]
        query = scope.get("query_string", b"").decode()
        self.requests.append(f"{scope['method']} {path}?{query}")
        answer = await self.on_request(scope["method"], path, body)
        if answer is not None:
            status, out = answer
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(out)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": out})
            return
        try:
            r = await self._http.request(
                scope["method"],
                path + (f"?{query}" if query else ""),
                content=body,
                headers=headers,
            )
        except httpx.HTTPError:
            await send({"type": "http.response.start", "status": 502, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        out = await self.on_response(scope["method"], path, r.status_code, r.content)
        response_headers = [
            (k.encode(), v.encode()) for k, v in r.headers.items() if k.lower() not in _HOP
        ]
        response_headers.append((b"content-length", str(len(out)).encode()))
        await send(
            {"type": "http.response.start", "status": r.status_code, "headers": response_headers}
        )
        await send({"type": "http.response.body", "body": out})

    async def _forward_ws(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()  # websocket.connect
        url = self.upstream.replace("http", "ws", 1) + scope["path"]
        try:
            upstream = await connect(url, compression=None, max_size=8 * 1024 * 1024)
        except OSError:
            await send({"type": "websocket.close", "code": 1011})
            return
        await send({"type": "websocket.accept"})

        async def up() -> None:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    await upstream.close()
                    return
                data = message.get("text")
                await upstream.send(data if data is not None else message.get("bytes", b""))

        async def down() -> None:
            try:
                async for frame in upstream:
                    text = frame if isinstance(frame, str) else frame.decode()
                    for out in await self.on_frame(text):
                        await send({"type": "websocket.send", "text": out})
            except ConnectionClosed:
                pass
            code = upstream.close_code or 1000
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": code})

        tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await upstream.close()
