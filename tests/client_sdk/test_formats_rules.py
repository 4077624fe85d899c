"""Ground rules, enforced by every member's SDK, against a real relay (issue 7, item 1).

A member must accept the current version of a room's rules before ``room.send``
works; the acceptance is a signed ``rules.accept`` message the others see; a new
version asks everyone again. Publishing a version counts as accepting it.
"""

from __future__ import annotations

import pytest

from client_sdk import Identity, Room, RulesAccepted, RulesChanged, RulesNotAccepted
from tests.client_sdk.test_client import OpenClient, Watcher, open_client, until

__all__ = ["open_client"]


async def test_posting_waits_for_the_current_rules_and_a_new_version_asks_again(
    open_client: OpenClient,
) -> None:
    a = await open_client(Identity.generate(), "a")
    b = await open_client(Identity.generate(), "b")
    wa, wb = Watcher(a), Watcher(b)
    ra = await a.create_group("Grief circle", rules="1. Be kind.")
    assert ra.rules_accepted  # the owner published version 1
    await ra.send("welcome")
    rb = await b.join(await ra.create_invite())
    await wb.wait(RulesChanged, lambda e: e.version == 1)
    assert rb.rules == "1. Be kind."
    assert rb.rules_version == 1
    assert not rb.rules_accepted

    with pytest.raises(RulesNotAccepted) as refused:
        await rb.send("hi all")
    assert refused.value.code == "rules.not_accepted"
    assert await rb.pending() == 0  # refused before anything was sealed or queued

    await rb.accept_rules()
    assert rb.rules_accepted
    await rb.send("hi all")
    seen = await wa.wait(RulesAccepted, lambda e: e.member == rb.me)
    assert seen.version == 1
    assert ra.rules_acceptances[rb.me] == 1
    assert ra.rules_acceptances[ra.me] == 1

    # A new version of the rules: everyone but its author must accept again.
    assert await ra.set_rules("1. Be kind. 2. No advice unless asked.") == 2
    assert ra.rules_accepted
    await ra.send("owner still posts")
    await wb.wait(RulesChanged, lambda e: e.version == 2)
    assert not rb.rules_accepted
    with pytest.raises(RulesNotAccepted):
        await rb.send("still here")
    await rb.accept_rules()
    await rb.send("still here")
    await wa.wait(RulesAccepted, lambda e: e.member == rb.me and e.version == 2)
    await until(
        lambda: _texts_seen_by(ra, ["welcome", "hi all", "owner still posts", "still here"])
    )
    assert not ra.alarms
    assert not rb.alarms


async def test_acceptance_survives_a_restart_and_rooms_without_rules_need_none(
    open_client: OpenClient,
) -> None:
    a = await open_client(Identity.generate(), "a")
    bob = Identity.generate()
    b = await open_client(bob, "b")
    wb = Watcher(b)
    ra = await a.create_group("Circle", rules="Be kind.")
    rb = await b.join(await ra.create_invite())
    await wb.wait(RulesChanged)
    await rb.accept_rules()
    await b.close()
    b2 = await open_client(bob, "b")
    rb2 = b2.room(rb.id)
    assert rb2.rules_accepted
    assert rb2.rules_version == 1
    await rb2.send("after restart")

    plain = await a.create_group("No rules here")
    rc = await b2.join(await plain.create_invite())
    assert rc.rules is None
    assert rc.rules_accepted
    await rc.send("no rules to accept")


async def _texts_seen_by(room: Room, expected: list[str]) -> bool:
    return [m.text for m in await room.messages(limit=100)] == expected
