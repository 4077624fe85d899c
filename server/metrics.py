"""The relay's metrics in the Prometheus text format, on a private port, off by default.

Set ``metrics_port`` (``HEARTH_METRICS_PORT``) and the relay answers
``GET /metrics`` on ``metrics_host:metrics_port`` (127.0.0.1 unless you say
otherwise), a listener of its own beside the public one, so a reverse proxy in
front of the relay never exposes it. What it counts is about the relay, never
about a person: no label names a room, a key, a token or an address; the only
label is the kind of rate-limit bucket (``send``, ``auth``, ...).

Written by hand rather than with ``prometheus_client``: five metrics in text
format 0.0.4 are about sixty lines, and the relay's extra gains no dependency.
The collectors are plain attributes bumped by hooks (the committer, the rate
limiter, the HTTP error handler), so the hot path pays an addition, no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from typing import Final, final

__all__ = ["COMMIT_BUCKETS", "CONTENT_TYPE", "Metrics", "MetricsServer"]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

COMMIT_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
"""Upper bounds (seconds) of the commit-latency histogram's buckets."""


@final
class Metrics:
    """The relay's counters; :meth:`render` writes them in the text format."""

    def __init__(self, streams: Callable[[], int] = lambda: 0) -> None:
        self.streams = streams
        """Open websocket streams following at least one room (read at each scrape)."""
        self.messages = 0
        self.storage_errors = 0
        self.commit_failures = 0
        self.rate_limited: Counter[str] = Counter()
        self._buckets = [0] * len(COMMIT_BUCKETS)
        self._commits = 0
        self._commit_seconds = 0.0

    def committed(self, seconds: float, messages: int, failed: bool) -> None:
        """One group commit took ``seconds``; it stored ``messages``, or failed."""
        if failed:
            self.commit_failures += 1
            return
        self.messages += messages
        self._commits += 1
        self._commit_seconds += seconds
        for i, bound in enumerate(COMMIT_BUCKETS):
            if seconds <= bound:
                self._buckets[i] += 1

    def storage_error(self) -> None:
        """A request failed on storage (``storage.unavailable``)."""
        self.storage_errors += 1

    def refused(self, bucket: str) -> None:
        """A request was refused by the rate limit of ``bucket``."""
        self.rate_limited[bucket] += 1

    def render(self) -> bytes:
        """Every metric, in Prometheus text format 0.0.4."""
        out: list[str] = []

        def head(name: str, kind: str, text: str) -> None:
            out.extend((f"# HELP {name} {text}", f"# TYPE {name} {kind}"))

        head("hearth_streams_open", "gauge", "Websocket streams following at least one room.")
        out.append(f"hearth_streams_open {self.streams()}")
        head("hearth_messages_stored_total", "counter", "Messages committed to storage.")
        out.append(f"hearth_messages_stored_total {self.messages}")
        head("hearth_storage_errors_total", "counter", "HTTP requests storage failed (503).")
        out.append(f"hearth_storage_errors_total {self.storage_errors}")
        head("hearth_commit_failures_total", "counter", "Group commits of messages that failed.")
        out.append(f"hearth_commit_failures_total {self.commit_failures}")
        head("hearth_rate_limited_total", "counter", "Requests refused by a rate limit.")
        for bucket, count in sorted(self.rate_limited.items()):
            out.append(f'hearth_rate_limited_total{{bucket="{bucket}"}} {count}')
        head("hearth_commit_seconds", "histogram", "Time of one group commit of messages.")
        for bound, count in zip(COMMIT_BUCKETS, self._buckets, strict=True):
            out.append(f'hearth_commit_seconds_bucket{{le="{bound}"}} {count}')
        out.append(f'hearth_commit_seconds_bucket{{le="+Inf"}} {self._commits}')
        out.append(f"hearth_commit_seconds_sum {self._commit_seconds}")
        out.append(f"hearth_commit_seconds_count {self._commits}")
        return ("\n".join(out) + "\n").encode()


@final
class MetricsServer:
    """A minimal HTTP/1.1 listener that answers ``GET /metrics`` and nothing else."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self._metrics = metrics
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._answer, self._host, self._port)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request = await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        line = request.split(b"\r\n", 1)[0].split()
        if line[:2] == [b"GET", b"/metrics"]:
            status, body, kind = "200 OK", self._metrics.render(), CONTENT_TYPE
        else:
            status, body, kind = "404 Not Found", b"not found\n", "text/plain"
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()
