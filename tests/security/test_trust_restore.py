"""A restore checks the relay's log against the last head the person verified.

The personal store's ``rooms`` document lists, per room, the last log head one of
the person's devices verified (index and hash; sealed with the person's key, so
the relay can neither read nor forge it). A device restored from the recovery
phrase, or newly linked, fetches each room's log from the relay; a hostile relay
can serve a *prefix* of it, valid in itself, from before a member was removed.
Without the check, the restored device would take that prefix as the room, and
its next message (or rotation) would be sealed under an epoch the removed member
holds, or to the removed member's key.

Here Alice removes Carol, syncs (her device publishes the head after the
removal), and restores on a new device through the hostile proxy, which serves
every page of the room's log and sync cut just before the removal. The restored
device raises a ``fork`` alarm (``log.behind_verified_head``), the room refuses to
send (``RoomBlocked``), and the proxy sees no operation and no message from it:
nothing was signed or sealed for the room, to Carol or anyone.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from client_sdk import HearthClient, Identity, RoomBlocked, SecurityAlarm
from protocol.api import LogEvent, LogPage, PersonalIndex, SyncResponse
from protocol.encoding import from_json, to_json
from protocol.ids import RoomId
from tests.client_sdk.conftest import RelayProcess, link_device
from tests.security.proxy import HostileProxy
from tests.security.test_crash_durability import proxied

__all__ = ["proxied"]


def _serve_prefix(
    proxy: HostileProxy, room: RoomId, cut: int, sent: list[str], *, hide_personal: bool = False
) -> None:
    """Serve ``room``'s log without the operations from index ``cut`` on; note every write.

    With ``hide_personal`` the relay also pretends the person's personal store is
    empty, so a linked device has only the link offer's heads to go by."""
    cut_seq: list[int] = []

    def keep(seq: int) -> bool:
        return not cut_seq or seq < min(cut_seq)

    async def hook(method: str, path: str, status: int, body: bytes) -> bytes:
        if method in ("POST", "PUT") and path.startswith(f"/v1/rooms/{room}"):
            sent.append(f"{method} {path}")
        if status != 200:
            return body
        if hide_personal and method == "GET" and path == "/v1/personal":
            return to_json(PersonalIndex(docs=[]))
        if method == "GET" and path == f"/v1/rooms/{room}/log":
            page = from_json(body, LogPage)
            ops = [op for op in page.ops if op.content.index < cut]
            return to_json(LogPage(ops=ops, more=page.more and len(ops) == len(page.ops)))
        if method == "POST" and path == "/v1/sync":
            answer = from_json(body, SyncResponse)
            rooms = []
            for page in answer.rooms:
                if page.room != room:
                    rooms.append(page)
                    continue
                for e in page.events:
                    if isinstance(e, LogEvent) and e.op.content.index >= cut:
                        cut_seq.append(e.seq)
                events = [e for e in page.events if keep(e.seq)]
                last = max((e.seq for e in events), default=page.low_water)
                rooms.append(msgspec.structs.replace(page, events=events, last_seq=last))
            return to_json(msgspec.structs.replace(answer, rooms=rooms))
        return body

    proxy.on_response = hook


async def _next_alarm(client: HearthClient) -> SecurityAlarm:
    async with asyncio.timeout(15):
        async for event in client.events():
            if isinstance(event, SecurityAlarm):
                return event
    raise AssertionError("the client closed before the alarm")


async def test_a_restore_served_a_log_cut_before_a_removal_raises_and_seals_nothing(
    proxied: tuple[RelayProcess, HostileProxy], tmp_path: Path
) -> None:
    _, proxy = proxied
    alice_id = Identity.generate()
    async with (
        HearthClient(proxy.url, alice_id, store_path=tmp_path / "a.db", live=False) as alice,
        HearthClient(
            proxy.url, Identity.generate(), store_path=tmp_path / "b.db", live=False
        ) as bob,
        HearthClient(
            proxy.url, Identity.generate(), store_path=tmp_path / "c.db", live=False
        ) as carol,
    ):
        room = await alice.create_group("Thursday circle")
        await bob.join(await room.create_invite())
        carol_me = (await carol.join(await room.create_invite())).me
        await alice.sync()
        await room.send("before the removal")
        cut = room._state.log.index + 1  # the removal's index
        await room.remove(carol_me)
        assert carol_me not in room.members
        await room.send("after the removal")
        await alice.sync()  # publishes the head her device verified, past the removal

    sent: list[str] = []
    _serve_prefix(proxy, room.id, cut, sent)
    restored_id = Identity.from_recovery_phrase(alice_id.recovery_phrase)
    async with HearthClient(
        proxy.url, restored_id, store_path=tmp_path / "restored.db", live=False
    ) as restored:
        await restored.sync()
        again = restored.room(room.id)
        alarms = [a for a in again.alarms if a.kind == "fork"]
        assert [a.code for a in alarms] == ["log.behind_verified_head"]
        assert again.blocked
        # The served log still names Carol: a restore without the check would seal to her.
        assert carol_me in again.members
        event = await _next_alarm(restored)
        assert (event.room_id, event.code) == (room.id, "log.behind_verified_head")
        with pytest.raises(RoomBlocked):
            await again.send("written on the restored device")
        # Acknowledging the alarm does not unblock a log behind the verified head.
        await again.acknowledge_alarms()
        with pytest.raises(RoomBlocked):
            await again.send("written on the restored device")
        await restored.sync()
        assert restored.room(room.id).blocked
    assert sent == [], sent


async def test_a_linked_device_checks_the_heads_in_the_link_offer(
    proxied: tuple[RelayProcess, HostileProxy], tmp_path: Path
) -> None:
    """The same attack on a newly linked device, the personal store hidden by the relay:
    the head inside the (sealed) link offer is enough to refuse the prefix."""
    _, proxy = proxied
    alice_id = Identity.generate()
    async with (
        HearthClient(proxy.url, alice_id, store_path=tmp_path / "a.db", live=False) as phone,
        HearthClient(
            proxy.url, Identity.generate(), store_path=tmp_path / "b.db", live=False
        ) as bob,
        HearthClient(
            proxy.url, Identity.generate(), store_path=tmp_path / "c.db", live=False
        ) as carol,
    ):
        room = await phone.create_group("Thursday circle")
        await bob.join(await room.create_invite())
        carol_me = (await carol.join(await room.create_invite())).me
        await phone.sync()
        cut = room._state.log.index + 1
        await room.remove(carol_me)
        await room.send("after the removal")

        sent: list[str] = []
        _serve_prefix(proxy, room.id, cut, sent, hide_personal=True)
        laptop = await link_device(phone, proxy.url, tmp_path / "laptop.db", live=False)
        async with laptop:
            await laptop.sync()
            again = laptop.room(room.id)
            assert [a.code for a in again.alarms] == ["log.behind_verified_head"]
            assert carol_me in again.members  # what the prefix says
            with pytest.raises(RoomBlocked):
                await again.send("written on the laptop")
        assert sent == [], sent
