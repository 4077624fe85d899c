"""Members' display names and roles, against a real relay (issue 19, item 1).

A member names itself per room with a signed, encrypted ``member.profile``; a
newcomer gets the names set before it joined; roles come from the verified log
only; look-alike names are told apart; renames are events; names survive a restart.
"""

from __future__ import annotations

import pytest

from client_sdk import (
    Identity,
    MemberRenamed,
    MessageReceived,
    RoleChanged,
    Room,
)
from protocol.messages import MemberProfileBody
from tests.client_sdk.conftest import RelayProcess
from tests.client_sdk.test_client import OpenClient, Watcher, open_client

__all__ = ["open_client"]

CYRILLIC_SAM = "\u0405am"  # CYRILLIC CAPITAL LETTER DZE, then "am": looks like "Sam"


async def test_a_newcomer_sees_names_set_before_it_joined_and_roles_only_from_the_log(
    open_client: OpenClient,
) -> None:
    owner = await open_client(Identity.generate(), "owner")
    sam = await open_client(Identity.generate(), "sam")
    faker = await open_client(Identity.generate(), "faker")
    newcomer = await open_client(Identity.generate(), "newcomer")
    program = await owner.create_program("Peer line")
    await program.set_name("Ana")
    s_room = await sam.join(await program.create_invite(role="supporter"))
    await s_room.set_name("Sam")
    f_room = await faker.join(await program.create_invite())
    await f_room.set_name("Supporter Sam")
    assert f_room.my_name == "Supporter Sam"
    assert f_room.member(f_room.me).display == "Supporter Sam (you, member)"

    watcher = Watcher(newcomer)
    n_room = await newcomer.join(await program.create_invite())
    # Everyone who named themselves sends the name again for the newcomer.
    for member, name in [(program.me, "Ana"), (s_room.me, "Sam"), (f_room.me, "Supporter Sam")]:
        await watcher.wait(MemberRenamed, lambda e, m=member, n=name: e.member == m and e.new == n)
    assert n_room.member(program.me).display == "Ana (owner)"
    assert n_room.member(s_room.me).display == "Sam (supporter)"
    # A name is not a role: the log says member, so member it is.
    assert n_room.member(f_room.me).role == "member"
    assert n_room.member(f_room.me).display == "Supporter Sam (member)"
    nameless = n_room.member(n_room.me)
    assert (nameless.name, nameless.label) == (None, n_room.me[:8])
    assert [m.label for m in n_room.members_info][:2] == ["Ana", "Sam"]  # owner, supporter

    await s_room.send("I'm on duty tonight")
    await f_room.send("me too, ask me anything")
    got = await watcher.wait(MessageReceived, lambda e: e.message.text.startswith("I'm on"))
    assert (got.message.sender_name, got.message.sender_role) == ("Sam", "supporter")
    assert got.message.sender_display == "Sam (supporter)"
    fake = await watcher.wait(MessageReceived, lambda e: e.message.text.startswith("me too"))
    assert fake.message.sender_display == "Supporter Sam (member)"
    stored = {m.text: m for m in await n_room.messages()}
    assert stored["me too, ask me anything"].sender_role == "member"

    # Events say who, with the log's roles.
    await program.set_role(f_room.me, "moderator")
    changed = await watcher.wait(RoleChanged, lambda e: e.member == f_room.me)
    assert (changed.name, changed.role) == ("Supporter Sam", "moderator")
    assert (changed.by_name, changed.by_role) == ("Ana", "owner")
    assert not n_room.alarms


async def test_look_alike_names_are_told_apart_and_invalid_names_refused(
    open_client: OpenClient,
) -> None:
    owner = await open_client(Identity.generate(), "owner")
    others = [await open_client(Identity.generate(), n) for n in ("b", "c", "d")]
    room = await owner.create_group("Circle")
    rooms: list[Room] = []
    for client in others:
        rooms.append(await client.join(await room.create_invite()))
    await room.set_name("Sam")
    await rooms[0].set_name(CYRILLIC_SAM)
    await rooms[1].set_name("sam")
    await rooms[2].set_name("Ana")
    watcher = Watcher(owner)
    await watcher.wait(MemberRenamed, lambda e: e.member == rooms[2].me)
    await watcher.wait(MemberRenamed, lambda e: e.member == rooms[1].me)
    await watcher.wait(MemberRenamed, lambda e: e.member == rooms[0].me)

    labels = {m.id: m.label for m in room.members_info}
    look_alikes = [room.me, rooms[0].me, rooms[1].me]
    assert len({labels[m] for m in look_alikes}) == 3
    for member in look_alikes:
        assert labels[member].endswith(f" ·{member[:4]}"), labels[member]
    assert labels[room.me].startswith("Sam ·")
    assert labels[rooms[2].me] == "Ana"  # nobody looks like Ana: no suffix

    # Names a reader would refuse never leave the SDK ...
    for bad in ["", "   ", "x" * 65, "Sa\nm", "\u202eSam", "\u200b"]:
        with pytest.raises(ValueError, match="a name"):
            await rooms[2].set_name(bad)
    # ... and one sent anyway counts for nothing at the readers.
    driver = others[2]._driver(rooms[2].id)
    await driver.send(MemberProfileBody(name="\u202emaS"))
    await rooms[2].send("after the bad name")
    await watcher.wait(MessageReceived, lambda e: e.message.text == "after the bad name")
    assert room.member(rooms[2].me).name == "Ana"
    assert not room.alarms


async def test_a_rename_is_an_event_and_names_survive_a_restart(
    open_client: OpenClient,
) -> None:
    alice, bob = Identity.generate(), Identity.generate()
    a = await open_client(alice, "a")
    b = await open_client(bob, "b")
    ra = await a.create_group("Circle")
    rb = await b.join(await ra.create_invite())
    watcher = Watcher(a)
    await rb.set_name("Sam")
    first = await watcher.wait(MemberRenamed, lambda e: e.member == rb.me)
    assert (first.old, first.new, first.role) == (rb.me[:8], "Sam", "member")
    await rb.set_name("  Sammy  ")  # surrounding spaces are dropped
    second = await watcher.wait(MemberRenamed, lambda e: e.new == "Sammy")
    assert second.old == "Sam"
    await ra.set_name("Alice")
    room_id, bob_key = ra.id, rb.me
    await a.close()
    await b.close()

    a2 = await open_client(alice, "a")
    b2 = await open_client(bob, "b")
    assert a2.room(room_id).member(bob_key).name == "Sammy"
    assert a2.room(room_id).my_name == "Alice"
    assert b2.room(room_id).my_name == "Sammy"


async def test_names_travel_encrypted(open_client: OpenClient, relay: RelayProcess) -> None:
    name = "Quillon Marchetti-Ybarra"
    a = await open_client(Identity.generate(), "a")
    b = await open_client(Identity.generate(), "b")
    ra = await a.create_group("Circle")
    await ra.set_name(name)
    rb = await b.join(await ra.create_invite())  # the name is re-sent for b
    watcher = Watcher(b)
    await watcher.wait(MemberRenamed, lambda e: e.new == name)
    assert rb.member(ra.me).name == name
    for path in relay.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert name.encode() not in data, path
            assert name.encode("utf-16-le") not in data, path
