"""A real relay for the SDK's integration tests: ``hearth serve`` in a subprocess.

The relay runs exactly as an operator runs it (its own process, uvicorn, SQLite
in a temporary data directory) on a free port, so the tests cross real sockets
and a real database. Rate limits are raised and the proof of work lowered (but
not switched off) so a test can create several rooms from one address quickly.
:class:`RelayProcess` can stop and start the relay on the same port and data
directory, which is how the restart tests take it down mid-conversation.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from client_sdk import HearthClient, Room
from client_sdk.client import _RoomHost

_FAST_RATES = {
    f"HEARTH_RATE_{bucket}": "1000/5000"
    for bucket in ("SEND", "JOIN", "AUTH", "REGISTER", "SUBSCRIBE", "REQUEST")
}


def client_of(room: Room) -> HearthClient:
    """The client a room belongs to, for tests that reach below the public API."""
    host = room._host
    assert isinstance(host, _RoomHost)
    return host._client


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RelayProcess:
    """A ``hearth serve`` subprocess on a fixed port and data directory."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        log_level: str = "warning",
        **env: str,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.host = host
        self.log_level = log_level
        self.url = f"http://{host}:{self.port}"
        self.env = {**os.environ, **_FAST_RATES, "HEARTH_POW_DIFFICULTY": "6", **env}
        self.log = data_dir.parent / f"relay-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self._proc is None, "already running"
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "import sys; from server.cli import main; sys.exit(main())",
                    "serve",
                    "--host",
                    self.host,
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                    "--log-level",
                    self.log_level,
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"relay exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("relay did not answer /healthz within 20 s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """``kill -9``: no shutdown, no flush; what a power cut leaves is what stays."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayProcess]:
    data = tmp_path / "relay-data"
    data.mkdir()
    process = RelayProcess(data)
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def link_device(
    old: HearthClient, base_url: str, store_path: Path, **options: Any
) -> HearthClient:
    """Link a new device to ``old``'s identity as a person would: compare, then confirm.

    Returns the new device's client, not yet opened.
    """
    offer = await old.offer_device_link()
    pending = await HearthClient.begin_device_link(
        base_url, offer.code, store_path=store_path, **options
    )
    assert await offer.claimant_code() == pending.short_code  # both screens agree
    await offer.confirm()
    return await pending.finish()
