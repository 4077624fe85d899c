"""Reconnects after a relay restart: how soon every client's live stream is back, and
how hard the clients knock while the relay is down (issue 20).

One ``hearth serve`` subprocess on loopback (SQLite in a temporary directory) and
``--clients`` real :class:`client_sdk.HearthClient` instances in this process, each
in a room of its own, following it live with the SDK's default reconnect schedule
(full jitter, 0.25 s doubling to a 10-s cap). Two scenarios:

- **graceful**: SIGTERM (the relay closes every stream with 1012 and a "come back
  in N ms" spread over ``restart_spread``, 3 s by default), then the relay starts
  again on the same data directory and port at once;
- **crash**: SIGKILL; for ``--down`` seconds a plain TCP listener stands in on the
  relay's port and counts the connection attempts it sees (accepted, then closed:
  to a client, a relay that is not there yet); then the relay starts again.

For each, the time from the new relay's first ``/readyz`` 200 to each client's
stream being authenticated again (``ConnectionChanged(online=True)``): p50, p95,
p99, max. Both of a client's websockets (its rooms' and its personal store's)
reconnect, so an attempt rate per client counts both.

    .venv/bin/python bench/reconnect.py             # 100 clients
    .venv/bin/python bench/reconnect.py --quick     # 20 clients, a sanity run
    .venv/bin/python bench/reconnect.py --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench/protocol.py must not shadow the protocol package

import httpx  # noqa: E402

from client_sdk import ConnectionChanged, HearthClient, Identity  # noqa: E402

_FAST_RATES = {
    f"HEARTH_RATE_{bucket}": "1000/5000"
    for bucket in ("SEND", "JOIN", "AUTH", "REGISTER", "SUBSCRIBE", "REQUEST")
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Relay:
    """``hearth serve`` on a fixed port and data directory, restartable."""

    def __init__(self, data: pathlib.Path, port: int, log: pathlib.Path) -> None:
        self.data, self.port, self.log = data, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            **_FAST_RATES,
            "HEARTH_POW_DIFFICULTY": "6",
            "PYTHONPATH": str(ROOT),
        }

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-c"),
                    "import sys; from server.cli import main; sys.exit(main())",
                    *("serve", "--host", "127.0.0.1", "--port", str(self.port)),
                    *("--data-dir", str(self.data), "--log-level", "warning"),
                ],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)
        self.proc = None

    async def ready(self, timeout: float = 60.0) -> float:
        """Poll ``/readyz`` every 10 ms; the loop time of the first 200."""
        loop = asyncio.get_running_loop()
        async with httpx.AsyncClient(timeout=1.0) as http, asyncio.timeout(timeout):
            while True:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"relay exited: {self.log.read_text()[-2000:]}")
                try:
                    if (await http.get(self.url + "/readyz")).status_code == 200:
                        return loop.time()
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.01)


class Fleet:
    """The clients, and when each one's live stream came back."""

    def __init__(self, clients: list[HearthClient]) -> None:
        self.clients = clients
        self.online = [False] * len(clients)
        self.back: list[float | None] = [None] * len(clients)
        self.armed = False
        self.changed = asyncio.Event()
        self.tasks = [asyncio.create_task(self._watch(i, c)) for i, c in enumerate(clients)]

    async def _watch(self, index: int, client: HearthClient) -> None:
        loop = asyncio.get_running_loop()
        async for event in client.events():
            if isinstance(event, ConnectionChanged):
                self.online[index] = event.online
                if event.online and self.armed and self.back[index] is None:
                    self.back[index] = loop.time()
                self.changed.set()

    def arm(self) -> None:
        self.back = [None] * len(self.clients)
        self.armed = True

    async def wait(self, done: Any, timeout: float = 120.0) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                self.changed.clear()
                await self.changed.wait()


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values),
    }


async def count_attempts(port: int, seconds: float) -> list[float]:
    """Stand in on ``port`` for ``seconds``: the loop time of every connection made."""
    loop = asyncio.get_running_loop()
    seen: list[float] = []

    async def accepted(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(loop.time())
        writer.close()

    server = await asyncio.start_server(accepted, "127.0.0.1", port, reuse_address=True)
    await asyncio.sleep(seconds)
    server.close()
    await server.wait_closed()
    return seen


async def scenario(relay: Relay, fleet: Fleet, kind: str, down: float) -> dict[str, Any]:
    fleet.arm()
    attempts: list[float] = []
    loop = asyncio.get_running_loop()
    if kind == "graceful":
        await asyncio.to_thread(relay.signal, signal.SIGTERM)
        stopped = loop.time()
    else:
        await asyncio.to_thread(relay.signal, signal.SIGKILL)
        stopped = loop.time()
        attempts = await count_attempts(relay.port, down)
    relay.start()
    ready = await relay.ready()
    await fleet.wait(lambda: all(b is not None for b in fleet.back))
    back = [max(0.0, b - ready) for b in fleet.back if b is not None]
    result: dict[str, Any] = {
        "scenario": kind,
        "clients": len(fleet.clients),
        "down_to_ready_s": ready - stopped,
        "back_after_ready_s": spread(back),
    }
    if kind == "crash":
        per_second: dict[int, int] = {}
        for at in attempts:
            per_second[int(at - stopped)] = per_second.get(int(at - stopped), 0) + 1
        # The first second is the clients' first quick tries (bound 0.25 s, 0.5 s...).
        steady = [n for s, n in per_second.items() if s >= 4]
        result["attempts"] = {
            "total": len(attempts),
            "window_s": down,
            "per_s": len(attempts) / down,
            "peak_in_1s": max(per_second.values(), default=0),
            "steady_per_s": sum(steady) / max(1, len(steady)),
            "per_client_per_s": len(attempts) / down / len(fleet.clients),
        }
    return result


def show(result: dict[str, Any]) -> None:
    b = result["back_after_ready_s"]
    line = (
        f"reconnect {result['scenario']:<8} {result['clients']} clients: back after /readyz "
        f"p50 {b['p50'] * 1000:,.0f} ms, p95 {b['p95'] * 1000:,.0f} ms, "
        f"p99 {b['p99'] * 1000:,.0f} ms, max {b['max'] * 1000:,.0f} ms "
        f"(relay down {result['down_to_ready_s']:.1f} s)"
    )
    print(line, flush=True)
    if "attempts" in result:
        a = result["attempts"]
        print(
            f"reconnect crash    attempts while down: {a['total']:,} in {a['window_s']:.0f} s = "
            f"{a['per_s']:,.1f}/s (peak {a['peak_in_1s']:,} in one second, "
            f"{a['steady_per_s']:,.1f}/s from 4 s on; "
            f"{a['per_client_per_s']:.2f}/s per client, two streams each)",
            flush=True,
        )


async def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--down", type=float, default=10.0, help="crash: seconds down")
    parser.add_argument("--quick", action="store_true", help="20 clients, 5 s down")
    parser.add_argument("--json", type=pathlib.Path, help="write the figures here")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.down = 20, 5.0
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hearth-reconnect-") as tmp:
        work = pathlib.Path(tmp)
        (work / "relay").mkdir()
        relay = Relay(work / "relay", free_port(), work / "relay.log")
        relay.start()
        clients: list[HearthClient] = []
        try:
            await relay.ready()
            for i in range(args.clients):
                client = HearthClient(relay.url, Identity.generate(), store_path=work / f"{i}.db")
                await client.open()
                clients.append(client)
            fleet = Fleet(clients)
            semaphore = asyncio.Semaphore(8)

            async def room_for(client: HearthClient) -> None:
                async with semaphore:
                    await client.create_group("Reconnect bench")

            await asyncio.gather(*(room_for(c) for c in clients))
            await fleet.wait(lambda: all(fleet.online))
            for kind in ("graceful", "crash"):
                result = await scenario(relay, fleet, kind, args.down)
                show(result)
                results.append(result)
        finally:
            for client in clients:
                await client.close()
            if relay.proc is not None:
                relay.signal(signal.SIGTERM)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    asyncio.run(main())
