"""Scale-out benchmark: bench/relay.py's ingest and fan-out on two instances beside one.

The same room of 10 members, the same load workers (``bench/_load.py``), the same
saturation and paced phases and the same report lines as ``bench/relay.py``, which
this script imports rather than copies. Two systems:

* ``sqlite``: one ``hearth serve`` on SQLite (bench/relay.py's Hearth, unchanged);
* ``2x-pg``: two ``hearth serve`` processes over one PostgreSQL schema, fanning out
  through Redis (or ``--pubsub postgres`` for LISTEN/NOTIFY). The load worker
  processes split the members between the two instances (``--workers 2``, the
  default: even members on the first, odd ones on the second), so every message
  reaches half its receivers through the other instance.

The ratios on the ``2x-pg`` lines are to one instance on SQLite. The relays' CPU is
both processes together; PostgreSQL's and Redis's count under "rest of the
machine", and on a 2-core machine they compete with the relays and the load for
the same cores, so this measures correctness and overhead under load more than it
measures what a second machine would add.

Needs PostgreSQL and Redis: ``--postgres`` and ``--redis`` (defaults: the
``HEARTH_TEST_POSTGRES_URL`` / ``HEARTH_TEST_REDIS_URL`` variables, else the local
services). A fresh schema is made for the run and dropped afterwards. Not part of
CI; run ``make bench-scaleout`` (``ARGS=--quick`` for a short run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import secrets
import shlex
import sys
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # before bench/: bench/protocol.py would shadow protocol

import asyncpg  # noqa: E402
import relay as bench  # noqa: E402 - bench/relay.py: the workload, workers and report

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


class HearthPair(bench.Hearth):
    """Two ``hearth serve`` processes on PostgreSQL, under one parent for CPU and memory."""

    name = "2x-pg"

    def __init__(self, work: pathlib.Path, *, postgres: str, redis: str, pubsub: str) -> None:
        super().__init__(work)
        self.postgres = postgres
        self.redis = redis
        self.pubsub = pubsub
        self.schema = f"hearth_bench_{secrets.token_hex(4)}"
        self.ports: list[int] = []
        self.label = (
            f"two Hearth relays on PostgreSQL, fan-out over {pubsub} (load split between them)"
        )

    def start(self) -> None:
        asyncio.run(self._sql(f'CREATE SCHEMA "{self.schema}"'))
        self.work.mkdir(parents=True)
        config = self.work / "hearth.toml"
        config.write_text(bench._HEARTH_CONFIG)
        self.ports = [bench.free_port(), bench.free_port()]
        self.port = self.ports[0]
        sep = "&" if "?" in self.postgres else "?"
        env = {
            **os.environ,
            "HEARTH_DATABASE_URL": f"{self.postgres}{sep}search_path={self.schema}",
            "HEARTH_PUBSUB": self.pubsub,
            "HEARTH_PUBSUB_CHANNEL": self.schema,
        }
        if self.pubsub == "redis":
            env["HEARTH_PUBSUB_URL"] = self.redis
        hearth = pathlib.Path(sys.executable).parent / "hearth"
        commands = [
            shlex.join(
                [
                    str(hearth),
                    *("serve", "--host", "127.0.0.1", "--port", str(port)),
                    *("--data-dir", str(self.work / f"data{i}"), "--config", str(config)),
                ]
            )
            for i, port in enumerate(self.ports)
        ]
        self.proc = bench.PROCS.start(
            ["bash", "-c", " & ".join(commands) + " & wait"],
            log=bench.LOGS / "hearth-pair.log",
            env=env,
        )
        for port in self.ports:
            bench.wait_port(port, self.proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if all(
                    bench.httpx.get(f"http://127.0.0.1:{p}/readyz").status_code == 200
                    for p in self.ports
                ):
                    return
            except bench.httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the Hearth relays never became ready")

    def stop(self) -> None:
        super().stop()
        asyncio.run(self._sql(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))

    async def _sql(self, statement: str) -> None:
        conn = await asyncpg.connect(self.postgres)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    def spec(self, room: bench.Room, members: list[dict[str, Any]], window: int) -> dict[str, Any]:
        spec = super().spec(room, members, window)
        # A worker's members all go to one instance, by the worker's first member.
        port = self.ports[members[0]["index"] % len(self.ports)] if members else self.port
        spec["url"] = f"ws://127.0.0.1:{port}/v1/stream"
        spec["system"] = "hearth"  # the workers' dialect: the same frames
        return spec


def run(system: bench.System, settings: bench.Settings) -> dict[str, Any]:
    with bench.running(system):
        result: dict[str, Any] = {"label": system.label}
        t = bench.throughput(system, settings)
        result["phases"] = t["phases"]
        result["peak_rss_kib"] = t["peak_rss_kib"]
        result["rss_kib"] = t["rss_kib"]
    result["summary"] = bench.summarize(result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, 1 repetition")
    parser.add_argument("--duration", type=float, help="seconds per timed run (60)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up (10)")
    parser.add_argument("--reps", type=int, help="runs per phase (3)")
    parser.add_argument("--workers", type=int, default=2, help="load worker processes (2)")
    parser.add_argument("--window", type=int, default=1, help="sends in flight per sender (1)")
    parser.add_argument("--pubsub", choices=["redis", "postgres"], default="redis")
    parser.add_argument(
        "--postgres", default=os.environ.get("HEARTH_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument("--redis", default=os.environ.get("HEARTH_TEST_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--only", default="sqlite,2x-pg", help="sqlite, 2x-pg or both")
    args = parser.parse_args(argv)
    if args.workers < 2:
        parser.error("--workers must be at least 2 to put load on both instances")
    quick = args.quick
    settings = bench.Settings(
        warmup=args.warmup if args.warmup is not None else (2.0 if quick else 10.0),
        duration=args.duration if args.duration is not None else (8.0 if quick else 60.0),
        reps=args.reps if args.reps is not None else (1 if quick else 3),
        catchup=0,
        connections=[],
        workers=args.workers,
        window=args.window,
    )
    info = bench.machine()
    print(
        f"Hearth scale-out bench | {info['cpu']}, {info['cores']} cores,"
        f" {info['memory_gib']} GiB, Python {info['python']}"
    )
    print(
        f"workload: bench/relay.py's ({bench.MEMBERS} members, 1 KiB plaintext, saturation"
        f" window {settings.window}, paced {bench.PACED_RATE:.0f} msg/s); {settings.warmup:.0f} s"
        f" warm-up, {settings.reps} x {settings.duration:.0f} s runs per phase;"
        f" load in {settings.workers} worker processes",
        flush=True,
    )
    run_dir = bench.WORK / time.strftime("scaleout-%Y%m%d-%H%M%S")
    systems = {
        "sqlite": lambda: bench.Hearth(run_dir / "sqlite"),
        "2x-pg": lambda: HearthPair(
            run_dir / "pair", postgres=args.postgres, redis=args.redis, pubsub=args.pubsub
        ),
    }
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    results: dict[str, Any] = {}
    try:
        for name in wanted:
            system = systems[name]()
            print(f"-- {name}: {system.label}", flush=True)
            results[name] = run(system, settings)
            ref = results.get("sqlite") if name != "sqlite" else None
            for line in bench.report(name, results[name], ref):
                if "catch-up" not in line:
                    print(line.replace("x hearth", "x sqlite"), flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        bench.PROCS.stop_all()
    lost = sum(r["summary"][p]["lost"] for r in results.values() for p in r["summary"])
    verdict = f"{lost} deliveries LOST" if lost else "every acknowledged message reached everyone"
    print(f"delivery check: {verdict}")
    return 0 if not lost else 1


if __name__ == "__main__":
    sys.exit(main())
