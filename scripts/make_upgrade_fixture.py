"""Write the upgrade fixture: a relay data directory as the previous release leaves it.

Usage, from a checkout of this repository (the previous release is a commit)::

    git archive PREVIOUS_COMMIT | tar -x -C /tmp/previous
    PYTHONPATH=/tmp/previous python scripts/make_upgrade_fixture.py DEST_DIR

It runs the *importable* Hearth (so the previous release's, through PYTHONPATH):
a ``hearth serve`` subprocess on a fresh data directory, two members (the
identities of the recovery phrases below, throwaway keys made for this fixture)
in one group, a few messages each and a personal-store sync; then it stops the
relay cleanly (the WAL is folded into the file) and writes ``hearth.db``, vacuumed,
into ``DEST_DIR``. ``tests/server/test_upgrade.py`` opens it with the current relay.

The committed fixture, ``tests/server/fixtures/upgrade-schema4/hearth.db``, was
written by commit 73c2b7e (SQLite schema 4, protocol version 2), the last before
schema 5. It holds only what a relay holds: ciphertext and pseudonymous keys of
these two throwaway identities, and the relay's token secret for it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from client_sdk import HearthClient, Identity

PHRASES = {
    "ana": "P35Y-H24P-YA0X-7T47-PDY1-A21B-6S52-9CQE-1JQX-5R73-PHCF-3Z2D-YSSR-3CEP",
    "ben": "GRJB-YYZW-PHFY-3Z2Y-HKD7-7P89-Y0EM-V6ZX-B0J1-Q9E6-WRK7-13MW-7FKW-MTYM",
}
"""Made by a run with ``--new`` and kept: the upgrade test restores from them."""

TEXTS = {"ana": ["first, before the upgrade", "third"], "ben": ["second", "fourth"]}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HEARTH_POW_DIFFICULTY": "4"}
    proc = subprocess.Popen(  # noqa: S603 - our own relay, argv fixed here
        [
            sys.executable,
            "-c",
            "import sys; from server.cli import main; sys.exit(main())",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the relay did not start")


async def _populate(url: str, store: Path, phrases: dict[str, str]) -> None:
    ana_id = Identity.from_recovery_phrase(phrases["ana"])
    ben_id = Identity.from_recovery_phrase(phrases["ben"])
    async with (
        HearthClient(url, ana_id, store_path=store / "ana.db", live=False) as ana,
        HearthClient(url, ben_id, store_path=store / "ben.db", live=False) as ben,
    ):
        room = await ana.create_group("Upgrade circle")
        joined = await ben.join(await room.create_invite())
        await ana.sync()
        for i in range(2):
            await room.send(TEXTS["ana"][i])
            await joined.send(TEXTS["ben"][i])
        await ana.sync()
        await ben.sync()


def main() -> int:
    if sys.argv[1:2] == ["--new"]:
        for name in PHRASES:
            print(name, Identity.generate().recovery_phrase)
        return 0
    dest = Path(sys.argv[1])
    if not all(PHRASES.values()):
        raise SystemExit("fill PHRASES from a run with --new first")
    with tempfile.TemporaryDirectory() as tmp:
        data, store = Path(tmp) / "data", Path(tmp) / "store"
        store.mkdir()
        port = _free_port()
        proc = _start(data, port)
        try:
            asyncio.run(_populate(f"http://127.0.0.1:{port}", store, PHRASES))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        with sqlite3.connect(data / "hearth.db") as db:
            db.execute("VACUUM")
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "hearth.db").write_bytes((data / "hearth.db").read_bytes())
    print(f"wrote {dest / 'hearth.db'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
