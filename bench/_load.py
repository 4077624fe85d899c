"""Load-generator worker of ``bench/relay.py``: room members on websockets, in their own process.

The orchestrator starts a few of these (``python bench/_load.py``), each owning some
members of the benchmark room, so that the load runs in processes apart from the
relay and competes with it for the machine's cores the same way for every system.
It speaks newline-delimited JSON: the first line on stdin is the worker's spec,
every further line a command; each command is answered by one JSON line on stdout.

Every member is one websocket. A member both sends (when the phase asks) and
receives everything the relay fans out. A message's id carries its send time
(``time.monotonic_ns``, which is ``CLOCK_MONOTONIC`` and so the same clock in every
process of the machine), its sender, the run and a per-run counter, so a receiver
in another process computes send-to-receive latency from the frame alone, and the
orchestrator can check afterwards that every acknowledged message reached every
other member (bitmaps of counters per sender).

Three dialects, one loop:

* ``hearth``: ``/v1/stream`` frames of docs/api.md with real envelopes
  (``protocol.seal_message``: padded, encrypted, signed).
* ``baseline``: the same frames, to ``bench/baseline_relay.py``, which forwards
  the ``send`` frame itself.
* ``nostr``: NIP-01 ``EVENT``/``OK``/``REQ`` with events signed by aionostr (the
  library nostr-relay verifies them with); this worker then runs in nostr-relay's
  virtual environment, which is why nothing here imports ``protocol`` at the top.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import pathlib
import resource
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect

MAGIC = 0xBE4C
"""Two bytes in every benchmark message id, so stray ids (setup traffic) are ignored."""
_ID = struct.Struct(">QBBHI")  # send time ns, sender, run, magic, counter: 16 bytes
TEXT_BYTES = 1024
_FILLER = ("we are here for each other and it is okay today " * 40)[:TEXT_BYTES]


def make_id(stamp: int, sender: int, run: int, counter: int) -> str:
    raw = _ID.pack(stamp, sender, run & 0xFF, MAGIC, counter)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def parse_id(text: str) -> tuple[int, int, int, int] | None:
    """(stamp, sender, run, counter) of a benchmark id, or None for any other id."""
    if len(text) != 22:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "==")
    except ValueError:
        return None
    stamp, sender, run, magic, counter = _ID.unpack(raw)
    if magic != MAGIC:
        return None
    return stamp, sender, run, counter


# -- latency histogram ----------------------------------------------------------

_LOG_STEP = math.log(1.01)


class Hist:
    """Latencies in 1 % buckets of microseconds: mergeable across processes, small."""

    def __init__(self, counts: dict[int, int] | None = None) -> None:
        self.counts: dict[int, int] = counts or {}

    def add_ns(self, ns: int) -> None:
        us = ns / 1000.0
        bucket = int(math.log(us) / _LOG_STEP) if us > 1.0 else 0
        self.counts[bucket] = self.counts.get(bucket, 0) + 1

    def merge(self, other: Hist) -> None:
        for b, n in other.counts.items():
            self.counts[b] = self.counts.get(b, 0) + n

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def quantile_ms(self, q: float) -> float:
        total = self.total
        if not total:
            return float("nan")
        rank = q * total
        seen = 0
        for b in sorted(self.counts):
            seen += self.counts[b]
            if seen >= rank:
                return math.exp((b + 0.5) * _LOG_STEP) / 1000.0
        return math.nan

    def dump(self) -> dict[str, int]:
        return {str(b): n for b, n in self.counts.items()}

    @classmethod
    def load(cls, data: dict[str, int]) -> Hist:
        return cls({int(b): n for b, n in data.items()})


def set_bit(bits: bytearray, i: int) -> None:
    byte = i >> 3
    if byte >= len(bits):
        bits.extend(bytes(byte - len(bits) + 1024))
    bits[byte] |= 1 << (i & 7)


# -- frames ---------------------------------------------------------------------


class _Header(msgspec.Struct):
    id: str


class _Envelope(msgspec.Struct):
    header: _Header


class _Event(msgspec.Struct):
    envelope: _Envelope | None = None


class _Frame(msgspec.Struct):
    """Every Hearth server frame (and the baseline's forwarded ``send``), lightly."""

    type: str
    id: str | None = None
    event: _Event | None = None
    events: list[_Event] | None = None
    envelope: _Envelope | None = None
    code: str | None = None


_frame_decoder = msgspec.json.Decoder(_Frame)
_any_decoder = msgspec.json.Decoder()


class Dialect:
    """How one system's frames are built and read."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    async def open(self, ws: ClientConnection, member: dict[str, Any]) -> None:
        raise NotImplementedError

    def build(self, member: Member, mid: str, counter: int) -> tuple[str, str]:
        """(frame text, key the acknowledgement will name)."""
        raise NotImplementedError

    def read(self, text: str | bytes) -> list[tuple[str, str | None, str | None]]:
        """[(kind, message id or ack key, error code)]: kind is ack, error, msg or other.

        One entry per message a frame names (a Hearth ``events`` frame names several).
        """
        raise NotImplementedError


class HearthDialect(Dialect):
    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        # Run as a script, bench/ is first on sys.path and bench/protocol.py would
        # shadow the protocol package: put the repository in front.
        sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
        from protocol import RoomId, RootSeed, seal_message, to_json  # noqa: PLC0415 - absent from the other venv
        from protocol.api import SendFrame  # noqa: PLC0415 - absent from the other venv
        from protocol.messages import Plaintext, TextBody  # noqa: PLC0415 - absent from the other venv

        self._seal = seal_message
        self._to_json = to_json
        self._send_frame = SendFrame
        self._plaintext = Plaintext
        self._body = TextBody(text=_FILLER)
        self._room = RoomId(spec["room"])
        self._keys = {
            m["index"]: RootSeed(bytes.fromhex(m["root"])).room_keys(self._room)
            for m in spec["members"]
        }

    async def open(self, ws: ClientConnection, member: dict[str, Any]) -> None:
        # As the SDK does: live events may come several to a frame.
        await ws.send(json.dumps({"type": "auth", "tokens": [member["token"]], "batch": True}))
        ready = _frame_decoder.decode(await ws.recv())
        if ready.type != "ready":
            raise RuntimeError(f"stream refused: {ready.type} {ready.code}")
        positions = {self.spec["room"]: self.spec["position"]}
        await ws.send(json.dumps({"type": "subscribe", "positions": positions}))

    def build(self, member: Member, mid: str, counter: int) -> tuple[str, str]:
        m = member.spec
        member.device_counter += 1
        plaintext = self._plaintext(
            device=member.device,
            counter=member.device_counter,
            sent_at=time.time_ns() // 1_000_000,
            body=self._body,
        )
        envelope = self._seal(
            self._keys[m["index"]],
            plaintext,
            epoch=m["epoch"],
            epoch_secret=bytes.fromhex(m["secret"]),
            head_index=m["head_index"],
            head=bytes.fromhex(m["head"]),
            message_id=mid,
        )
        return self._to_json(self._send_frame(envelope=envelope)).decode(), mid

    def read(self, text: str | bytes) -> list[tuple[str, str | None, str | None]]:
        f = _frame_decoder.decode(text)
        if f.type == "event":
            env = f.event.envelope if f.event is not None else None
            return [("msg", env.header.id, None) if env is not None else ("other", None, None)]
        if f.type == "events" and f.events is not None:
            return [
                ("msg", e.envelope.header.id, None)
                if e.envelope is not None
                else ("other", None, None)
                for e in f.events
            ]
        if f.type == "send" and f.envelope is not None:  # the baseline forwards sends
            return [("msg", f.envelope.header.id, None)]
        if f.type == "ack":
            return [("ack", f.id, None)]
        if f.type == "error":
            return [("error", f.id, f.code)]
        return [("other", None, None)]


class NostrDialect(Dialect):
    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        from aionostr.event import Event  # noqa: PLC0415 - absent from the other venv
        from aionostr.key import PrivateKey  # noqa: PLC0415 - absent from the other venv

        self._event = Event
        self._keys = {m["index"]: PrivateKey(bytes.fromhex(m["privkey"])) for m in spec["members"]}
        self._pubs = {i: k.public_key.hex() for i, k in self._keys.items()}
        self._channel = spec["channel"]

    async def open(self, ws: ClientConnection, member: dict[str, Any]) -> None:
        # since=now: live events only, no replay of what the room already holds.
        flt = {"kinds": [42], "#e": [self._channel], "since": int(time.time())}
        await ws.send(json.dumps(["REQ", "room", flt]))
        while True:
            frame = _any_decoder.decode(await ws.recv())
            if frame and frame[0] == "EOSE":
                return

    def build(self, member: Member, mid: str, counter: int) -> tuple[str, str]:
        i = member.spec["index"]
        content = mid + "|" + _FILLER[: TEXT_BYTES - len(mid) - 1]
        event = self._event(
            pubkey=self._pubs[i],
            content=content,
            kind=42,
            tags=[["e", self._channel, "", "root"]],
        )
        self._keys[i].sign_event(event)
        return json.dumps(["EVENT", event.to_json_object()]), event.id

    def read(self, text: str | bytes) -> list[tuple[str, str | None, str | None]]:
        frame = _any_decoder.decode(text)
        kind = frame[0]
        if kind == "EVENT":
            return [("msg", frame[2]["content"][:22], None)]
        if kind == "OK":
            if frame[2]:
                return [("ack", frame[1], None)]
            return [("error", frame[1], str(frame[3])[:60])]
        return [("other", None, None)]


# -- members --------------------------------------------------------------------


class Run:
    """What one worker records during one timed run."""

    def __init__(self, number: int, start_ns: int, end_ns: int, record: bool) -> None:
        self.number = number
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.record = record
        self.ack = Hist()
        self.deliver = Hist()
        self.acked_in_window = 0
        self.delivered_in_window = 0
        self.sent = 0
        self.errors: dict[str, int] = {}
        self.acked: dict[int, bytearray] = {}
        """Sender index -> bitmap of acknowledged counters."""
        self.received: dict[int, dict[int, bytearray]] = {}
        """Receiver index -> sender index -> bitmap of received counters."""
        self.stray = 0

    def in_window(self, ns: int) -> bool:
        return self.start_ns <= ns < self.end_ns

    def result(self) -> dict[str, Any]:
        def b64(bits: bytearray) -> str:
            return base64.b64encode(bytes(bits)).decode("ascii")

        return {
            "ack": self.ack.dump(),
            "deliver": self.deliver.dump(),
            "acked_in_window": self.acked_in_window,
            "delivered_in_window": self.delivered_in_window,
            "sent": self.sent,
            "errors": self.errors,
            "acked": {str(s): b64(b) for s, b in self.acked.items()},
            "received": {
                str(r): {str(s): b64(b) for s, b in by.items()} for r, by in self.received.items()
            },
            "stray": self.stray,
        }


class Member:
    def __init__(self, worker: Worker, spec: dict[str, Any]) -> None:
        self.worker = worker
        self.spec = spec
        self.index: int = spec["index"]
        self.ws: ClientConnection | None = None
        self.pending: dict[str, tuple[int, int]] = {}
        """Ack key -> (send stamp, counter)."""
        self.window = asyncio.Semaphore(worker.window)
        self.device = os.urandom(16)
        self.device_counter = 0
        self.reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self.ws = await connect(
            self.worker.url,
            compression=None,
            max_size=2**22,
            ping_interval=None,
            open_timeout=60,
            close_timeout=2,
            max_queue=None,
        )
        await self.worker.dialect.open(self.ws, self.spec)
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        assert self.ws is not None
        dialect, worker = self.worker.dialect, self.worker
        async for text in self.ws:
            now = time.monotonic_ns()
            worker.frames += 1
            for kind, key, code in dialect.read(text):
                run = worker.run
                if kind == "msg" and key is not None:
                    parsed = parse_id(key)
                    if parsed is None or run is None:
                        continue
                    stamp, sender, number, counter = parsed
                    if number != run.number & 0xFF:
                        run.stray += 1
                        continue
                    if sender == self.index:
                        continue  # our own message echoed back: not a delivery to another
                    by = run.received.setdefault(self.index, {})
                    bits = by.get(sender)
                    if bits is None:
                        bits = by[sender] = bytearray(1024)
                    set_bit(bits, counter)
                    if run.record:
                        if run.in_window(now):
                            run.delivered_in_window += 1
                        if run.in_window(stamp):
                            run.deliver.add_ns(now - stamp)
                elif kind in ("ack", "error") and key is not None:
                    entry = self.pending.pop(key, None)
                    if entry is None or run is None:
                        continue
                    stamp, counter = entry
                    if kind == "ack":
                        bits = run.acked.get(self.index)
                        if bits is None:
                            bits = run.acked[self.index] = bytearray(1024)
                        set_bit(bits, counter)
                        if run.record:
                            if run.in_window(now):
                                run.acked_in_window += 1
                            if run.in_window(stamp):
                                run.ack.add_ns(now - stamp)
                    else:
                        run.errors[code or "?"] = run.errors.get(code or "?", 0) + 1
                    self.window.release()

    async def send_one(self, run: Run, counter: int) -> None:
        assert self.ws is not None
        stamp = time.monotonic_ns()
        mid = make_id(stamp, self.index, run.number, counter)
        frame, key = self.worker.dialect.build(self, mid, counter)
        self.pending[key] = (stamp, counter)
        run.sent += 1
        await self.ws.send(frame)

    async def saturate(self, run: Run, limit: int | None) -> None:
        counter = 0
        while time.monotonic_ns() < run.end_ns and (limit is None or counter < limit):
            await self.window.acquire()
            if time.monotonic_ns() >= run.end_ns:
                self.window.release()
                break
            await self.send_one(run, counter)
            counter += 1

    async def paced(self, run: Run, rate: float, offset: float) -> None:
        interval = 1.0 / rate
        k = 0
        while True:
            due = run.start_ns + int((offset + k * interval) * 1e9)
            if due >= run.end_ns:
                return
            delay = (due - time.monotonic_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            await self.send_one(run, k)
            k += 1


class Worker:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.url: str = spec["url"]
        self.window: int = spec.get("window", 1)
        kinds: dict[str, Callable[[dict[str, Any]], Dialect]] = {
            "hearth": HearthDialect,
            "baseline": HearthDialect,
            "nostr": NostrDialect,
        }
        self.dialect = kinds[spec["system"]](spec)
        self.members = [Member(self, m) for m in spec["members"]]
        self.idle: list[ClientConnection] = []
        self.run: Run | None = None
        self.frames = 0

    async def connect(self) -> dict[str, Any]:
        await asyncio.gather(*(m.connect() for m in self.members))
        return {"ok": True}

    async def do_run(self, cmd: dict[str, Any]) -> dict[str, Any]:
        start_ns = int(cmd["start"] * 1e9)
        end_ns = start_ns + int(cmd["duration"] * 1e9)
        run = Run(cmd["run"], start_ns, end_ns, cmd.get("record", True))
        self.run = run
        senders = [m for m in self.members if m.spec.get("send", True)]
        await asyncio.sleep(max(0.0, (start_ns - time.monotonic_ns()) / 1e9))
        if cmd["mode"] == "paced":
            total = cmd["senders_total"]
            rate = cmd["rate"] / total
            tasks = [m.paced(run, rate, m.index / cmd["rate"]) for m in senders]
        else:
            limits = cmd.get("limits") or {}
            tasks = [m.saturate(run, limits.get(str(m.index))) for m in senders]
        await asyncio.gather(*tasks)
        # Drain: wait for outstanding acks, then for the fan-out to go quiet.
        deadline = time.monotonic() + cmd.get("drain", 15.0)
        while any(m.pending for m in self.members) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        unacked = sum(len(m.pending) for m in self.members)
        for m in self.members:
            m.pending.clear()
            m.window = asyncio.Semaphore(self.window)
        quiet = time.monotonic()
        seen = self.frames
        while time.monotonic() < deadline and time.monotonic() - quiet < 0.5:
            await asyncio.sleep(0.05)
            if self.frames != seen:
                seen, quiet = self.frames, time.monotonic()
        result = run.result()
        result["unacked"] = unacked
        return result

    async def open_idle(self, count: int) -> dict[str, Any]:
        members = self.spec["members"]
        sem = asyncio.Semaphore(64)  # handshakes in flight at once
        failures = 0
        local = self.spec.get("local_hosts", ["127.0.0.1"])

        async def one(i: int) -> None:
            nonlocal failures
            async with sem:
                try:
                    ws = await connect(
                        self.url,
                        compression=None,
                        ping_interval=None,
                        open_timeout=60,
                        close_timeout=1,
                        local_addr=(local[i % len(local)], 0),
                    )
                    await self.dialect.open(ws, members[i % len(members)])
                    self.idle.append(ws)
                except Exception as exc:
                    failures += 1
                    print(f"idle connection failed: {exc!r}", file=sys.stderr)

        base = len(self.idle)
        await asyncio.gather(*(one(base + i) for i in range(count)))
        return {"ok": failures == 0, "open": len(self.idle), "failures": failures}

    async def close(self) -> None:
        conns = [m.ws for m in self.members if m.ws is not None] + self.idle
        for chunk in range(0, len(conns), 200):
            await asyncio.gather(
                *(c.close() for c in conns[chunk : chunk + 200]), return_exceptions=True
            )


async def main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = asyncio.get_running_loop()
    readline = sys.stdin.readline
    spec = json.loads(await loop.run_in_executor(None, readline))
    worker = Worker(spec)

    def answer(obj: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    while True:
        line = await loop.run_in_executor(None, readline)
        if not line:
            break
        cmd = json.loads(line)
        try:
            if cmd["cmd"] == "connect":
                answer(await worker.connect())
            elif cmd["cmd"] == "run":
                answer(await worker.do_run(cmd))
            elif cmd["cmd"] == "idle":
                answer(await worker.open_idle(cmd["count"]))
            elif cmd["cmd"] == "quit":
                break
        except Exception as exc:
            answer({"ok": False, "error": repr(exc)})
    await worker.close()
    answer({"ok": True, "bye": True})


if __name__ == "__main__":
    asyncio.run(main())
