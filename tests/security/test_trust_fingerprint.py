"""A relay keeps two groups of members apart; the room fingerprint tells them.

A fork alarm needs something of one history to reach a member who holds the
other: a message naming a head it cannot place, or an operation at an index it
already holds. A relay that serves each group only its own history, and never a
message of the other group, raises no alarm at all. Each group goes on talking in
what it takes for the whole room.

Here four people (the public SDK, ``live=False`` so every exchange is an HTTP
call the test orders) share a room through :class:`HostileProxy` in front of a
real ``hearth serve``. Alice and Bob are one group, Carol and Dan the other. At
the split Alice rotates the room's key and the two of them talk on; the relay
serves Carol and Dan a history that ends before Alice's operation (a withheld
operation), or that holds at the same index an operation signed by Dan, a member
who colludes with the relay (a fork at one index, the case where even the index
gives nothing away). Every answer to Carol and Dan is the real relay's answer cut
off at the split: contiguous sequence numbers, no counter gap, nothing to alarm
on.

The room fingerprint (:meth:`client_sdk.Room.fingerprint`, ``protocol.keys.
room_fingerprint``) is what the two groups compare out of band: it agrees within
each group and differs between them, while all four agree in the honest room
before the split. Where the groups stand at different indices, the member ahead
computes the fingerprint at the other's index and they agree there: the relay
withheld what came after, which a sync does not cure.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import msgspec
import pytest

from client_sdk import HearthClient, Identity, Room, RoomFingerprint
from protocol import RoomKeys, RoomLog, sign_op
from protocol.api import LogEvent, LogPage, RoomEvent, SyncResponse
from protocol.encoding import from_json, to_json
from protocol.epochs import make_commit
from protocol.ids import RoomId
from protocol.ops import RotateOp, SignedOp
from tests.client_sdk.conftest import RelayProcess
from tests.security.proxy import HostileProxy
from tests.security.test_crash_durability import proxied
from tests.security.test_trust_invites import stored_log

__all__ = ["proxied"]

GROUP_A = ("alice", "bob")
GROUP_B = ("carol", "dan")


@pytest.fixture
async def world(
    proxied: tuple[RelayProcess, HostileProxy], tmp_path: Path
) -> AsyncIterator[tuple[RelayProcess, HostileProxy, dict[str, HearthClient]]]:
    relay, proxy = proxied
    async with AsyncExitStack() as stack:
        people = {}
        for name in (*GROUP_A, *GROUP_B):
            client = HearthClient(
                proxy.url, Identity.generate(), store_path=tmp_path / f"{name}.db", live=False
            )
            people[name] = await stack.enter_async_context(client)
        yield relay, proxy, people


def _colluding_rotate(log: RoomLog, keys: RoomKeys) -> SignedOp:
    """A genuine rotate by a member, for the next index of ``log``, sealed to every member."""
    recipients = {m: member.box_key for m, member in log.members.items()}
    commit, _ = make_commit(
        room=log.room, epoch=log.epoch + 1, prev=log.head, recipients=recipients
    )
    at = time.time_ns() // 1_000_000
    return sign_op(keys, index=log.index + 1, prev=log.head, at=at, body=RotateOp(commit=commit))


class Partition:
    """The relay's view for one group: the real history, cut off at ``split``.

    Operations at indices up to ``split - 1`` pass. The operation at ``split`` is
    dropped (``forged`` None) or replaced by ``forged``; every event after it in
    the room's sequence belongs to the other group and is never served. Sequence
    numbers stay contiguous and ``last_seq`` ends where the served events end.
    """

    def __init__(self, room: RoomId, split: int, forged: SignedOp | None) -> None:
        self.room = room
        self.split = split
        self.forged = forged
        self.cut: int | None = None
        """The split operation's seq, once seen: nothing after it is served."""

    def events(self, events: list[RoomEvent]) -> list[RoomEvent]:
        out: list[RoomEvent] = []
        for event in events:
            if self.cut is not None and event.seq > self.cut:
                break
            if isinstance(event, LogEvent) and event.op.content.index >= self.split:
                self.cut = event.seq
                if self.forged is not None:
                    out.append(msgspec.structs.replace(event, op=self.forged))
                break
            out.append(event)
        return out

    def ops(self, ops: list[SignedOp]) -> list[SignedOp]:
        kept = [op for op in ops if op.content.index < self.split]
        if self.forged is not None and len(kept) < len(ops):
            kept.append(self.forged)
        return kept

    async def hook(self, method: str, path: str, status: int, body: bytes) -> bytes:
        if status != 200:
            return body
        if method == "POST" and path == "/v1/sync":
            answer = from_json(body, SyncResponse)
            rooms = []
            for page in answer.rooms:
                if page.room != self.room:
                    rooms.append(page)
                    continue
                events = self.events(list(page.events))
                last = max([0, *(e.seq for e in events)]) if self.cut is not None else None
                rooms.append(
                    msgspec.structs.replace(
                        page,
                        events=events,
                        last_seq=page.last_seq if last is None else min(page.last_seq, last),
                    )
                )
            return to_json(msgspec.structs.replace(answer, rooms=rooms))
        if method == "GET" and path == f"/v1/rooms/{self.room}/log":
            page = from_json(body, LogPage)
            return to_json(msgspec.structs.replace(page, ops=self.ops(list(page.ops))))
        return body


async def _sync_as(proxy: HostileProxy, view: Partition | None, client: HearthClient) -> None:
    """One client's sync, with the relay showing it ``view`` (None: the truth)."""
    if view is None:
        proxy.reset()
    else:
        proxy.on_response = view.hook
    try:
        await client.sync()
    finally:
        proxy.reset()


def _texts(messages: list[object]) -> list[str]:
    return [m.text for m in messages]  # type: ignore[attr-defined]


@pytest.mark.parametrize("split", ["withheld", "forged_by_a_member"])
async def test_two_groups_kept_apart_see_different_room_fingerprints(
    world: tuple[RelayProcess, HostileProxy, dict[str, HearthClient]], split: str
) -> None:
    relay, proxy, people = world
    created = await people["alice"].create_group("Kept apart")
    room_id = created.id
    link = await created.create_invite(max_uses=5)
    for name in ("bob", "carol", "dan"):
        await people[name].join(link)
    for client in people.values():
        await client.sync()
    rooms: dict[str, Room] = {name: client.room(room_id) for name, client in people.items()}

    # The honest room: everyone holds the same log, so everyone shows the same fingerprint.
    honest = {name: room.fingerprint() for name, room in rooms.items()}
    assert len(set(honest.values())) == 1
    before = honest["alice"]
    assert isinstance(before, RoomFingerprint)
    assert before.index == (await stored_log(relay, room_id)).index
    assert all(room.alarms == () for room in rooms.values())

    # The split. The relay's view for Carol and Dan ends before the next operation,
    # or holds there a rotation Dan signed and the relay never stored.
    log = await stored_log(relay, room_id)
    forged = None
    if split == "forged_by_a_member":
        forged = _colluding_rotate(log, people["dan"].identity.room_keys(room_id))
    view = Partition(room_id, log.index + 1, forged)
    await rooms["alice"].rotate()
    await rooms["alice"].send("only Alice and Bob read this")
    for name in GROUP_A:
        await _sync_as(proxy, None, people[name])
    for _ in range(2):  # "sync first": a second pass changes nothing, the relay still lies
        for name in GROUP_B:
            await _sync_as(proxy, view, people[name])

    after = {name: room.fingerprint() for name, room in rooms.items()}
    # Nothing crossed between the groups, so nothing raised an alarm anywhere...
    assert all(room.alarms == () for room in rooms.values())
    assert "only Alice and Bob read this" in _texts(await rooms["bob"].messages(limit=50))
    assert "only Alice and Bob read this" not in _texts(await rooms["carol"].messages(limit=50))
    # ...but each group agrees within itself, and the two groups' fingerprints differ.
    assert after["alice"] == after["bob"]
    assert after["carol"] == after["dan"]
    assert after["alice"] != after["carol"]
    assert after["alice"].digits != after["carol"].digits
    assert after["alice"].index == before.index + 1
    if split == "withheld":
        # Carol is behind and a sync does not bring her on: Alice shows the
        # fingerprint at Carol's index, where they agree. The relay withholds the rest.
        assert after["carol"] == before
        assert rooms["alice"].fingerprint(at=after["carol"].index) == after["carol"]
    else:
        # The same index, two histories: only the digits say so.
        assert after["carol"].index == after["alice"].index
        assert rooms["alice"].fingerprint(at=before.index) == rooms["carol"].fingerprint(
            at=before.index
        )
    with pytest.raises(ValueError, match="verified log ends at index"):
        rooms["carol"].fingerprint(at=after["carol"].index + 1)  # beyond what Carol verified

    # Where the history was only withheld, serving the truth brings everyone together.
    if split == "withheld":
        for name in GROUP_B:
            await _sync_as(proxy, None, people[name])
        assert len({room.fingerprint() for room in rooms.values()}) == 1
