"""``hearth serve`` as a real process: startup, restarts, signals, logs that keep secrets."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from protocol import ManualClock
from protocol.api import MessageAck, MessageEvent, SyncResponse
from protocol.encoding import from_json
from tests.server.helpers import create, free_port, join, post, send

STARTUP = 30.0


class Served:
    """A running ``hearth serve`` and an HTTP client to it."""

    def __init__(self, proc: subprocess.Popen[bytes], http: httpx.AsyncClient, banner: str) -> None:
        self.proc = proc
        self.http = http
        self.banner = banner


@asynccontextmanager
async def serve(
    data: Path, port: int, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[Served]:
    environ = {**os.environ, "HEARTH_POW_DIFFICULTY": "4", **(env or {})}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environ,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), STARTUP)
        assert b"listening on http://127.0.0.1:" in line, line + (
            proc.stderr.read() if proc.stderr else b""
        )
        banner = line.decode()
        while not banner.endswith("Press Ctrl+C to stop\n"):
            hint = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), STARTUP)
            assert hint, banner
            banner += hint.decode()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield Served(proc, http, banner)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> tuple[int, str, str]:
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out.decode(), err.decode()


async def test_serve_answers_and_stops_on_sigint(tmp_path: Path) -> None:
    port = free_port()
    async with serve(tmp_path / "data", port) as relay:
        assert relay.banner.splitlines() == [
            f"Hearth relay listening on http://127.0.0.1:{port}",
            f"Web app: open http://127.0.0.1:{port}/ in a browser",
            "Press Ctrl+C to stop",
        ]
        assert (await relay.http.get("/healthz")).json() == {"status": "ok"}
        assert (await relay.http.get("/readyz")).json() == {"status": "ok"}
        r = await relay.http.get("/healthz")
        assert "server" not in r.headers
        code, out, err = stop(relay.proc, signal.SIGINT)
    assert code == 0, err
    assert "Hearth relay stopped" in out
    assert "Traceback" not in err


async def test_restart_keeps_every_acknowledged_message_across_sigterm(tmp_path: Path) -> None:
    """Sends race a SIGTERM; every message acknowledged before the stop survives it."""
    clock = ManualClock()
    data = tmp_path / "data"
    port = free_port()
    acked: list[MessageAck] = []
    async with serve(data, port) as relay:
        room, token = await create(relay, clock)

        async def sender(n: int) -> None:
            for i in range(200):
                envelope = room.send("owner", f"msg {n}.{i}")
                try:
                    r = await post(relay.http, f"/v1/rooms/{room.room}/messages", envelope, token)
                except httpx.HTTPError:
                    return
                if r.status_code != 200:
                    return
                acked.append(from_json(r.content, MessageAck))

        tasks = [asyncio.create_task(sender(n)) for n in range(3)]
        while len(acked) < 30:
            await asyncio.sleep(0.01)
        code, _, err = await asyncio.to_thread(stop, relay.proc)
        await asyncio.gather(*tasks)
    assert code == 0, err
    assert "Traceback" not in err
    # The database is consistent and holds every acknowledged message.
    with sqlite3.connect(data / "hearth.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    async with serve(data, port) as relay:
        r = await post(relay.http, "/v1/sync", {"positions": {room.room: 0}, "limit": 1000}, token)
        events = from_json(r.content, SyncResponse).rooms[0].events
        stored = {e.envelope.header.id: e.seq for e in events if isinstance(e, MessageEvent)}
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        for ack in acked:
            assert stored.get(ack.id) == ack.seq
        # and the relay goes on numbering where it stopped
        after = await send(relay, room, "owner", token, "after the restart")
        assert after.seq == len(events) + 1
        stop(relay.proc)


async def test_logs_and_database_hold_no_secrets(tmp_path: Path) -> None:
    """A realistic session, then every log line and every database byte is searched."""
    clock = ManualClock()
    data = tmp_path / "data"
    secrets = ["I have been feeling hopeless since March", "my sponsor's number is 555-0199"]
    async with serve(data, free_port(), env={"HEARTH_LOG_LEVEL": "info"}) as relay:
        room, token = await create(relay, clock)
        bob = await join(relay, room, token, "bob")
        for text in secrets:
            await send(relay, room, "bob", bob, text)
        await relay.http.post(f"/v1/rooms/{room.room}/blobs", content=b"attachment ciphertext")
        await relay.http.get("/v1/crisis?token=" + token)
        await relay.http.get("/v1/nothing")
        code, out, err = stop(relay.proc)
    assert code == 0
    logs = out + err
    for needle in [token, bob, room.member("owner"), room.member("bob"), "127.0.0.1:"]:
        assert needle not in err, needle
    assert "127.0.0.1" not in err
    dump = b""
    with sqlite3.connect(data / "hearth.db") as db:
        dump = "\n".join(db.iterdump()).encode()
    raw = b"".join(p.read_bytes() for p in data.iterdir() if p.is_file())
    for text in secrets:
        assert text.encode() not in dump
        assert text.encode() not in raw
        assert text not in logs
    for t in (token, bob):
        assert t.encode() not in dump
        assert t.encode() not in raw


@pytest.mark.parametrize(("choice", "loop"), [("auto", "uvloop"), ("asyncio", "asyncio")])
async def test_the_event_loop_is_uvloop_unless_asked_otherwise(
    tmp_path: Path, choice: str, loop: str
) -> None:
    port = free_port()
    async with serve(tmp_path / "data", port, env={"HEARTH_EVENT_LOOP": choice}) as relay:
        assert (await relay.http.get("/readyz")).json() == {"status": "ok"}
        code, _, err = stop(relay.proc)
    assert code == 0, err
    assert f"event loop: {loop}" in err


_NO_CRISIS_LINES = "WARNING hearth: no crisis lines are configured for any region"


async def test_serve_warns_at_start_when_no_crisis_line_is_configured(tmp_path: Path) -> None:
    async with serve(tmp_path / "data", free_port()) as relay:
        code, _, err = stop(relay.proc)
    assert code == 0, err
    [line] = [line for line in err.splitlines() if _NO_CRISIS_LINES in line]
    # It names what to set and where the operator's guide explains it.
    assert "[[crisis]]" in line
    assert "the `crisis` key" in line
    assert 'docs/operator.md, "Crisis lines"' in line
    assert "## Crisis lines" in (Path(__file__).parents[2] / "docs" / "operator.md").read_text()

    config = tmp_path / "hearth.toml"
    config.write_text('[[crisis]]\nname = "A line"\nregions = ["GB"]\nphone = "555 0100"\n')
    async with serve(tmp_path / "data", free_port(), env={"HEARTH_CONFIG": str(config)}) as relay:
        assert len((await relay.http.get("/v1/crisis")).json()) == 1
        code, _, err = stop(relay.proc)
    assert code == 0, err
    assert "crisis" not in err


def test_bad_config_is_reported_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "hearth.toml"
    config.write_text('create_policy = "sometimes"\n')
    r = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert r.returncode == 2
    assert "create_policy must be one of" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_bad_allowed_origin_flag_is_reported_without_traceback() -> None:
    r = subprocess.run(
        [
            sys.executable,
            *("-m", "server.cli", "serve"),
            *("--allowed-origins", "https://app.example, https://app.example/chat"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert r.returncode == 2
    assert "allowed_origins" in r.stderr
    assert "'https://app.example/chat'" in r.stderr  # the flag's second entry, named
    assert "Traceback" not in r.stderr


def test_version() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "server.cli", "version"], capture_output=True, text=True, check=True
    )
    assert r.stdout.strip() == "0.1.0"
