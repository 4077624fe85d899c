"""The TypeScript SDK as a peer of the Python tests: ``node js/sdk/scripts/peer.mjs``.

The cross-language tests hold a conversation between the Python SDK (in the test's
own event loop) and the TypeScript SDK (a Node process driven by JSON lines, the
mirror of ``tests/interop/peer.py``) through a real ``hearth serve``, and play the
hostile relay of ``tests/security/proxy.py`` against the TypeScript SDK. They need
Node 20 or later; without it they skip, saying so. The SDK is built once per run
(``npm ci`` when ``js/node_modules`` is missing or older than the lockfile, then
``tsc``), so the peer runs what a front end would install.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
JS = ROOT / "js"
SDK = JS / "sdk"
PEER = SDK / "scripts" / "peer.mjs"
PY_PEER = Path(__file__).resolve().parent / "peer.py"
# HEARTH_INTEROP_PEER=python runs these tests with the Python SDK in the peer's place:
# the control that shows a scenario's checks hold for the reference SDK.
PEER_LANGUAGE = os.environ.get("HEARTH_INTEROP_PEER", "typescript")


def node_version() -> tuple[int, ...] | None:
    """The installed Node's version, or None if there is no ``node``."""
    node = shutil.which("node")
    if node is None:
        return None
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.match(r"v(\d+)\.(\d+)", out.strip())
    return tuple(int(x) for x in found.groups()) if found else None


def require_node() -> None:
    """Skip, saying why, unless Node 20+ and npm are here."""
    version = node_version()
    if version is None or shutil.which("npm") is None:
        pytest.skip("Node.js 20+ and npm are not installed: the TypeScript SDK's tests skip")
    if version < (20,):
        pytest.skip(f"Node.js {version[0]} is too old for the TypeScript SDK (20+): its tests skip")


def install_js() -> None:
    """``npm ci`` in js/ when its node_modules is missing or older than the lockfile."""
    stamp = JS / "node_modules" / ".package-lock.json"
    lock = JS / "package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS, check=True)


@pytest.fixture(scope="session")
def typescript_sdk() -> Path:
    """Node is here, dependencies are installed and the SDK is built into js/sdk/dist."""
    if PEER_LANGUAGE == "python":
        return SDK
    require_node()
    install_js()
    subprocess.run(["npm", "run", "build"], cwd=SDK, check=True, capture_output=True)
    return SDK


class PeerError(Exception):
    """A command the TypeScript peer refused: ``code`` is the SDK's stable error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message


class TsPeer:
    """One person using the TypeScript SDK, in a Node process."""

    def __init__(self, process: asyncio.subprocess.Process, phrase: str) -> None:
        self.process = process
        self.phrase = phrase
        """The identity's recovery phrase (for a test that restores it in Python)."""
        self.short_code: str | None = None
        """A peer started with ``link=``: the short code its screen shows."""
        self._lock = asyncio.Lock()

    async def call(self, op: str, timeout: float = 60, **args: Any) -> Any:
        """Run one command; its result, or :class:`PeerError` with the SDK's code."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        async with self._lock:
            self.process.stdin.write((json.dumps({"op": op, **args}) + "\n").encode())
            await self.process.stdin.drain()
            async with asyncio.timeout(timeout):
                line = await self.process.stdout.readline()
        if not line:
            raise PeerError("peer.exited", f"the TypeScript peer exited during {op}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise PeerError(answer["code"], answer["message"])
        return answer["result"]

    async def finish_link(self) -> None:
        """A peer started with ``link=``: wait for the confirmation, open the linked client."""
        self.phrase = (await self.call("finish_link"))["phrase"]

    async def close(self) -> None:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            with contextlib.suppress(BrokenPipeError, ConnectionError):
                self.process.stdin.write(b'{"op": "close"}\n')
                await self.process.stdin.drain()
            try:
                async with asyncio.timeout(10):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


TsPeerFactory = Callable[..., Awaitable[TsPeer]]


@pytest.fixture
async def ts_peer(typescript_sdk: Path, tmp_path: Path) -> AsyncIterator[TsPeerFactory]:
    """Start TypeScript peers: ``await ts_peer(relay_url, phrase=None, live=True)``.

    With ``live=False`` the peer follows no live stream: it learns of the room only
    when told to ``sync``, so a test (a hostile relay's) orders every exchange. With
    ``link=code`` the peer is a new device that begins that device link: its
    ``short_code`` is set, and ``await peer.finish_link()`` opens the linked client
    (a link the relay refuses raises :class:`PeerError` with the link's code).
    """
    peers: list[TsPeer] = []

    async def start(
        relay: str,
        *,
        phrase: str | None = None,
        name: str = "ts",
        live: bool = True,
        link: str | None = None,
    ) -> TsPeer:
        directory = tmp_path / f"{name}-{len(peers)}"
        args = [str(PEER), "--relay", relay, "--dir", str(directory)]
        if phrase is not None:
            args += ["--phrase", phrase]
        if not live:
            args.append("--no-live")
        if link is not None:
            args += ["--link", link]
        if PEER_LANGUAGE == "python":
            program, args = sys.executable, [str(PY_PEER), *args[1:]]
        else:
            program = shutil.which("node") or "node"
        process = await asyncio.create_subprocess_exec(
            program,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        assert process.stdout is not None
        async with asyncio.timeout(60):
            hello = json.loads(await process.stdout.readline())
        peer = TsPeer(process, hello["result"].get("phrase", "") if hello["ok"] else "")
        peers.append(peer)
        if not hello["ok"]:
            raise PeerError(hello["code"], hello["message"])
        peer.short_code = hello["result"].get("short_code")
        return peer

    yield start
    for peer in peers:
        await peer.close()
