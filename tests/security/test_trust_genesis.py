"""A relay cannot counterfeit a room: a room id verifies only with its creator's genesis.

The attack (issue 17, break 1): an invite link names the room id and carries the
invite's secret in its fragment; the relay knows the room id and the invite's
*public* key (it is in the real log, and the joiner names it to read the log). A
hostile relay builds a log of its own for that room id, created and owned by a
key it holds, registers the invite's public key in it, and serves it to the
joiner instead of the real one. Before room ids were bound to their genesis, the
joiner verified that log (it is internally valid), sealed its new epoch to the
relay's key and posted its join: the relay read everything it wrote.

The same counterfeit, with the person's real member key added by the relay (the
relay holds the person's signed binding from the real log), is served to a device
restoring its rooms from the recovery phrase.

Each scenario runs the public SDK through :class:`HostileProxy` in front of a real
``hearth serve``. The client refuses the counterfeit with ``log.bad_genesis``
before it signs or seals anything: the proxy sees no write from it, and the real
relay stores nothing of it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec
import pytest

from client_sdk import HearthClient, Identity, SecurityAlarm
from client_sdk._invite_links import parse_invite
from protocol import ZERO_HASH, LogError, RoomKeys, RootSeed, op_hash, sign_op
from protocol.api import LogPage
from protocol.encoding import from_json, to_json
from protocol.epochs import make_commit
from protocol.ids import RoomId
from protocol.ops import AddOp, CreateOp, Genesis, InviteCreateOp, SignedOp
from tests.client_sdk.conftest import RelayProcess
from tests.security.proxy import HostileProxy
from tests.security.test_crash_durability import proxied
from tests.security.test_hostile_relay import _stored_log

__all__ = ["proxied"]

ZERO = ZERO_HASH


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _counterfeit(
    real: list[SignedOp], relay_root: RootSeed, *, stolen_genesis: bool, add: RoomKeys | None
) -> list[SignedOp]:
    """A log for the real room id, created by a key the relay holds.

    It copies the real create's policy, registers every invite key of the real
    log (the relay knows them all), and, with ``add``, adds that member under the
    binding it signed in the real log. ``stolen_genesis`` reuses the real create's
    genesis proof instead of one for the relay's own genesis key.
    """
    first = real[0].content
    assert isinstance(first.body, CreateOp)
    room = first.room
    owner = relay_root.room_keys(room)
    genesis: Genesis = (
        first.body.genesis
        if stolen_genesis
        else relay_root.new_room().prove(owner.member)  # hashes to another id
    )
    commit, _ = make_commit(
        room=room, epoch=1, prev=ZERO, recipients={owner.member: owner.box_public}
    )
    create = CreateOp(
        genesis=genesis,
        policy=first.body.policy,
        box_key=owner.box_public,
        binding=owner.binding(),
        commit=commit,
    )
    ops = [sign_op(owner, index=0, prev=ZERO, at=first.at, body=create)]

    def head() -> bytes:
        return op_hash(ops[-1])

    members = {owner.member: owner.box_public}
    if add is not None:
        members[add.member] = add.box_public
        commit, _ = make_commit(room=room, epoch=2, prev=head(), recipients=members)
        body = AddOp(
            member=add.member,
            box_key=add.box_public,
            binding=add.binding(),  # the relay has this very signature from the real log
            commit=commit,
        )
        ops.append(sign_op(owner, index=1, prev=head(), at=_now_ms(), body=body))
    for op in real:
        if isinstance(op.content.body, InviteCreateOp):
            invite = msgspec.structs.replace(op.content.body, role="member")
            ops.append(sign_op(owner, index=len(ops), prev=head(), at=_now_ms(), body=invite))
    return ops


class _Recorder:
    """The proxy's view: every request a client made, and the counterfeit it serves."""

    def __init__(self, proxy: HostileProxy, room: RoomId, serve: list[SignedOp]) -> None:
        self.requests: list[tuple[str, str]] = []
        self.served = asyncio.Event()
        self._room = room
        self._serve = serve
        proxy.on_response = self.hook

    async def hook(self, method: str, path: str, status: int, body: bytes) -> bytes:
        self.requests.append((method, path))
        reads = (f"/v1/rooms/{self._room}/log", f"/v1/rooms/{self._room}/invite-log")
        if path in reads and status == 200:
            from_json(body, LogPage)  # the real answer, replaced whole
            self.served.set()
            return to_json(LogPage(ops=self._serve, more=False))
        return body

    def writes_to_room(self) -> list[tuple[str, str]]:
        """Requests that would put something of the client's into the room."""
        reads = {f"/v1/rooms/{self._room}/log", f"/v1/rooms/{self._room}/invite-log"}
        return [
            (m, p)
            for m, p in self.requests
            if m != "GET" and p not in reads and (self._room in p or p == "/v1/messages")
        ]


@pytest.mark.parametrize("stolen_genesis", [False, True], ids=["own-genesis", "stolen-genesis"])
async def test_a_joiner_refuses_a_counterfeit_room_before_sealing_anything(
    proxied: tuple[RelayProcess, HostileProxy], tmp_path: Path, stolen_genesis: bool
) -> None:
    relay, proxy = proxied
    alice = HearthClient(proxy.url, Identity.generate(), store_path=tmp_path / "a.db", live=False)
    bob = HearthClient(proxy.url, Identity.generate(), store_path=tmp_path / "b.db", live=False)
    async with alice, bob:
        room = await alice.create_group("Evening group")
        link = await room.create_invite(max_uses=1)
        real, _ = await _stored_log(relay, room.id)
        relay_root = RootSeed.generate()
        fake = _counterfeit(list(real.ops), relay_root, stolen_genesis=stolen_genesis, add=None)
        # Without the genesis check this log verifies: it is internally valid, it
        # names the link's room id and it registers the link's public key.
        _, invite = parse_invite(link)
        assert any(
            isinstance(op.content.body, InviteCreateOp)
            and op.content.body.invite_key == invite.public
            for op in fake
        )
        recorder = _Recorder(proxy, room.id, fake)

        with pytest.raises(LogError) as info:
            await bob.join(link)

        assert info.value.code == "log.bad_genesis"
        assert recorder.served.is_set()
        assert recorder.writes_to_room() == []
        assert all(r.id != room.id for r in bob.rooms)
    stored, _ = await _stored_log(relay, room.id)
    bob_key = bob.identity.room_keys(room.id).member
    assert [op.content.author for op in stored.ops if op.content.author == bob_key] == []
    assert bob_key not in stored.members


async def test_a_restore_refuses_a_counterfeit_room_and_says_so(
    proxied: tuple[RelayProcess, HostileProxy], tmp_path: Path
) -> None:
    relay, proxy = proxied
    me = Identity.generate()
    async with HearthClient(proxy.url, me, store_path=tmp_path / "old.db", live=False) as old:
        room = await old.create_group("Tuesday circle")
        await room.send("what I said on the old phone")
        await old.sync()  # the personal store lists the room
    real, _ = await _stored_log(relay, room.id)
    keys = me.room_keys(room.id)
    # The relay's own room under the real id, with the person added as a member
    # (their binding is in the real log): a restore that took it up would seal
    # and send under an epoch the relay chose.
    fake = _counterfeit(list(real.ops), RootSeed.generate(), stolen_genesis=False, add=keys)
    recorder = _Recorder(proxy, room.id, fake)

    restored = Identity.from_recovery_phrase(me.recovery_phrase)
    async with HearthClient(proxy.url, restored, store_path=tmp_path / "new.db", live=False) as new:
        events = new.events()
        await new.sync()
        alarm = await asyncio.wait_for(_next_alarm(events), 10)

        assert alarm.room_id == room.id
        assert alarm.kind == "log_invalid"
        assert alarm.code == "log.bad_genesis"
        assert recorder.served.is_set()
        assert all(r.id != room.id for r in new.rooms)
        assert recorder.writes_to_room() == []
    stored, _ = await _stored_log(relay, room.id)
    assert stored.ops == real.ops


async def _next_alarm(events: object) -> SecurityAlarm:
    async for event in events:  # type: ignore[attr-defined]
        if isinstance(event, SecurityAlarm):
            return event
    raise AssertionError("the client closed without an alarm")
