"""Relay benchmark: Hearth beside nostr-relay and a bare forwarding baseline, one workload.

The workload (issue 6; keep it exactly, so figures compare across versions): a room
of 10 members, each on its own websocket; 10 senders; 1 KiB plaintext messages
(for Hearth real envelopes from ``protocol.seal_message``: padded, encrypted,
signed); a warm-up, then 60-second runs, 3 of each phase, reported as median with
min and max. Two phases:

* saturation: every sender keeps exactly one message in flight (the next goes out
  when the previous is acknowledged), so the offered load is as fast as
  acknowledgements allow; the same window of one for every system;
* paced: 100 messages/s in all (10 per sender, staggered by 10 ms).

Figures, one line each: ingest (messages/s acknowledged, with p50/p99 of the
acknowledgement latency), fan-out (deliveries/s to the other nine members, with
p50/p99 of send-to-receive latency), catch-up (seconds for an offline member to
sync 10,000 messages through ``HearthClient.sync``, verified and decrypted),
connections (resident memory per idle authenticated websocket at 1,000 and 5,000),
and the relay's CPU seconds and peak resident memory. Every run also checks that
every acknowledged message reached all nine other members.

Each system runs as its own process on 127.0.0.1 with a fresh database under
``bench/.work/``; the load runs in separate worker processes (``bench/_load.py``),
so the two cores are shared the same way for every system. Latencies start when
the client begins to build the message (sealing or signing included, about
0.05 ms) and use ``CLOCK_MONOTONIC``, the one clock of every process here.

Systems: ``hearth`` (``hearth serve``), ``nostr`` (nostr-relay from PyPI, in its
own virtual environment under ``bench/.work/nostr-venv``, SQLite storage,
NIP-01 events signed with aionostr, "acknowledged" = its ``OK``) and
``baseline`` (``bench/baseline_relay.py``: forwards without storing or
verifying; the ceiling of this harness on this machine). Lines of the other
systems carry their ratio to Hearth.

Every process started here is stopped on exit, Ctrl+C or failure. Run with
``make bench`` (full workload, about 30 minutes) or ``make bench-quick`` (about
two minutes, short runs, smaller connection counts).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import pathlib
import platform
import resource
import secrets
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Run as a script, bench/ is first on sys.path and bench/protocol.py would shadow
# the protocol package: put the repository in front of it.
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from _load import Hist  # noqa: E402

from client_sdk import HearthClient, Identity  # noqa: E402
from protocol import RoomId, RoomLog, RootSeed, open_commit, room_id_from_genesis, sign_auth  # noqa: E402
from protocol.api import AuthRequest, Challenge, LogPage, Session, SyncResponse  # noqa: E402
from protocol.encoding import from_json, to_json  # noqa: E402

BENCH = ROOT / "bench"
WORK = BENCH / ".work"
LOGS = WORK / "logs"
NOSTR_VENV = WORK / "nostr-venv"
MEMBERS = 10
PACED_RATE = 100.0
SYSTEMS = ("hearth", "nostr", "baseline")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# -- processes ------------------------------------------------------------------


class Processes:
    """Every child process this run started; all of them are stopped on the way out."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[Any]] = []

    def start(self, argv: list[str], *, log: pathlib.Path, **kwargs: Any) -> subprocess.Popen[Any]:
        LOGS.mkdir(parents=True, exist_ok=True)
        # A session of its own: Ctrl+C reaches only us, and we stop the children.
        proc = subprocess.Popen(
            argv,
            stdout=kwargs.pop("stdout", None) or log.open("ab"),
            stderr=log.open("ab"),
            start_new_session=True,
            cwd=kwargs.pop("cwd", ROOT),
            **kwargs,
        )
        self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if proc in self._procs:
            self._procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self._procs)):
            self.stop(proc, timeout=5.0)


PROCS = Processes()


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[Any], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the relay exited with {proc.returncode}; see {LOGS}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process tree (all threads), in seconds."""
    total = 0
    for p in _tree(pid):
        with contextlib.suppress(OSError):
            fields = pathlib.Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy so far (/proc/stat)."""
    fields = pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(f) for f in fields]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks[:8]) - idle) / CLK_TCK


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process tree in KiB."""
    rss = hwm = 0
    for p in _tree(pid):
        with contextlib.suppress(OSError):
            for line in pathlib.Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm += int(line.split()[1])
    return rss, hwm


# -- load workers ---------------------------------------------------------------


class Worker:
    """One ``bench/_load.py`` process and its line protocol."""

    def __init__(self, python: str, spec: dict[str, Any], name: str, env: dict[str, str]) -> None:
        self.name = name
        self.proc = PROCS.start(
            [python, str(BENCH / "_load.py")],
            log=LOGS / f"{name}.log",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._buffer = b""
        self.send(spec)

    def send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj).encode() + b"\n")
        self.proc.stdin.flush()

    def recv(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{self.name} did not answer in {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"{self.name} exited; see {LOGS / (self.name + '.log')}")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        answer: dict[str, Any] = json.loads(line)
        if answer.get("ok") is False:
            raise RuntimeError(f"{self.name}: {answer.get('error') or answer}")
        return answer

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.send({"cmd": "quit"})
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        PROCS.stop(self.proc)


def ask_all(workers: list[Worker], cmd: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
    for w in workers:
        w.send(cmd)
    return [w.recv(timeout) for w in workers]


# -- systems --------------------------------------------------------------------


@dataclass
class Room:
    """What the load workers need to act as the room's members."""

    room: str
    members: list[dict[str, Any]]
    position: int = 0
    channel: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class System:
    name = ""
    label = ""
    python = sys.executable

    def __init__(self, work: pathlib.Path) -> None:
        self.work = work
        self.proc: subprocess.Popen[Any] | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is not None:
            PROCS.stop(self.proc)
            self.proc = None

    def prepare(self, tag: str) -> Room:
        raise NotImplementedError

    def url(self) -> str:
        raise NotImplementedError

    def worker_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT)
        return env

    def spec(self, room: Room, members: list[dict[str, Any]], window: int) -> dict[str, Any]:
        return {
            "system": self.name,
            "url": self.url(),
            "room": room.room,
            "position": room.position,
            "channel": room.channel,
            "window": window,
            "members": members,
        }


_HEARTH_CONFIG = """\
# bench/relay.py: the defaults, except rate limits, which would otherwise throttle
# ten senders on one loopback address (send: 5/s per key).
log_level = "warning"
[rate_limits]
send = { per_second = 1000000.0, burst = 1000000 }
join = { per_second = 1000000.0, burst = 1000000 }
auth = { per_second = 1000000.0, burst = 1000000 }
register = { per_second = 1000000.0, burst = 1000000 }
subscribe = { per_second = 1000000.0, burst = 1000000 }
request = { per_second = 1000000.0, burst = 1000000 }
"""


class Hearth(System):
    name = "hearth"
    label = "Hearth relay (Litestar + uvicorn on uvloop, SQLite WAL, synchronous=FULL)"

    def start(self) -> None:
        self.work.mkdir(parents=True)
        config = self.work / "hearth.toml"
        config.write_text(_HEARTH_CONFIG)
        self.port = free_port()
        hearth = pathlib.Path(sys.executable).parent / "hearth"
        self.proc = PROCS.start(
            [
                str(hearth),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.work / "data"),
                "--config",
                str(config),
            ],
            log=LOGS / "hearth-relay.log",
        )
        wait_port(self.port, self.proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz").status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("the Hearth relay never became ready")

    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/stream"

    def prepare(self, tag: str) -> Room:
        return asyncio.run(_hearth_room(self.base(), self.work / tag))


async def _hearth_room(base: str, stores: pathlib.Path) -> Room:
    """A room of MEMBERS made through the SDK: create, one invite, nine joins.

    Then, per member, what a load worker needs to send real envelopes without the
    SDK: its root, a session token, and the current epoch's secret unsealed from
    the verified log with ``protocol.open_commit``.
    """

    stores.mkdir(parents=True)
    roots = [RootSeed.generate() for _ in range(MEMBERS)]
    identities = [Identity(r) for r in roots]
    async with HearthClient(base, identities[0], store_path=stores / "m0.db", live=False) as owner:
        group = await owner.create_group("bench room", topic="relay benchmark")
        link = await group.create_invite(max_uses=MEMBERS - 1, expires_in=3600)
        room = RoomId(group.id)
    for i in range(1, MEMBERS):
        async with HearthClient(
            base, identities[i], store_path=stores / f"m{i}.db", live=False
        ) as client:
            await client.join(link)

    members: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:

        async def call(path: str, body: Any, token: str | None = None) -> bytes:
            headers = {"content-type": "application/json"}
            if token:
                headers["authorization"] = f"Bearer {token}"
            r = await http.post(path, content=to_json(body), headers=headers)
            r.raise_for_status()
            return r.content

        log: RoomLog | None = None
        position = 0
        for i, root in enumerate(roots):
            keys = root.room_keys(room)
            challenge = from_json(await call("/v1/auth/challenge", {"key": keys.member}), Challenge)
            sig = sign_auth(
                keys,
                origin=challenge.origin,
                challenge=challenge.challenge,
                expires_at=challenge.expires_at,
            )
            session = from_json(
                await call(
                    "/v1/auth/session",
                    AuthRequest(key=keys.member, challenge=challenge.challenge, sig=sig),
                ),
                Session,
            )
            if log is None:
                r = await http.get(
                    f"/v1/rooms/{room}/log",
                    params={"after": -1, "limit": 1000},
                    headers={"authorization": f"Bearer {session.token}"},
                )
                r.raise_for_status()
                log = RoomLog.from_ops(from_json(r.content, LogPage).ops)
                sync = from_json(
                    await call("/v1/sync", {"positions": {room: 0}, "limit": 1}, session.token),
                    SyncResponse,
                )
                position = sync.rooms[0].last_seq
            # The op that started the current epoch carries its commit.
            start = next(
                op
                for op in reversed(log.ops)
                if getattr(op.content.body, "commit", None) is not None
                and op.content.body.commit.epoch == log.epoch  # type: ignore[union-attr]
            )
            secret = open_commit(start.content.body.commit, prev=start.content.prev, keys=keys)  # type: ignore[union-attr]
            members.append(
                {
                    "index": i,
                    "token": session.token,
                    "root": root.secret.hex(),
                    "epoch": log.epoch,
                    "secret": secret.hex(),
                    "head_index": log.index,
                    "head": log.head.hex(),
                }
            )
    return Room(
        room=room,
        members=members,
        position=position,
        extra={"stores": stores, "identities": identities},
    )


class Baseline(System):
    name = "baseline"
    label = (
        "bare forwarding baseline"
        " (bench/baseline_relay.py: websockets on uvloop, no storage, no checks)"
    )

    def start(self) -> None:
        self.work.mkdir(parents=True)
        self.port = free_port()
        self.proc = PROCS.start(
            [sys.executable, str(BENCH / "baseline_relay.py"), "--port", str(self.port)],
            log=LOGS / "baseline-relay.log",
        )
        wait_port(self.port, self.proc)

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def prepare(self, tag: str) -> Room:
        # Real envelopes, so the frames are Hearth's size and cost as much to build;
        # the baseline checks nothing, so keys and epoch need no relay behind them.

        room = room_id_from_genesis(secrets.token_bytes(32), secrets.token_bytes(16))
        secret, head = secrets.token_bytes(32), secrets.token_bytes(32)
        members = [
            {
                "index": i,
                "token": "-",
                "root": RootSeed.generate().secret.hex(),
                "epoch": 1,
                "secret": secret.hex(),
                "head_index": 0,
                "head": head.hex(),
            }
            for i in range(MEMBERS)
        ]
        return Room(room=room, members=members)


_NOSTR_CONFIG = """\
DEBUG: false
relay_name: hearth bench
storage:
  sqlalchemy.url: sqlite+aiosqlite:///{db}
  num_concurrent_reqs: 10
  num_concurrent_adds: 2
  validators:
    - nostr_relay.validators.is_not_too_large
    - nostr_relay.validators.is_signed
    - nostr_relay.validators.is_recent
    - nostr_relay.validators.is_not_hellthread
verification:
  nip05_verification: disabled
  expiration: 2592000
  update_frequency: 3600
gunicorn:
  bind: 127.0.0.1:{port}
  workers: 1
  loglevel: warning
  reload: false
authentication:
  enabled: false
message_timeout: 1800
subscription_limit: 32
max_limit: 6000
hellthread_limit: 100
logging:
  version: 1
  formatters:
    simple:
      format: "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
  handlers:
    console:
      class: logging.StreamHandler
      level: WARNING
      formatter: simple
      stream: ext://sys.stderr
  loggers:
    nostr_relay:
      level: WARNING
      handlers: [console]
      propagate: false
  root:
    level: WARNING
    handlers: [console]
"""


def ensure_nostr() -> pathlib.Path:
    """nostr-relay (and msgspec for the load worker) in their own virtual environment."""
    exe = NOSTR_VENV / "bin" / "nostr-relay"
    if exe.exists():
        return exe
    print("installing nostr-relay into", NOSTR_VENV, flush=True)
    if NOSTR_VENV.exists():
        shutil.rmtree(NOSTR_VENV)
    base = getattr(sys, "_base_executable", sys.executable)
    LOGS.mkdir(parents=True, exist_ok=True)
    with (LOGS / "nostr-install.log").open("ab") as log:
        subprocess.run([base, "-m", "venv", str(NOSTR_VENV)], check=True)
        subprocess.run(
            [str(NOSTR_VENV / "bin" / "pip"), "install", "--quiet", "nostr-relay", "msgspec"],
            check=True,
            stdout=log,
            stderr=log,
        )
    return exe


class Nostr(System):
    name = "nostr"
    python = str(NOSTR_VENV / "bin" / "python")

    @property
    def label(self) -> str:  # type: ignore[override]
        version = "?"
        for dist in (NOSTR_VENV / "lib").glob("python*/site-packages/nostr_relay-*.dist-info"):
            version = dist.name.removesuffix(".dist-info").split("-")[1]
        return (
            f"nostr-relay {version} (uvicorn + uvloop, SQLite WAL, its default synchronous=NORMAL)"
        )

    def start(self) -> None:
        exe = ensure_nostr()
        self.work.mkdir(parents=True)
        self.port = free_port()
        config = self.work / "nostr.yaml"
        config.write_text(_NOSTR_CONFIG.format(db=self.work / "nostr.sqlite3", port=self.port))
        self.proc = PROCS.start(
            [str(exe), "-c", str(config), "serve", "--use-uvicorn"],
            log=LOGS / "nostr-relay.log",
            cwd=self.work,
        )
        wait_port(self.port, self.proc)

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def worker_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        return env

    def prepare(self, tag: str) -> Room:
        members = [{"index": i, "privkey": secrets.token_hex(32)} for i in range(MEMBERS)]
        return Room(room=tag, members=members, channel=secrets.token_hex(32))


# -- phases ---------------------------------------------------------------------


@dataclass
class Settings:
    warmup: float
    duration: float
    reps: int
    catchup: int
    connections: list[int]
    workers: int
    window: int


def start_workers(
    system: System, room: Room, settings: Settings, senders: int = MEMBERS
) -> list[Worker]:
    """Connect the room's members (all but those past ``senders``), split over workers."""
    active = room.members[:senders]
    parts = [active[i :: settings.workers] for i in range(settings.workers)]
    workers = [
        Worker(
            system.python,
            system.spec(room, part, settings.window),
            f"{system.name}-worker-{n}",
            system.worker_env(),
        )
        for n, part in enumerate(parts)
        if part
    ]
    ask_all(workers, {"cmd": "connect"}, timeout=120)
    return workers


_run_numbers = iter(range(1, 10_000))


def timed_run(
    system: System,
    workers: list[Worker],
    *,
    mode: str,
    duration: float,
    record: bool = True,
    limits: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One run: all workers start together; returns the merged figures."""
    number = next(_run_numbers)
    start = time.monotonic() + 1.0
    cmd = {
        "cmd": "run",
        "run": number,
        "mode": mode,
        "start": start,
        "duration": duration,
        "record": record,
        "rate": PACED_RATE,
        "senders_total": MEMBERS,
        "limits": limits,
        "drain": 30.0,
    }
    for w in workers:
        w.send(cmd)
    if limits:  # a counted run (catch-up): it ends when the counts are sent
        answers = [w.recv(600) for w in workers]
        return merge(answers, duration, 0.0)
    time.sleep(max(0.0, start - time.monotonic()))
    cpu0, load0, busy0 = cpu_seconds(system.pid), _load_cpu(workers), machine_busy_seconds()
    time.sleep(max(0.0, start + duration - time.monotonic()))
    cpu1, load1, busy1 = cpu_seconds(system.pid), _load_cpu(workers), machine_busy_seconds()
    answers = [w.recv(duration + 120) for w in workers]
    result = merge(answers, duration, cpu1 - cpu0)
    result["load_cpu"] = load1 - load0
    # Whatever else ran on the machine meanwhile (other people's tests, say):
    # figures taken beside a busy neighbour are not comparable.
    result["other_cpu"] = max(0.0, (busy1 - busy0) - (cpu1 - cpu0) - (load1 - load0))
    return result


def _load_cpu(workers: list[Worker]) -> float:
    return sum(cpu_seconds(w.proc.pid) for w in workers)


def _bits(text: str) -> int:
    return int.from_bytes(base64.b64decode(text), "little")


def merge(answers: list[dict[str, Any]], duration: float, cpu: float) -> dict[str, Any]:
    ack, deliver = Hist(), Hist()
    acked: dict[int, int] = {}
    received: dict[int, dict[int, int]] = {}
    errors: dict[str, int] = {}
    out = {"acked_in_window": 0, "delivered_in_window": 0, "sent": 0, "unacked": 0, "stray": 0}
    for a in answers:
        ack.merge(Hist.load(a["ack"]))
        deliver.merge(Hist.load(a["deliver"]))
        for k in out:
            out[k] += a[k]
        for code, n in a["errors"].items():
            errors[code] = errors.get(code, 0) + n
        for s, b in a["acked"].items():
            acked[int(s)] = _bits(b)
        for r, by in a["received"].items():
            received[int(r)] = {int(s): _bits(b) for s, b in by.items()}
    receivers = set(received) | set(acked)
    lost = 0
    total_acked = 0
    for s, bits in acked.items():
        count = bin(bits).count("1")
        total_acked += count
        for r in receivers:
            if r != s:
                lost += bin(bits & ~received.get(r, {}).get(s, 0)).count("1")
    return {
        "ingest": out["acked_in_window"] / duration,
        "deliveries": out["delivered_in_window"] / duration,
        "ack_p50": ack.quantile_ms(0.50),
        "ack_p99": ack.quantile_ms(0.99),
        "deliver_p50": deliver.quantile_ms(0.50),
        "deliver_p99": deliver.quantile_ms(0.99),
        "acked": total_acked,
        "receivers": len(receivers),
        "lost": lost,
        "unacked": out["unacked"],
        "errors": errors,
        "stray": out["stray"],
        "cpu": cpu,
        "duration": duration,
    }


def throughput(system: System, settings: Settings) -> dict[str, Any]:
    room = system.prepare("main")
    workers = start_workers(system, room, settings)
    try:
        if settings.warmup > 0:
            timed_run(system, workers, mode="sat", duration=settings.warmup, record=False)
        phases: dict[str, list[dict[str, Any]]] = {"saturation": [], "paced": []}
        for phase, mode in (("saturation", "sat"), ("paced", "paced")):
            for _ in range(settings.reps):
                phases[phase].append(
                    timed_run(system, workers, mode=mode, duration=settings.duration)
                )
        rss, hwm = memory_kib(system.pid)
    finally:
        for w in workers:
            w.close()
    return {"phases": phases, "rss_kib": rss, "peak_rss_kib": hwm, "room": room}


def catch_up(system: Hearth, settings: Settings) -> dict[str, Any]:
    """An offline member syncs ``settings.catchup`` messages through the SDK."""
    room = system.prepare("catchup")
    offline = MEMBERS - 1  # the last to join: its stored position is the join
    senders = MEMBERS - 1
    workers = start_workers(system, room, settings, senders=senders)
    per, extra = divmod(settings.catchup, senders)
    limits = {str(i): per + (1 if i < extra else 0) for i in range(senders)}
    try:
        sent = timed_run(system, workers, mode="sat", duration=3600, record=False, limits=limits)
    finally:
        for w in workers:
            w.close()
    if sent["acked"] != settings.catchup:
        raise RuntimeError(f"catch-up: {sent['acked']} of {settings.catchup} acknowledged")
    return asyncio.run(_sync_offline(system, room, offline, settings.catchup))


async def _sync_offline(system: Hearth, room: Room, offline: int, expected: int) -> dict[str, Any]:

    stores: pathlib.Path = room.extra["stores"]
    identity = room.extra["identities"][offline]
    async with HearthClient(
        system.base(), identity, store_path=stores / f"m{offline}.db", live=False
    ) as client:
        started = time.perf_counter()
        await client.sync()
        seconds = time.perf_counter() - started
        sdk_room = client.room(room.room)
        messages = await sdk_room.messages(limit=expected + 100)
        alarms = len(sdk_room.alarms)
    if len(messages) != expected or alarms:
        raise RuntimeError(
            f"catch-up: {len(messages)} of {expected} messages readable, {alarms} alarms"
        )
    return {"messages": expected, "seconds": seconds, "alarms": alarms}


def connections(system: System, settings: Settings) -> dict[str, Any]:
    """Resident memory per idle websocket, on a fresh relay process."""
    room = system.prepare("idle")
    spec = system.spec(room, room.members, settings.window)
    spec["local_hosts"] = [f"127.0.0.{i}" for i in range(1, 5)]
    worker = Worker(system.python, spec, f"{system.name}-idle", system.worker_env())
    results: dict[str, Any] = {}
    try:
        time.sleep(1.0)
        rss0, _ = memory_kib(system.pid)
        results["rss0_kib"] = rss0
        opened = 0
        for target in settings.connections:
            started = time.monotonic()
            worker.send({"cmd": "idle", "count": target - opened})
            answer = worker.recv(600)
            opened = answer["open"]
            handshake = time.monotonic() - started
            time.sleep(2.0)
            rss, _ = memory_kib(system.pid)
            results[str(target)] = {
                "rss_kib": rss,
                "per_conn_kib": (rss - rss0) / target,
                "open_seconds": handshake,
            }
    finally:
        worker.close()
    return results


# -- report ---------------------------------------------------------------------


def _spread(values: list[float], fmt: str) -> str:
    med = statistics.median(values)
    if len(values) == 1:
        return format(med, fmt)
    return f"{format(med, fmt)} [{format(min(values), fmt)}..{format(max(values), fmt)}]"


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for phase, runs in result.get("phases", {}).items():
        out[phase] = {
            k: {
                "median": statistics.median([r[k] for r in runs]),
                "min": min(r[k] for r in runs),
                "max": max(r[k] for r in runs),
                "runs": [r[k] for r in runs],
            }
            for k in (
                "ingest",
                "deliveries",
                "ack_p50",
                "ack_p99",
                "deliver_p50",
                "deliver_p99",
                "cpu",
                "load_cpu",
                "other_cpu",
            )
        }
        out[phase]["lost"] = sum(r["lost"] for r in runs)
        out[phase]["acked"] = sum(r["acked"] for r in runs)
        out[phase]["unacked"] = sum(r["unacked"] for r in runs)
        out[phase]["errors"] = sum(sum(r["errors"].values()) for r in runs)
        out[phase]["receivers"] = max(r["receivers"] for r in runs)
    return out


def _ratio(value: float, ref: float | None) -> str:
    if ref is None or not ref or value != value or ref != ref:
        return ""
    return f" | {value / ref:.2f}x hearth"


def report(name: str, result: dict[str, Any], ref: dict[str, Any] | None) -> list[str]:
    lines: list[str] = []
    s = result["summary"]
    r = ref["summary"] if ref else None
    for phase in ("saturation", "paced"):
        if phase not in s:
            continue
        p = s[phase]
        rp = r[phase] if r else None

        def med(
            key: str, src: dict[str, Any] | None = None, own: dict[str, Any] = p
        ) -> float | None:
            src = own if src is None else src
            return float(src[key]["median"]) if src else None

        runs = p["ingest"]["runs"]
        lines.append(
            f"{name:<8} ingest   {phase:<10} {_spread(runs, ',.0f')} msg/s acked;"
            f" ack p50 {_spread(p['ack_p50']['runs'], '.2f')} ms,"
            f" p99 {_spread(p['ack_p99']['runs'], '.2f')} ms"
            + (
                _ratio(med("ingest") or 0, med("ingest", rp))
                + f" (p99 {_ratio(med('ack_p99') or 0, med('ack_p99', rp))[3:]})"
                if rp
                else ""
            )
        )
        lines.append(
            f"{name:<8} fan-out  {phase:<10} {_spread(p['deliveries']['runs'], ',.0f')}"
            f" deliveries/s; send-to-receive p50 {_spread(p['deliver_p50']['runs'], '.2f')} ms,"
            f" p99 {_spread(p['deliver_p99']['runs'], '.2f')} ms"
            + (
                _ratio(med("deliveries") or 0, med("deliveries", rp))
                + f" (p99 {_ratio(med('deliver_p99') or 0, med('deliver_p99', rp))[3:]})"
                if rp
                else ""
            )
        )
        lines.append(
            f"{name:<8} delivery {phase:<10} lost {p['lost']} of {p['acked']:,} acked messages"
            f" x {p['receivers'] - 1} other members; unacked {p['unacked']},"
            f" errors {p['errors']}"
        )
    if "catchup" in result:
        c = result["catchup"]
        lines.append(
            f"{name:<8} catch-up {c['messages']:,} messages in {c['seconds']:.2f} s"
            f" ({c['messages'] / c['seconds']:,.0f} msg/s) through HearthClient.sync,"
            " verified and decrypted"
        )
    elif "phases" in result:
        why = "not asked for (--catchup 0)" if name == "hearth" else "n/a (Hearth's SDK only)"
        lines.append(f"{name:<8} catch-up {why}")
    if "connections" in result:
        conn = result["connections"]
        parts = []
        for n in sorted((k for k in conn if k.isdigit()), key=int):
            per = conn[n]["per_conn_kib"]
            rc = r and ref and ref.get("connections", {}).get(n)
            parts.append(
                f"{int(n):,} idle: {per:.1f} KiB each"
                + (f" ({per / rc['per_conn_kib']:.2f}x hearth)" if rc else "")
            )
        lines.append(f"{name:<8} connections " + "; ".join(parts))
    if "phases" in result:
        sat = s["saturation"]["cpu"]
        dur = result["phases"]["saturation"][0]["duration"]
        lines.append(
            f"{name:<8} relay    cpu {_spread(sat['runs'], '.1f')} s per {dur:.0f}-s saturation"
            f" run ({sat['median'] / dur:.2f} cores,"
            f" {sat['median'] / (dur * s['saturation']['ingest']['median']) * 1000:.3f} ms/msg),"
            f" {s['paced']['cpu']['median']:.1f} s per paced run;"
            f" peak RSS {result['peak_rss_kib'] / 1024:.1f} MiB;"
            f" load generators {s['saturation']['load_cpu']['median'] / dur:.2f} cores,"
            f" rest of the machine {s['saturation']['other_cpu']['median'] / dur:.2f} cores"
        )
    return lines


def machine() -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError):
        for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1])
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(mem / 2**20, 1),
        "python": platform.python_version(),
    }


@contextlib.contextmanager
def running(system: System) -> Iterator[System]:
    system.start()
    try:
        yield system
    finally:
        system.stop()


def bench_system(name: str, settings: Settings, run_dir: pathlib.Path) -> dict[str, Any]:
    kinds: dict[str, type[System]] = {"hearth": Hearth, "nostr": Nostr, "baseline": Baseline}
    kind = kinds[name]
    result: dict[str, Any] = {}
    with running(kind(run_dir / name)) as system:
        result["label"] = system.label
        if settings.duration > 0:
            t = throughput(system, settings)
            result["phases"] = t["phases"]
            result["peak_rss_kib"] = t["peak_rss_kib"]
            result["rss_kib"] = t["rss_kib"]
            if isinstance(system, Hearth) and settings.catchup:
                result["catchup"] = catch_up(system, settings)
    if settings.connections:
        with running(kind(run_dir / f"{name}-idle")) as system:
            result["connections"] = connections(system, settings)
    result["summary"] = summarize(result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs, 1 repetition")
    parser.add_argument(
        "--only",
        default=",".join(SYSTEMS),
        help="comma-separated systems among hearth,nostr,baseline",
    )
    parser.add_argument("--json", type=pathlib.Path, help="write every figure here")
    parser.add_argument("--duration", type=float, help="seconds per timed run (60)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up (10)")
    parser.add_argument("--reps", type=int, help="runs per phase (3)")
    parser.add_argument("--catchup", type=int, help="messages for the catch-up (10000)")
    parser.add_argument("--connections", help="idle connection counts (1000,5000)")
    parser.add_argument("--workers", type=int, default=2, help="load worker processes (2)")
    parser.add_argument("--window", type=int, default=1, help="sends in flight per sender (1)")
    args = parser.parse_args(argv)

    quick = args.quick
    settings = Settings(
        warmup=args.warmup if args.warmup is not None else (2.0 if quick else 10.0),
        duration=args.duration if args.duration is not None else (8.0 if quick else 60.0),
        reps=args.reps if args.reps is not None else (1 if quick else 3),
        catchup=args.catchup if args.catchup is not None else 10_000,
        connections=[
            int(n)
            for n in (args.connections or ("200,1000" if quick else "1000,5000")).split(",")
            if n.strip() and int(n) > 0
        ],
        workers=args.workers,
        window=args.window,
    )
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    order = [s for s in SYSTEMS if s in only]

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # children inherit it
    need = 2 * max(settings.connections or [0]) + 1000
    if hard < need:
        print(f"warning: open files limited to {hard}; {need} wanted", file=sys.stderr)
    signal.signal(signal.SIGTERM, _interrupted)

    info = machine()
    print(
        f"Hearth relay bench | {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB,"
        f" Python {info['python']}"
    )
    print(
        f"workload: {MEMBERS} members on {MEMBERS} websockets, {MEMBERS} senders, 1 KiB plaintext;"
        f" saturation with {settings.window} send(s) in flight per sender, paced at"
        f" {PACED_RATE:.0f} msg/s; {settings.warmup:.0f} s warm-up, {settings.reps} x"
        f" {settings.duration:.0f} s runs per phase (median [min..max]);"
        f" load in {settings.workers} worker processes",
        flush=True,
    )
    run_dir = WORK / time.strftime("run-%Y%m%d-%H%M%S")
    if LOGS.exists():
        shutil.rmtree(LOGS)
    results: dict[str, Any] = {}
    started = time.monotonic()
    try:
        for name in order:
            results[name] = bench_system(name, settings, run_dir)
            print(f"== {name}: {results[name]['label']}")
            for line in report(
                name, results[name], results.get("hearth") if name != "hearth" else None
            ):
                print(line, flush=True)
    except KeyboardInterrupt as exc:
        print(f"interrupted ({exc}): stopping every process", file=sys.stderr)
        return 130
    finally:
        PROCS.stop_all()
        with contextlib.suppress(OSError):
            shutil.rmtree(run_dir)
    print(f"done in {time.monotonic() - started:.0f} s")
    if args.json:
        for r in results.values():
            r.get("phases", {}).pop("room", None)
        payload = {"machine": info, "settings": settings.__dict__, "systems": results}
        args.json.write_text(json.dumps(payload, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
