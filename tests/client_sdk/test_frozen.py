"""A room the operator froze (``hearth admin freeze``): the SDK says so with a typed error.

The relay process runs on its data directory; the operator's command writes the
freeze into that database beside it, as an operator does.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from client_sdk import HearthClient, Identity, RelayError
from tests.client_sdk.conftest import RelayProcess


def _admin(relay: RelayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from server.cli import main; sys.exit(main())",
            "admin",
            *args,
            "--data-dir",
            str(relay.data_dir),
        ],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ,
        timeout=60,
    )


async def test_send_in_a_frozen_room_raises_room_frozen(
    relay: RelayProcess, tmp_path: Path
) -> None:
    async with HearthClient(
        relay.url, Identity.generate(), store_path=tmp_path / "a.db", live=False
    ) as client:
        room = await client.create_group("Night shift")
        await room.send("before")
        done = await asyncio.to_thread(_admin, relay, "freeze", room.id)
        assert done.returncode == 0, done.stderr
        assert f"room {room.id} frozen by the operator" in done.stderr  # logged

        with pytest.raises(RelayError) as caught:
            await room.send("during")
        assert (caught.value.code, caught.value.status) == ("room.frozen", 423)
        assert not caught.value.retryable
        assert await room.pending() == 0  # refused for good, not queued forever

        done = await asyncio.to_thread(_admin, relay, "unfreeze", room.id)
        assert done.returncode == 0, done.stderr
        await room.send("after")
        texts = [m.text for m in await room.messages(limit=10)]
    assert texts == ["before", "after"]  # the refused one is not shown as sent
