"""Group commit (``server.committer``): concurrent senders share a transaction, safely.

Every test holds the first transaction back (a gate in front of the storage's
``add_messages``) so that the others queue behind it deterministically, then checks
what the relay promises: acknowledgements only after the commit, contiguous
sequence numbers in the order the messages were checked, idempotent retries,
a failed transaction failing only its own messages, and a log operation numbered
after the messages checked before it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from protocol import SYSTEM_CLOCK
from protocol.api import AppendResult, MessageAck
from protocol.encoding import from_json
from protocol.signing import InviteKey
from server.committer import MAX_BATCH, Committer
from server.errors import StorageError
from tests.server.helpers import append, create, digest, error, join, post

Gate = tuple[list[int], asyncio.Event]


def gate(monkeypatch: pytest.MonkeyPatch, relay: Any, *, fail_first: bool = False) -> Gate:
    """Record batch sizes; hold the first batch until the event is set."""
    storage = relay.storage
    original: Callable[..., Awaitable[Any]] = storage.add_messages
    sizes: list[int] = []
    release = asyncio.Event()

    async def add_messages(batch: Any, *, ts: int) -> Any:
        sizes.append(len(batch))
        if len(sizes) == 1:
            await release.wait()
            if fail_first:
                raise StorageError("the disk is full")
        return await original(batch, ts=ts)

    monkeypatch.setattr(storage, "add_messages", add_messages)
    return sizes, release


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.005)


def queued(relay: Any) -> int:
    return len(relay.app.state.relay._committer._queue)


async def test_concurrent_sends_share_one_transaction_in_check_order(
    relay: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    room, token = await create(relay, clock)
    sizes, release = gate(monkeypatch, relay)
    url = f"/v1/rooms/{room.room}/messages"
    envelopes = [room.send("owner", f"message {i}") for i in range(12)]
    first = asyncio.ensure_future(post(relay.http, url, envelopes[0], token))
    await until(lambda: sizes == [1])
    rest = [asyncio.ensure_future(post(relay.http, url, e, token)) for e in envelopes[1:]]
    await until(lambda: queued(relay) == 11)
    assert not first.done()  # nothing is acknowledged before its commit
    release.set()
    answers = [await first] + [await r for r in rest]
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    acks = [from_json(r.content, MessageAck) for r in answers]
    assert sizes == [1, 11]
    assert [a.id for a in acks] == [e.header.id for e in envelopes]
    # Requests reach the room's lock in whatever order their awaits resolve (with
    # PostgreSQL, the session lookups race); each ack names its stored event.
    assert sorted(a.seq for a in acks) == list(range(2, 14))  # seq 1: the room's creation
    stored = await relay.storage.events_after(room.room, 1, 100)
    assert {e.envelope.header.id: e.seq for e in stored} == {a.id: a.seq for a in acks}


async def test_a_retry_in_the_same_batch_gets_the_first_answer(
    relay: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    room, token = await create(relay, clock)
    sizes, release = gate(monkeypatch, relay)
    url = f"/v1/rooms/{room.room}/messages"
    blocker = asyncio.ensure_future(post(relay.http, url, room.send("owner", "first"), token))
    await until(lambda: sizes == [1])
    envelope = room.send("owner", "twice")
    impostor = room.send("owner", "same id, other text")
    impostor = type(impostor)(
        header=type(impostor.header)(
            **{
                f: getattr(impostor.header, f)
                for f in impostor.header.__struct_fields__
                if f != "id"
            },
            id=envelope.header.id,
        ),
        ciphertext=impostor.ciphertext,
        sig=impostor.sig,
    )
    twice = [asyncio.ensure_future(post(relay.http, url, envelope, token)) for _ in range(2)]
    await until(lambda: queued(relay) == 2)
    release.set()
    await blocker
    once, again = [await t for t in twice]
    assert once.status_code == again.status_code == 200
    assert from_json(once.content, MessageAck) == from_json(again.content, MessageAck)
    # Another envelope under the stored id fails its checks (the signature covers the
    # id) and then finds the id taken: the same answer as before group commit.
    other = await post(relay.http, url, impostor, token)
    assert other.status_code == 409
    assert error(other).code == "msg.duplicate_id"
    assert len(await relay.storage.events_after(room.room, 1, 100)) == 2


async def test_a_failed_transaction_fails_its_messages_and_leaves_no_gap(
    relay: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    room, token = await create(relay, clock)
    sizes, release = gate(monkeypatch, relay, fail_first=True)
    url = f"/v1/rooms/{room.room}/messages"
    lost = asyncio.ensure_future(post(relay.http, url, room.send("owner", "lost"), token))
    await until(lambda: sizes == [1])
    later = [
        asyncio.ensure_future(post(relay.http, url, room.send("owner", f"later {i}"), token))
        for i in range(3)
    ]
    await until(lambda: queued(relay) == 3)
    release.set()
    failed = await lost
    assert failed.status_code == 503
    assert error(failed).code == "storage.unavailable"
    acks = [from_json((await t).content, MessageAck) for t in later]
    assert sorted(a.seq for a in acks) == [2, 3, 4]


async def test_a_log_operation_comes_after_the_messages_checked_before_it(
    relay: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    room, token = await create(relay, clock)
    sizes, release = gate(monkeypatch, relay)
    url = f"/v1/rooms/{room.room}/messages"
    # One message first, so that the gate holds a batch of exactly one (three sent
    # at once may reach the committer together on PostgreSQL, whose session
    # lookups race), then two more that queue behind it.
    messages = [asyncio.ensure_future(post(relay.http, url, room.send("owner", "m0"), token))]
    await until(lambda: sizes == [1])
    messages += [
        asyncio.ensure_future(post(relay.http, url, room.send("owner", f"m{i}"), token))
        for i in (1, 2)
    ]
    await until(lambda: queued(relay) == 2)
    op = room.invite("owner", InviteKey.generate(), apply=False)
    appended = asyncio.ensure_future(append(relay, room, op, token))
    await asyncio.sleep(0.05)
    assert not appended.done()  # it waits for the messages queued before it
    release.set()
    acks = [from_json((await m).content, MessageAck) for m in messages]
    result = await appended
    assert result.status_code == 200, result.text
    assert sorted(a.seq for a in acks) == [2, 3, 4]
    assert from_json(result.content, AppendResult).seq == 5


# -- gathering under load (Committer's ``gather``) ---------------------------------


class _Senders:
    """Three members of one room, and a committer of our own over the relay's storage."""

    def __init__(self, relay: Any, room: Any, monkeypatch: pytest.MonkeyPatch, gather: float):
        self.room = room
        self.sizes: list[int] = []
        storage = relay.storage
        original: Callable[..., Awaitable[Any]] = storage.add_messages

        async def add_messages(batch: Any, *, ts: int) -> Any:
            self.sizes.append(len(batch))
            return await original(batch, ts=ts)

        monkeypatch.setattr(storage, "add_messages", add_messages)
        self.committer = Committer(storage, lambda room, event: None, SYSTEM_CLOCK, gather=gather)

    def submit(self, name: str) -> asyncio.Future[Any]:
        envelope = self.room.send(name, f"from {name}")
        return self.committer.submit(envelope, digest(envelope))

    async def round(self, *names: str) -> None:
        """All of ``names`` send at once; wait for their acks."""
        await asyncio.gather(*(self.submit(n) for n in names))


async def senders(
    relay: Any, clock: Any, monkeypatch: pytest.MonkeyPatch, gather: float
) -> _Senders:
    if not relay.storage.group_commit:
        pytest.skip("this storage writes one message per transaction: nothing to gather")
    room, token = await create(relay, clock)
    for name in ("b", "c"):
        await join(relay, room, token, name)
    return _Senders(relay, room, monkeypatch, gather)


async def test_streaming_senders_are_gathered_into_one_commit(
    relay: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await senders(relay, clock, monkeypatch, gather=10.0)
    await s.round("owner", "b")  # not streaming yet: nobody was acknowledged before
    await s.round("owner", "b")  # both answer their acks at once: streaming
    assert s.sizes == [2, 2]
    first = s.submit("owner")
    await asyncio.sleep(0.05)
    assert not first.done()  # the commit waits for b, who streamed with it
    second = s.submit("c")  # whoever else queues meanwhile rides along
    third = s.submit("b")
    async with asyncio.timeout(5):
        events = await asyncio.gather(first, second, third)
    assert s.sizes == [2, 2, 3]
    assert [e.seq for e in events] == [e.seq for e in sorted(events, key=lambda e: e.seq)]


async def test_the_wait_ends_at_the_deadline_when_a_sender_stops(
    relay: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await senders(relay, clock, monkeypatch, gather=0.3)
    await s.round("owner", "b")
    await s.round("owner", "b")
    alone = s.submit("owner")  # b never sends again
    async with asyncio.timeout(5):
        await alone
    assert s.sizes == [2, 2, 1]


async def test_senders_that_were_not_streaming_are_not_waited_for(
    relay: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await senders(relay, clock, monkeypatch, gather=2.0)
    await s.round("owner", "b")
    await asyncio.sleep(2.1)  # a person answers in seconds: past the gather time
    await s.round("owner", "b")
    async with asyncio.timeout(1):  # well under the 2 s it would wait for b
        await s.submit("owner")
    assert s.sizes == [2, 2, 1]


async def test_one_streaming_sender_alone_holds_nobody_back(
    relay: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await senders(relay, clock, monkeypatch, gather=10.0)
    for _ in range(3):  # one program sending back to back: nobody to gather it with
        async with asyncio.timeout(2):
            await s.round("owner")
    async with asyncio.timeout(2):  # so c's message is not held for the owner's next
        await s.submit("c")
    assert s.sizes == [1, 1, 1, 1]


async def test_a_sender_that_hangs_up_does_not_let_a_log_operation_overtake_its_message(
    relay: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    room, token = await create(relay, clock)
    sizes, release = gate(monkeypatch, relay)
    committer = relay.app.state.relay._committer
    url = f"/v1/rooms/{room.room}/messages"
    first = asyncio.ensure_future(post(relay.http, url, room.send("owner", "held"), token))
    await until(lambda: sizes == [1])
    envelope = room.send("owner", "its sender hangs up")
    committer.submit(envelope, digest(envelope)).cancel()  # queued behind the held batch
    drained = asyncio.ensure_future(committer.drain(room.room))
    await asyncio.sleep(0.05)
    assert not drained.done()  # the message is still queued: drain waits for it
    release.set()
    async with asyncio.timeout(5):
        await drained
        assert (await first).status_code == 200
    stored = await relay.storage.events_after(room.room, 1, 100)
    assert [e.envelope.header.id for e in stored][-1] == envelope.header.id


async def test_a_full_batch_is_committed_without_waiting(
    relay: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await senders(relay, clock, monkeypatch, gather=10.0)
    await s.round("owner", "b")
    await s.round("owner", "b")  # the next commit would wait 10 s for both
    first = s.submit("c")
    await asyncio.sleep(0.05)
    assert not first.done()  # waiting for the owner and b
    async with asyncio.timeout(5):  # until the batch is full, and no longer
        await asyncio.gather(first, *(s.submit("c") for _ in range(MAX_BATCH - 1)))
    assert s.sizes == [2, 2, MAX_BATCH]
