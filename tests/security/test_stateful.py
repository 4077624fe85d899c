"""A stateful property test: random sends, joins, removals and offline periods.

Hypothesis drives a ``RuleBasedStateMachine`` over four identities with their own
SDK clients and local stores, against one real ``hearth serve``. The owner keeps
one group; the others join by invite, send, go offline (their client closed, its
store kept), come back (a new client on the same store), sync, and may be
removed. After every step, for every client that is open:

- no message is shown twice (by id or by text, every text being unique);
- each sender's messages appear in the order they were sent;
- a removed member holds nothing readable that was sent after its removal.

At the end every member still in the room syncs and must hold every message sent
while it was a member (nothing lost across the offline periods). Bounded: a few
examples of short runs, about a minute on the CI machine.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from client_sdk import HearthClient, Identity, MemberId, RoomId
from tests.client_sdk.conftest import RelayProcess

PEOPLE = 4


@pytest.fixture
def sync_relay(tmp_path: Path) -> Iterator[RelayProcess]:
    data = tmp_path / "relay-data"
    data.mkdir()
    process = RelayProcess(data)
    process.start()
    try:
        yield process
    finally:
        process.stop()


class Conversation(RuleBasedStateMachine):
    url: str
    workdir: Path
    run = 0
    stats: ClassVar[Counter[str]] = Counter()

    def __init__(self) -> None:
        super().__init__()
        Conversation.run += 1
        self.dir = self.workdir / f"run{Conversation.run}"
        self.dir.mkdir()
        self.loop = asyncio.new_event_loop()
        self.identities = [Identity.generate() for _ in range(PEOPLE)]
        self.clients: dict[int, HearthClient] = {}
        self.room_id: RoomId | None = None
        self.member_ids: dict[int, MemberId] = {}
        self.members: set[int] = set()
        self.removed: set[int] = set()
        self.counter = 0
        self.sent: list[tuple[int, str]] = []  # (sender, text) in send order
        self.readable_by: dict[str, set[int]] = {}  # who was a member when it was sent
        self.after_removal: dict[int, set[str]] = {}

    def _run(self, work: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(work, 60))

    async def _open(self, who: int) -> HearthClient:
        client = HearthClient(
            self.url, self.identities[who], store_path=self.dir / f"p{who}.db", live=False
        )
        await client.open()
        self.clients[who] = client
        return client

    @initialize()
    def create(self) -> None:
        async def go() -> None:
            owner = await self._open(0)
            room = await owner.create_group("Stateful circle")
            self.room_id = room.id
            self.member_ids[0] = room.me

        self._run(go())
        self.members.add(0)

    def _room(self, who: int) -> Any:
        assert self.room_id is not None
        return self.clients[who].room(self.room_id)

    def _joinable(self) -> list[int]:
        return [p for p in range(1, PEOPLE) if p not in self.members | self.removed]

    def _offline(self) -> list[int]:
        return [p for p in range(1, PEOPLE) if p not in self.clients and p in self.member_ids]

    @precondition(lambda self: self._joinable())
    @rule(data=st.data())
    def join(self, data: st.DataObject) -> None:
        who = data.draw(st.sampled_from(self._joinable()))

        async def go() -> None:
            link = await self._room(0).create_invite()
            client = self.clients.get(who) or await self._open(who)
            room = await client.join(link)
            self.member_ids[who] = room.me

        self._run(go())
        self.members.add(who)
        Conversation.stats["joins"] += 1

    @precondition(lambda self: any(p in self.clients for p in self.members))
    @rule(data=st.data())
    def send(self, data: st.DataObject) -> None:
        who = data.draw(st.sampled_from(sorted(p for p in self.members if p in self.clients)))
        self.counter += 1
        text = f"p{who}#{self.counter}"
        self._run(self._room(who).send(text))
        self.sent.append((who, text))
        Conversation.stats["sends"] += 1
        self.readable_by[text] = set(self.members)
        for gone in self.removed:
            self.after_removal.setdefault(gone, set()).add(text)

    @precondition(lambda self: self.members - {0})
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        who = data.draw(st.sampled_from(sorted(self.members - {0})))
        # With live=False the owner learns of joins only by syncing; remove() checks
        # membership against the owner's verified log (docs/security.md notes this).
        self._run(self.clients[0].sync())
        self._run(self._room(0).remove(self.member_ids[who]))
        self.members.discard(who)
        self.removed.add(who)
        Conversation.stats["removals"] += 1

    @precondition(lambda self: set(self.clients) - {0})
    @rule(data=st.data())
    def go_offline(self, data: st.DataObject) -> None:
        who = data.draw(st.sampled_from(sorted(set(self.clients) - {0})))
        client = self.clients.pop(who)
        self._run(client.close())
        Conversation.stats["offline periods"] += 1

    @precondition(lambda self: self._offline())
    @rule(data=st.data())
    def come_online(self, data: st.DataObject) -> None:
        who = data.draw(st.sampled_from(self._offline()))
        self._run(self._open(who))
        Conversation.stats["reconnects"] += 1

    @rule(data=st.data())
    def sync(self, data: st.DataObject) -> None:
        who = data.draw(st.sampled_from(sorted(self.clients)))
        self._run(self.clients[who].sync())

    def _shown(self, who: int) -> list[Any]:
        if self.room_id is None or who not in self.clients or who not in self.member_ids:
            return []
        return list(self._run(self._room(who).messages(limit=10_000)))

    @invariant()
    def no_duplicate_and_order_kept(self) -> None:
        for who in list(self.clients):
            shown = self._shown(who)
            ids = [m.id for m in shown]
            texts = [m.text for m in shown]
            assert len(ids) == len(set(ids)), f"p{who} was shown a message twice"
            assert len(texts) == len(set(texts)), f"p{who} was shown a text twice"
            for sender in range(PEOPLE):
                mine = [int(t.split("#")[1]) for t in texts if t.startswith(f"p{sender}#")]
                assert mine == sorted(mine), f"p{who} saw p{sender}'s messages out of order"
            assert not (set(texts) & self.after_removal.get(who, set())), (
                f"removed p{who} read a message sent after its removal"
            )

    def teardown(self) -> None:
        try:
            if self.room_id is not None:
                for who in sorted(self.members):
                    if who not in self.clients:
                        self._run(self._open(who))
                    self._run(self.clients[who].sync())
                for who in sorted(self.members):
                    texts = {m.text for m in self._shown(who)}
                    owed = {t for t, readers in self.readable_by.items() if who in readers}
                    assert owed <= texts, f"p{who} is missing {sorted(owed - texts)}"
                    assert self._room(who).alarms == ()
        finally:
            for client in self.clients.values():
                self._run(client.close())
            self.loop.close()


def test_conversations_keep_their_invariants(sync_relay: RelayProcess, tmp_path: Path) -> None:
    Conversation.url = sync_relay.url
    Conversation.workdir = tmp_path
    run_state_machine_as_test(
        Conversation,
        settings=settings(
            max_examples=30,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        ),
    )
    print(f"stateful: {Conversation.run} runs, {dict(Conversation.stats)}")
    for what in ("joins", "sends", "removals", "offline periods", "reconnects"):
        assert Conversation.stats[what] > 0, f"no {what} in any run: the test proved nothing"
