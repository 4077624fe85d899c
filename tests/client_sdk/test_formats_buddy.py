"""Buddy chats hold exactly two people, against a real relay (issue 7, item 2).

The policy's ``max_members=2`` is enforced three times: the SDK of either buddy
refuses to hand out an invite once both are in, a third person's SDK refuses to
sign a join, and if a modified client signs one anyway, the relay's log verifier
refuses it, and so would every member's (a ``log_invalid`` alarm).
"""

from __future__ import annotations

import pytest

from client_sdk import Identity, InviteError, RelayError
from client_sdk._core.builders import OpBuilder
from client_sdk._core.persistence import RoomSnapshot
from client_sdk._core.state import RoomState
from client_sdk._invite_links import invite_link
from protocol.signing import InviteKey
from tests.client_sdk.test_client import OpenClient, open_client

__all__ = ["open_client"]


async def test_a_buddy_chat_admits_exactly_two(
    open_client: OpenClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ana = await open_client(Identity.generate(), "ana")
    ben = await open_client(Identity.generate(), "ben")
    cleo = await open_client(Identity.generate(), "cleo")
    chat = await ana.create_buddy_chat("Ana & Ben")
    assert chat.kind == "buddy"
    assert chat.policy.max_members == 2
    # An invite made before Ben joined, with uses to spare.
    spare = await chat.create_invite(max_uses=3)
    ben_chat = await ben.join(spare)
    await ana.sync()  # Ben's join reaches Ana live too, but not by any set time
    assert len(chat.members) == len(ben_chat.members) == 2

    with pytest.raises(InviteError) as full:
        await chat.create_invite()
    assert full.value.code == "invite.room_full"

    # A third person's SDK refuses to sign a join on the verified log.
    with pytest.raises(InviteError) as refused:
        await cleo.join(spare)
    assert refused.value.code == "invite.room_full"
    assert not cleo.rooms

    # A modified client that skips the check: the relay's log verifier refuses.
    monkeypatch.setattr(OpBuilder, "require_space", lambda self: None)
    with pytest.raises(InviteError) as relay_refused:
        await cleo.join(spare)
    assert relay_refused.value.code == "invite.room_full"
    assert isinstance(relay_refused.value.__cause__, RelayError)
    assert relay_refused.value.__cause__.code == "log.room_full"
    assert not cleo.rooms
    await ben_chat.send("still just us")
    assert len(ben_chat.members) == 2


async def test_every_member_refuses_a_third_join_the_relay_let_through(
    open_client: OpenClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ana = await open_client(Identity.generate(), "ana")
    ben = await open_client(Identity.generate(), "ben")
    chat = await ana.create_buddy_chat("Ana & Ben")
    invite = InviteKey.generate()
    # Ana registers one invite with three uses while the chat is not full yet.
    await ana._driver(chat.id).op(
        lambda s: s.invite_op(invite, role="member", max_uses=3, expires_at=2**52, now=1),
    )
    ben_chat = await ben.join(invite_link("http://x", chat.id, invite))
    ops = chat._state.log.ops

    # Cleo signs a join on the verified log (a modified client skips the cap check).
    cleo_keys = Identity.generate().room_keys(chat.id)
    cleo_state = RoomState.restore(cleo_keys, ops, {}, RoomSnapshot())
    monkeypatch.setattr(OpBuilder, "require_space", lambda self: None)
    join = cleo_state.join_op(invite, now=2)
    monkeypatch.undo()

    # A relay that stored it anyway: each buddy's verified state refuses it and alarms.
    for room in (chat, ben_chat):
        state = room._state
        mirror = RoomState.restore(state.keys, ops, state.secrets, state.snapshot())
        step = mirror.apply_op(join)
        assert step.ops == []
        assert len(mirror.log.members) == 2
        assert [a.code for a in mirror.alarms] == ["log.room_full"]
        assert mirror.blocked
