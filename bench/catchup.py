"""The catch-up of ``bench/relay.py``, repeatable: one filled relay, many timed syncs.

``bench/relay.py`` measures one ``HearthClient.sync`` of 10,000 messages per run,
after a minute of filling. To compare SDK versions (A/B) or profile the sync,
this fills a relay once with the harness's own code (``Hearth``, ``start_workers``,
``timed_run``: nine members send, the tenth was closed), keeps a copy of the
offline member's store, then times ``sync()`` from fresh copies of that store,
each in a child process of its own, alternating the SDK trees given with
``--sdk`` (a checkout's root: its ``client_sdk`` and ``protocol`` are imported;
the relay always runs from this tree). Per sync: wall seconds, the process's CPU
seconds (all threads) and each thread's.

    .venv/bin/python bench/catchup.py --state /tmp/cu            # fill once, time this tree
    .venv/bin/python bench/catchup.py --state /tmp/cu --sdk /tmp/main-tree --sdk . --reps 3
    .venv/bin/python bench/catchup.py --state /tmp/cu --profile /tmp/sync.raw   # py-spy, raw

``--state`` keeps the filled relay's data and the offline store there, and reuses
them when they exist (a relay is started on that data for every invocation).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Run as a script, bench/ is first on sys.path; bench/protocol.py would shadow the
# protocol package (and a child's --sdk tree must come before both).
if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "_sync":
    sys.path.insert(0, sys.argv[2])
else:
    sys.path.insert(0, str(ROOT))

import threading  # noqa: E402

import httpx  # noqa: E402

import client_sdk  # noqa: E402
import client_sdk.client as client_module  # noqa: E402
from client_sdk import HearthClient, Identity  # noqa: E402

# isort: split
# bench/relay.py puts this tree first on sys.path: imported after the SDK under test.
import relay  # noqa: E402

# -- the child: one timed sync ------------------------------------------------------


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread of this process, by Python thread name."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in pathlib.Path("/proc/self/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        name = names.get(int(task.name), f"tid-{task.name}")
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


async def _sync_child(base: str, phrase: str, store: str, room: str, expected: int) -> None:
    identity = Identity.from_recovery_phrase(phrase)
    if os.environ.get("CATCHUP_INLINE"):  # experiment: every message opened on the event loop
        client_module._OPEN_AHEAD_MIN = 10**9  # type: ignore[misc]
    profile = os.environ.get("CATCHUP_PYSPY")
    async with HearthClient(base, identity, store_path=store, live=False) as client:
        spy = None
        if profile:
            spy = subprocess.Popen(
                [
                    os.environ.get("PYSPY", "/tmp/tools/bin/py-spy"),
                    "record",
                    "--threads",
                    "--format",
                    "raw",
                    "--pid",
                    str(os.getpid()),
                    "-o",
                    profile,
                    *os.environ.get("CATCHUP_PYSPY_ARGS", "").split(),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            await asyncio.sleep(1.0)  # let py-spy attach
        before = _thread_cpu()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await client.sync()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        after = _thread_cpu()
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        sdk_room = client.room(room)  # type: ignore[arg-type]
        messages = await sdk_room.messages(limit=expected + 100)
        alarms = len(sdk_room.alarms)
    if len(messages) != expected or alarms:
        raise RuntimeError(f"{len(messages)} of {expected} messages readable, {alarms} alarms")
    threads = {k: round(v - before.get(k, 0.0), 2) for k, v in after.items()}
    sdk = str(pathlib.Path(client_sdk.__file__).parent.parent)
    print(json.dumps({"wall": wall, "cpu": cpu, "threads": threads, "sdk": sdk}))


# -- the parent: fill once, then time ---------------------------------------------------


def _fill(state: pathlib.Path, count: int) -> dict[str, Any]:
    system = relay.Hearth(state / "relay")
    system.start()
    try:
        room = system.prepare("catchup")
        offline = relay.MEMBERS - 1
        settings = relay.Settings(
            warmup=0, duration=0, reps=1, catchup=count, connections=[], workers=2, window=1
        )
        senders = relay.MEMBERS - 1
        workers = relay.start_workers(system, room, settings, senders=senders)
        per, extra = divmod(count, senders)
        limits = {str(i): per + (1 if i < extra else 0) for i in range(senders)}
        try:
            sent = relay.timed_run(
                system, workers, mode="sat", duration=3600, record=False, limits=limits
            )
        finally:
            for w in workers:
                w.close()
        if sent["acked"] != count:
            raise RuntimeError(f"{sent['acked']} of {count} acknowledged")
    finally:
        system.stop()
    stores: pathlib.Path = room.extra["stores"]
    shutil.copy(stores / f"m{offline}.db", state / "offline.db")
    info = {
        "room": room.room,
        "phrase": room.extra["identities"][offline].recovery_phrase,
        "messages": count,
    }
    (state / "state.json").write_text(json.dumps(info))
    return info


def _start_relay(state: pathlib.Path) -> tuple[Any, str]:
    """A relay on the filled data (``Hearth.start`` insists on a fresh directory)."""
    work = state / "relay"
    port = relay.free_port()
    proc = relay.PROCS.start(
        [
            str(pathlib.Path(sys.executable).parent / "hearth"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(work / "data"),
            "--config",
            str(work / "hearth.toml"),
        ],
        log=relay.LOGS / "catchup-relay.log",
    )
    relay.wait_port(port, proc)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the relay never became ready")


def _time_one(
    sdk: pathlib.Path, base: str, info: dict[str, Any], state: pathlib.Path, relay_pid: int
) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        store = pathlib.Path(tmp) / "offline.db"
        shutil.copy(state / "offline.db", store)
        relay0 = relay.cpu_seconds(relay_pid)
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "_sync",
                str(sdk),
                base,
                info["phrase"],
                str(store),
                info["room"],
                str(info["messages"]),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": str(sdk)},
        )
        relay_cpu = relay.cpu_seconds(relay_pid) - relay0
    if out.returncode != 0:
        raise RuntimeError(out.stderr)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # The whole child (start-up, authentication and the sync): an upper bound.
    result["relay_cpu"] = relay_cpu
    return result


def main() -> int:
    if sys.argv[1:2] == ["_sync"]:
        _, _, _sdk, base, phrase, store, room, expected = sys.argv
        asyncio.run(_sync_child(base, phrase, store, room, int(expected)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", type=pathlib.Path, help="keep and reuse the filled relay here")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--sdk", type=pathlib.Path, action="append", help="SDK tree(s) (.)")
    parser.add_argument("--reps", type=int, default=3, help="syncs per SDK tree, alternating")
    parser.add_argument("--profile", type=pathlib.Path, help="py-spy raw output of one sync")
    parser.add_argument(
        "--spy-args", default="", help="more py-spy arguments (--rate 250, --gil, --nonblocking)"
    )
    parser.add_argument(
        "--inline", action="store_true", help="experiment: open every message on the event loop"
    )
    args = parser.parse_args()
    sdks = [p.resolve() for p in (args.sdk or [ROOT])]
    if args.inline:
        os.environ["CATCHUP_INLINE"] = "1"

    state = args.state or pathlib.Path(tempfile.mkdtemp(prefix="catchup-"))
    state.mkdir(parents=True, exist_ok=True)
    if (state / "state.json").exists():
        info = json.loads((state / "state.json").read_text())
    else:
        t0 = time.monotonic()
        info = _fill(state, args.messages)
        print(f"filled {info['messages']} messages in {time.monotonic() - t0:.0f} s")
    proc, base = _start_relay(state)
    results: dict[pathlib.Path, list[Any]] = {s: [] for s in sdks}
    try:
        if args.profile:
            os.environ["CATCHUP_PYSPY"] = str(args.profile)
            os.environ["CATCHUP_PYSPY_ARGS"] = args.spy_args
            r = _time_one(sdks[0], base, info, state, proc.pid)
            print(f"profiled: wall {r['wall']:.2f} s, cpu {r['cpu']:.2f} s -> {args.profile}")
            return 0
        for rep in range(args.reps):
            for sdk in sdks:
                load = os.getloadavg()[0]
                r = _time_one(sdk, base, info, state, proc.pid)
                results[sdk].append(r)
                print(
                    f"{rep + 1} {sdk}: wall {r['wall']:.2f} s, cpu {r['cpu']:.2f} s,"
                    f" relay cpu {r['relay_cpu']:.2f} s"
                    f" (load {load:.2f}) threads {r['threads']} [{r['sdk']}]",
                    flush=True,
                )
    finally:
        relay.PROCS.stop(proc)
    for sdk, rs in results.items():
        walls = [r["wall"] for r in rs]
        cpus = [r["cpu"] for r in rs]
        print(
            f"{sdk}: wall median {statistics.median(walls):.2f} s"
            f" [{min(walls):.2f}..{max(walls):.2f}], cpu median {statistics.median(cpus):.2f} s"
            f" [{min(cpus):.2f}..{max(cpus):.2f}]"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
