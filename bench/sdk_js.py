"""The TypeScript SDK's protocol core beside the Python one, on the same bytes, in one run.

Issue 21 asks the TypeScript SDK to stay within 2x of the Python SDK's rates. This
script builds the fixtures of ``bench/protocol.py`` (a 1 KiB text message sealed
under a fixed seed, and a 1,000-operation room log), writes them as wire JSON, and
starts ``js/sdk/bench/protocol.mjs`` on that file (after ``npm run build``) as a
server that runs one batch of the TypeScript core per request. Python's batches and
Node's are interleaved, alternating which goes first, as ``bench/protocol.py`` pairs
its batches: on a shared machine the load moves by half from one second to the
next, and running one side after the other would measure the load, not the code.
Each side's time is its median batch; the ratio is the median of the per-pair
ratios. Timing starts after ten warm-up pairs (and at least a second), which Node
needs to reach its steady rate; Python's first batch is already at its own.
Python's batches run as ``bench/protocol.py`` runs them (after ``gc.collect()``,
with the collector paused, as :mod:`timeit` does); Node's run without a forced
collection, which slowed the batch after it by 5 to 8%. It prints both rates, the
ratio, the load average, and the size of the SDK's browser bundle with its crypto
(target: under 400 KB gzip).

This script reports; it is not a test. Run it with ``make bench`` (it needs Node
20+; without it, it says so and exits 0).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import pathlib
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from protocol import RoomLog, open_message, seal_message
from protocol.encoding import to_json

ROOT = pathlib.Path(__file__).resolve().parent.parent
SDK = ROOT / "js" / "sdk"
TARGET = 2.0
WARMUP_BATCHES = 10
WARMUP_SECONDS = 1.0


def _load_bench_protocol():  # type: ignore[no-untyped-def]
    """bench/protocol.py by path: its module name is taken by the ``protocol`` package."""
    spec = importlib.util.spec_from_file_location("bench_protocol", ROOT / "bench" / "protocol.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_protocol"] = module  # its dataclasses look themselves up here
    spec.loader.exec_module(module)
    return module


class Node:
    """``protocol.mjs --serve``: one TypeScript batch per request, its seconds back."""

    def __init__(self, fixture: pathlib.Path) -> None:
        self.proc = subprocess.Popen(
            ["node", str(SDK / "bench" / "protocol.mjs"), str(fixture), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.version = str(json.loads(self._line())["node"])

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the Node side stopped (exit code {self.proc.wait()})")
        return line

    def batch(self, name: str) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(name + "\n")
        self.proc.stdin.flush()
        return float(json.loads(self._line()))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def paired(
    py: Callable[[], float], ts: Callable[[], float], reps: int
) -> tuple[float, float, float]:
    """Median Python seconds, median Node seconds and median per-pair ratio (Node / Python)."""
    # Warm-up: at least WARMUP_BATCHES pairs and WARMUP_SECONDS of Node. Node reaches
    # its steady rate only after its first few collections (about 2,000 messages):
    # until then each new ArrayBuffer is fresh memory, page-faulted in, and the
    # batches are 15 to 20% slower than they stay afterwards.
    warm = 0
    started = time.perf_counter()
    while warm < WARMUP_BATCHES or time.perf_counter() - started < WARMUP_SECONDS:
        py()
        ts()
        warm += 1
    py_times: list[float] = []
    ts_times: list[float] = []
    for rep in range(reps):
        if rep % 2:
            ts_times.append(ts())
            py_times.append(py())
        else:
            py_times.append(py())
            ts_times.append(ts())
    ratios = [t / p for p, t in zip(py_times, ts_times, strict=True)]
    return statistics.median(py_times), statistics.median(ts_times), statistics.median(ratios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=21, help="timed pairs of batches (median)")
    parser.add_argument("--messages", type=int, default=200, help="messages per batch")
    parser.add_argument(
        "--catchup", type=int, default=10_000, help="messages for the catch-up (0: skip it)"
    )
    args = parser.parse_args(argv)
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("TypeScript SDK benchmark skipped: Node.js 20+ and npm are not installed")
        return 0
    bp = _load_bench_protocol()
    rand = random.Random(20260101)  # bench/protocol.py's seed: the same bytes
    fx = bp.message_fixture(rand)
    ops = bp.LogBuilder(rand).build(bp.LOG_OPS)
    fold_reps = max(5, args.reps // 2)

    def py_seal() -> None:
        for _ in range(args.messages):
            seal_message(
                fx.keys,
                fx.plaintext,
                epoch=7,
                epoch_secret=fx.epoch_secret,
                head_index=812,
                head=fx.head,
            )

    def py_open() -> None:
        for _ in range(args.messages):
            open_message(fx.envelope, epoch_secret=fx.epoch_secret)

    def py_fold() -> None:
        RoomLog.from_ops(ops)

    fixture = {
        "seed": bytes(fx.keys.signing).hex(),
        "box": bytes(fx.keys.box).hex(),
        "room": fx.keys.room,
        "plaintext": json.loads(to_json(fx.plaintext)),
        "epoch_secret": fx.epoch_secret.hex(),
        "head": fx.head.hex(),
        "envelope": json.loads(to_json(fx.envelope)),
        "ops": [json.loads(to_json(op)) for op in ops],
        "messages": args.messages,
        "reps": args.reps,
        "fold_reps": fold_reps,
    }
    subprocess.run(["npm", "run", "build"], cwd=SDK, check=True, capture_output=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(fixture, f)
    path = pathlib.Path(f.name)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    try:
        node = Node(path)
        try:
            rows = [
                ("seal+sign 1 KiB text", py_seal, "seal", args.reps, args.messages, "msg"),
                ("verify+open 1 KiB text", py_open, "open", args.reps, args.messages, "msg"),
                ("fold 1,000-op log", py_fold, "fold", fold_reps, len(ops), "op"),
            ]
            results = [
                (
                    name,
                    count,
                    unit,
                    *paired(lambda fn=fn: bp._batch_seconds(fn), lambda k=key: node.batch(k), reps),
                )
                for name, fn, key, reps, count, unit in rows
            ]
        finally:
            node.close()
    finally:
        path.unlink()
    elapsed = time.perf_counter() - started
    bundle = json.loads(
        subprocess.run(
            ["node", str(SDK / "scripts" / "bundle.mjs"), "--json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    print(
        f"TypeScript SDK (Node {node.version}) vs. Python protocol core (Python"
        f" {platform.python_version()}), same bytes, batches interleaved, one run"
        f" ({elapsed:.1f} s; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f}"
        f" after, {os.cpu_count()} CPUs)"
    )
    for name, count, unit, py_s, ts_s, ratio in results:
        verdict = "PASS" if ratio <= TARGET else "FAIL"
        print(
            f"{name:<24} Python {count / py_s:>9,.0f} {unit}/s | TypeScript"
            f" {count / ts_s:>9,.0f} {unit}/s | {ratio:4.2f}x {verdict} (target <= {TARGET:.1f}x)"
        )
    if args.catchup:
        py_s, ts_s = catch_up(args.catchup)
        ratio = ts_s / py_s
        verdict = "PASS" if ratio <= TARGET else "FAIL"
        print(
            f"{'catch-up ' + format(args.catchup, ',') + ' msgs':<24} Python"
            f" {args.catchup / py_s:>9,.0f} msg/s | TypeScript {args.catchup / ts_s:>9,.0f} msg/s"
            f" | {ratio:4.2f}x {verdict} (target <= {TARGET:.1f}x; {py_s:.2f} s and {ts_s:.2f} s)"
        )
    print(
        f"browser bundle with crypto: {bundle['minified'] / 1024:.1f} KiB minified,"
        f" {bundle['gzip'] / 1024:.1f} KiB gzip (target < 400 KB)"
    )
    return 0


# -- catch-up through each SDK, from a real relay ------------------------------------------

ROUNDS = 2
"""Offline members per SDK; their syncs alternate Python, TypeScript, Python, TypeScript."""


def catch_up(count: int) -> tuple[float, float]:
    """Median seconds for an offline member to sync ``count`` messages, (Python, TypeScript).

    A real ``hearth serve`` (SQLite, as ``make serve`` runs it, with the rate limits
    raised as the SDK tests raise them); Alice makes a group, ``ROUNDS`` members of
    each SDK join it and go offline, Alice sends ``count`` texts, then each member
    opens its client without a live stream and times one ``sync()``, which fetches,
    verifies, decrypts and stores every message. Each member then reads all of them
    back: a run in which one did not verify, or raised an alarm, is an error.
    """
    from tests.client_sdk.conftest import RelayProcess  # noqa: PLC0415 - the tests' relay

    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        data = work / "relay"
        data.mkdir()
        relay = RelayProcess(data)
        relay.start()
        try:
            return asyncio.run(_catch_up(relay.url, work, count))
        finally:
            relay.stop()


async def _catch_up(url: str, work: pathlib.Path, count: int) -> tuple[float, float]:
    from client_sdk import HearthClient, Identity  # noqa: PLC0415

    catchup = str(SDK / "bench" / "catchup.mjs")
    members = [("py", i) for i in range(ROUNDS)] + [("ts", i) for i in range(ROUNDS)]
    identities = {m: Identity.generate() for m in members}
    async with HearthClient(url, Identity.generate(), store_path=work / "a.db", live=False) as a:
        room = await a.create_group("catch-up")
        link = await room.create_invite(max_uses=len(members), expires_in=3600)
        for m in members:
            if m[0] == "py":
                async with HearthClient(
                    url, identities[m], store_path=work / f"{m[0]}{m[1]}.db", live=False
                ) as c:
                    await c.join(link)
            else:
                await _node(catchup, "join", url, identities[m].recovery_phrase, work, m, link)
        started = time.perf_counter()
        for i in range(count):
            await room.send(f"message {i} of the catch-up")
        print(f"catch-up: {count:,} messages sent in {time.perf_counter() - started:.1f} s")
    seconds: dict[str, list[float]] = {"py": [], "ts": []}
    for i in range(ROUNDS):
        for side in ("py", "ts"):
            m = (side, i)
            if side == "py":
                async with HearthClient(
                    url, identities[m], store_path=work / f"py{i}.db", live=False
                ) as c:
                    t0 = time.perf_counter()
                    await c.sync()
                    took = time.perf_counter() - t0
                    got = c.room(room.id)
                    read, alarms = len(await got.messages(limit=count + 100)), len(got.alarms)
            else:
                out = await _node(
                    catchup, "sync", url, identities[m].recovery_phrase, work, m, room.id
                )
                took, read, alarms = out["seconds"], out["messages"], out["alarms"]
            if read != count or alarms:
                raise RuntimeError(f"catch-up {side}: {read} of {count} messages, {alarms} alarms")
            seconds[side].append(took)
    return statistics.median(seconds["py"]), statistics.median(seconds["ts"])


async def _node(
    script: str,
    mode: str,
    url: str,
    phrase: str,
    work: pathlib.Path,
    member: tuple[str, int],
    arg: str,
) -> dict[str, Any]:
    store = str(work / f"{member[0]}{member[1]}.store")
    proc = await asyncio.create_subprocess_exec(
        "node", script, mode, url, phrase, store, arg, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"catchup.mjs {mode} failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    raise SystemExit(main())
