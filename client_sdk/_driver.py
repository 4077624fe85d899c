"""One room's driving: the I/O around one room's plain state, held with the room.

A :class:`RoomDriver` is made per room and lives as long as the client follows it.
It owns the room's :class:`~client_sdk._slot.Slot` (the verified
``RoomState`` and its two locks) and does everything that moves that room:

- our log operations: signed at the next index, appended with compare-and-swap,
  rebased on ``log.conflict`` after catching up on the verified log, a bounded
  number of times (:meth:`commit`, :meth:`op`); rotation when due
  (:meth:`ensure_epoch`);
- catching the log up (:meth:`catch_up_log`), the room's history pages;
- sending (through the outbox), deleting, reporting, inviting, leaving,
  acknowledging alarms, push registration, and what the room's log asks of us in
  return (re-publishing the profile, rules, schedule and risk plan, evicting a
  blocked key from a buddy chat).

What the client's drivers share (the store, the HTTP transport, the sessions, the
outbox and inbox, the live stream) reaches a room through :class:`RoomServices`,
built once when the client opens. The driver never reaches into the client; the
client, the :class:`~client_sdk.room.Room` view and the programs code call its
public methods.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Final, TypeVar, final

from client_sdk._core.state import RoomState
from client_sdk._core.step import Opened, Step
from client_sdk._invite_links import invite_link
from client_sdk._slot import Slot
from client_sdk.errors import (
    RelayError,
    RelayUnavailable,
    ReportError,
    RoomBlocked,
    RoomInactive,
)
from client_sdk.events import Event, MessageDeleted
from protocol import crypto
from protocol.api import (
    AppendResult,
    HistoryPage,
    InviteReadRequest,
    MessageAck,
    MessageEvent,
    RoomEvent,
)
from protocol.backoff import Backoff
from protocol.clock import Clock
from protocol.directed import seal_directed
from protocol.envelope import open_message
from protocol.ids import MemberId, MessageId, RoomId, b64url_encode
from protocol.messages import Body, Envelope, MemberProfileBody, ReportBody, ReportContent
from protocol.ops import Role, SignedOp
from protocol.signing import InviteKey, sign_delete

if TYPE_CHECKING:
    from client_sdk._blocklist import BlockList
    from client_sdk._inbox import Inbox
    from client_sdk._live import LiveStream
    from client_sdk._outbox import Outbox
    from client_sdk._sessions import Sessions
    from client_sdk._store import Store, StoredMessage
    from client_sdk._transport import Transport
    from client_sdk.message import Message

__all__ = ["MAX_REBASES", "RoomDriver", "RoomServices"]

_T = TypeVar("_T")
MAX_REBASES: Final = 8
"""How often one of our operations is rebuilt on a log that moved meanwhile."""
_HISTORY_PAGE: Final = 200
_REPORT_ROLES: Final = frozenset({"owner", "moderator", "supporter"})


@final
@dataclass(frozen=True, slots=True)
class RoomServices:
    """What every room's driver shares, built once by the client when it opens."""

    base_url: str
    store: Store
    transport: Transport
    sessions: Sessions
    outbox: Outbox
    inbox: Inbox
    blocks: BlockList
    rotate_after_ms: int
    rotate_every: int
    reconnect_delay: tuple[float, float]
    clock: Clock
    check_open: Callable[[], object]
    """Raises ``ClientClosed`` unless the client is open."""
    live: Callable[[], LiveStream | None]
    """The live stream, while the client follows rooms live."""
    emit: Callable[[Event], None]
    spawn: Callable[[Coroutine[Any, Any, None]], None]
    """Run background work the client cancels when it closes."""
    rooms_changed: Callable[[], None]
    """The set of followed rooms changed: the stream signs in again, the list is published."""


@final
class RoomDriver:
    """One room's driving. See the module docstring."""

    __slots__ = ("_services", "slot")

    def __init__(self, slot: Slot, services: RoomServices) -> None:
        self.slot = slot
        self._services = services

    def __repr__(self) -> str:
        return f"RoomDriver(room={self.slot.room!r})"

    @property
    def room(self) -> RoomId:
        return self.slot.room

    @property
    def state(self) -> RoomState:
        return self.slot.state

    @property
    def clock(self) -> Clock:
        """The clock every time this room's operations and messages carry is read from."""
        return self._services.clock

    def require_active(self) -> None:
        """Raise :class:`RoomInactive` unless we are still in the room."""
        status = self.slot.state.status
        if status != "active":
            raise RoomInactive("you are no longer in this room", code=f"room.{status}")

    # -- the room key's session ------------------------------------------------------

    async def token(self) -> str:
        """The room key's session token (signing in, paced, if there is none)."""
        return await self._services.sessions.token(self.slot.state.keys)

    async def with_token(self, call: Callable[[str], Awaitable[_T]], *, create: bool = False) -> _T:
        """Run ``call`` with the room key's token; sign in again once if refused."""
        return await self._services.sessions.call(self.slot.state.keys, call, create=create)

    # -- persisting and receiving ------------------------------------------------------

    async def save(self, step: Step, *, all_ops: bool = False) -> None:
        """Persist a step of the room's state. Called holding ``slot.lock``."""
        await self._services.inbox.save(self.slot, step, all_ops=all_ops)

    async def ingest(
        self, events: Sequence[RoomEvent], opened: Mapping[int, Opened] | None = None
    ) -> None:
        """Verify, store and announce the room's next events. Called holding ``slot.lock``."""
        await self._services.inbox.ingest(self.slot, events, opened)

    async def settle(self) -> None:
        """After a complete pass: judge counter gaps, drop what the retention expired."""
        await self._services.inbox.check_withheld(self.slot)
        await self.expire()

    async def expire(self) -> None:
        """Drop the stored messages older than the room's retention."""
        await self._services.inbox.expire(self.slot)

    async def stream_events(self, events: Sequence[RoomEvent]) -> None:
        """Events the live stream delivered, in sequence order."""
        if self.slot.state.status != "active":
            return
        async with self.slot.lock:
            await self.ingest(events)
        await self.expire()
        # The live stream is complete up to here, in sequence order, so a gap it
        # leaves is judged at once (not only at the next sync).
        await self._services.inbox.check_withheld(self.slot)

    async def messages(self, limit: int, before: MessageId | None) -> list[Message]:
        """Stored messages, newest last (older ones fetched if history is shared)."""
        return await self._services.inbox.messages(self.slot, limit, before)

    async def reveal(self, message_id: MessageId, revealed: bool) -> Message:
        """Show or hide a message behind its content warning."""
        return await self._services.inbox.reveal(self.slot, message_id, revealed=revealed)

    async def fetch_history(self, before: int) -> HistoryPage:
        """The page of room events before ``before`` (a ``seq``)."""
        transport = self._services.transport
        return await self.with_token(
            partial(transport.history, room=self.room, before=before, limit=_HISTORY_PAGE)
        )

    async def unreachable(self) -> None:
        """The relay no longer serves the room to our key (we were removed, most likely)."""
        async with self.slot.lock:
            self.slot.state.status = "unreachable"
            await self.save(Step())
        await self.retire()

    # -- the log -------------------------------------------------------------------

    async def read_invite_log(self, invite: InviteKey) -> list[SignedOp]:
        """The whole log, read with the invite's proof (paginated), before we join."""
        transport = self._services.transport
        room, reader = self.room, self.slot.state.me
        ops: list[SignedOp] = []
        while True:
            at = self._services.clock.now_ms()
            request = InviteReadRequest(
                invite_key=invite.public,
                reader=reader,
                at=at,
                sig=invite.prove_read(room=room, reader=reader, at=at),
            )
            page = await self.with_token(
                partial(transport.invite_log, room=room, request=request, after=len(ops) - 1)
            )
            ops += page.ops
            if not page.more or not page.ops:
                return ops

    async def read_log(self) -> list[SignedOp]:
        """The whole log as the relay serves it to our key (paginated), unverified."""
        transport = self._services.transport
        ops: list[SignedOp] = []
        while True:
            page = await self.with_token(partial(transport.log, room=self.room, after=len(ops) - 1))
            ops += page.ops
            if not page.more or not page.ops:
                return ops

    async def catch_up_log(self) -> None:
        """Fetch, verify and store the operations after our head. Holds the room's lock.

        Used before a rebase, a re-seal, or when a message names a head beyond our
        log. What verified is saved even if a later page fails.
        """
        transport = self._services.transport
        state = self.slot.state
        step = Step()
        try:
            while not state.frozen:
                page = await self.with_token(
                    partial(transport.log, room=self.room, after=state.log.index)
                )
                for op in page.ops:
                    step.extend(state.apply_op(op))
                    if state.frozen:
                        return
                if not page.more or not page.ops:
                    return
        finally:
            await self.save(step)

    async def append_retrying(self, op: SignedOp) -> AppendResult:
        """Append ``op``; if the answer is lost, send the identical op again.

        The relay answers a repeated, already accepted operation with its
        original result, so a join cut off on the way back still completes.
        """
        transport = self._services.transport
        backoff = Backoff(*self._services.reconnect_delay)
        for attempt in range(4):
            try:
                return await self.with_token(partial(transport.append, room=self.room, op=op))
            except RelayUnavailable:
                if attempt == 3:
                    raise
                await asyncio.sleep(backoff.next_delay())
        raise AssertionError("unreachable")  # pragma: no cover

    async def commit(self, build: Callable[[], SignedOp | None]) -> bool:
        """Append our operation, rebasing on ``log.conflict``. Holds the room's lock.

        Returns False if ``build`` found nothing left to do after a rebase.
        """
        transport = self._services.transport
        state = self.slot.state
        for _ in range(MAX_REBASES):
            op = build()
            if op is None:
                return False
            try:
                await self.with_token(partial(transport.append, room=self.room, op=op))
            except RelayError as exc:
                if exc.code != "log.conflict":
                    raise
                await self.catch_up_log()
                continue
            step = state.apply_op(op)
            await self.save(step)
            if state.status != "active":
                await self.retire()
            return True
        raise RelayError("the room's log kept changing; try again", code="log.conflict")

    async def op(self, build: Callable[[RoomState], SignedOp | None]) -> None:
        """Commit the operation ``build`` makes from the room's state (None: nothing)."""
        self._services.check_open()
        async with self.slot.lock:
            self.slot.state.require_sendable()
            await self.commit(lambda: build(self.slot.state))

    async def ensure_epoch(self) -> None:
        """Rotate first if the log requires it (after a leave) or the schedule is due."""
        services = self._services
        state = self.slot.state

        def build() -> SignedOp | None:
            now = services.clock.now_ms()
            due = state.rotation_due(
                now=now, max_age_ms=services.rotate_after_ms, max_messages=services.rotate_every
            )
            return state.rotate_op(now=now) if due else None

        await self.commit(build)

    async def retire(self) -> None:
        """We left or were removed: stop following the room, drop its unsent messages."""
        await self._services.outbox.fail_all(self.room, f"room.{self.slot.state.status}")
        self._services.rooms_changed()

    async def invite(self, *, max_uses: int, expires_in: float, role: Role) -> str:
        """Register a new invite key in the log and return its link."""
        invite = InviteKey.generate()
        expires_at = self._services.clock.now_ms() + int(expires_in * 1000)
        await self.op(
            lambda s: s.invite_op(
                invite,
                role=role,
                max_uses=max_uses,
                expires_at=expires_at,
                now=self._services.clock.now_ms(),
            )
        )
        return invite_link(self._services.base_url, self.room, invite)

    async def leave(self) -> None:
        """Leave the room (a ``room.leave`` in the log)."""
        self._services.check_open()
        async with self.slot.lock:
            self.require_active()
            await self.commit(lambda: self.slot.state.leave_op(now=self._services.clock.now_ms()))

    async def evict(self, member: MemberId) -> None:
        """Remove a blocked key joining our buddy chat (a banned key cannot join at all).

        Nothing happens if it is gone already.
        """
        blocks = self._services.blocks

        def build() -> SignedOp | None:
            state = self.slot.state
            blocked_buddy = state.policy.kind == "buddy" and member in blocks
            if member not in state.log.members or not blocked_buddy:
                return None
            return state.remove_op(member, now=self._services.clock.now_ms())

        async with self.slot.lock:
            await self.commit(build)

    # -- sending ---------------------------------------------------------------------

    async def send(self, body: Body) -> MessageId:
        """Seal ``body``, store it in the outbox and deliver it."""
        self._services.check_open()
        return await self._services.outbox.send(self.slot, body)

    async def flush(self) -> None:
        """Deliver what waits in the room's outbox."""
        await self._services.outbox.flush(self.slot)

    async def flush_quietly(self) -> None:
        """:meth:`flush`, leaving the messages queued if the relay is out of reach."""
        with contextlib.suppress(RelayUnavailable, RoomBlocked):
            await self.flush()

    async def pending(self) -> int:
        """How many of our messages in this room wait in the outbox."""
        self._services.check_open()
        return await self._services.outbox.pending(self.room)

    async def send_envelope(self, envelope: Envelope) -> MessageAck:
        """Over the stream with an acknowledgement if it can carry it, else over HTTP."""
        live = self._services.live()
        if live is not None:
            ack = await live.send(envelope)
            if ack is not None:
                return ack
        transport = self._services.transport
        return await self.with_token(lambda t: transport.send(t, envelope))

    async def republish(self) -> None:
        """Send the profile, rules, schedule and risk plan again for members who joined later."""
        state = self.slot.state
        for body in (state.profile, state.rules, state.schedule, state.risk_plan):
            if body is not None:
                await self.send(body)

    async def reprofile(self) -> None:
        """Send our display name again for a member who joined after it."""
        name = self.slot.state.names.mine
        if name is not None:
            await self.send(MemberProfileBody(name=name))

    async def delete(self, message_id: MessageId) -> None:
        """Delete our own message for everyone, with a signed request naming its place."""
        self._services.check_open()
        store, transport = self._services.store, self._services.transport
        state = self.slot.state
        state.require_sendable()
        # The signed request names the target's sender, device and counter: the one
        # counter gap it excuses for members who never read it (protocol.md 8.6).
        # The store keeps what a message said, not those: read them from the
        # original envelope, fetched again and checked like any message.
        stored, envelope = await self.original_envelope(message_id)
        if envelope is None or envelope.header.sender != stored.sender:
            raise RelayError("the relay no longer holds this message", code="msg.not_found")
        secret = state.secrets.get(envelope.header.epoch)
        if secret is None:
            raise RelayError("this message's epoch is not readable here", code="msg.not_found")
        plaintext = open_message(envelope, epoch_secret=secret)
        request = sign_delete(
            state.keys,
            target=message_id,
            sender=envelope.header.sender,
            device=plaintext.device,
            counter=plaintext.counter,
            at=self._services.clock.now_ms(),
        )
        await self.with_token(lambda t: transport.delete(t, request))
        async with self.slot.lock:
            await store.save_room(self.room, self.slot.state.snapshot(), deleted=[message_id])
        deletion = MessageDeleted(room_id=self.room, message_id=message_id, by=state.me)
        self._services.emit(state.describe(deletion))

    async def original_envelope(
        self, message_id: MessageId
    ) -> tuple[StoredMessage, Envelope | None]:
        """A stored message and its envelope as the relay still holds it (None if gone).

        Raises:
            KeyError: The local store holds no such message.
        """
        store, transport = self._services.store, self._services.transport
        stored = await store.message(self.room, message_id)
        if stored is None:
            raise KeyError(message_id)
        page = await self.with_token(
            partial(transport.history, room=self.room, before=stored.seq + 1, limit=1)
        )
        envelope = next(
            (
                e.envelope
                for e in page.events
                if isinstance(e, MessageEvent) and e.envelope.header.id == message_id
            ),
            None,
        )
        return stored, envelope

    async def report(self, message_id: MessageId, reason: str) -> MessageId:
        """Report a message, with its original envelope as evidence, to those who moderate."""
        self._services.check_open()
        state = self.slot.state
        state.require_sendable()
        # The store keeps what a message said, not its signed bytes: the evidence is
        # the original envelope, fetched again and checked against the sender's key.
        _, evidence = await self.original_envelope(message_id)
        if evidence is None:
            raise ReportError("the relay no longer holds this message", code="report.no_evidence")
        recipients = {
            m.id: m.box_key
            for m in state.log.members.values()
            if m.role in _REPORT_ROLES and m.id != state.me
        }
        if not recipients:
            raise ReportError(
                "this room has no moderator or supporter to report to",
                code="report.no_recipients",
            )
        content = ReportContent(
            room=self.room,
            reporter=state.me,
            target=message_id,
            reason=reason,
            recipients=sorted(recipients),
            evidence=evidence,
            at=self._services.clock.now_ms(),
        )
        seals, ciphertext = seal_directed(state.keys, content, recipients)
        return await self.send(ReportBody(seals=seals, ciphertext=ciphertext))

    # -- alarms ----------------------------------------------------------------------

    async def acknowledge(self, alarm_ids: Iterable[int] | None) -> list[int]:
        """Acknowledge security alarms (None: all); return those acknowledged."""
        self._services.check_open()
        slot = self.slot
        async with slot.lock:
            was_frozen = slot.state.frozen
            done = slot.state.acknowledge(alarm_ids)
            await self.save(Step())
        if was_frozen and not slot.state.frozen:
            self._services.rooms_changed()  # fetch again what the frozen room left behind
        if done:
            live = self._services.live()
            if live is not None:
                live.wake()
            if not slot.state.blocked:
                self._services.spawn(self.flush_quietly())
        return done

    # -- push ------------------------------------------------------------------------

    def _push_device(self) -> str:
        # Another name in every room: the relay cannot link this device's rooms by it.
        digest = crypto.blake2b(
            self._services.store.device + self.room.encode("ascii"),
            person=crypto.PERSON_PUSH_DEVICE,
            size=16,
        )
        return b64url_encode(digest)

    async def register_push(self, endpoint: str, *, web_push: bool = False) -> None:
        """Register a push endpoint for the room, under this room's name for the device."""
        self._services.check_open()
        self.require_active()
        transport, device = self._services.transport, self._push_device()
        await self.with_token(
            lambda t: transport.register_push(t, self.room, device, endpoint, web_push=web_push)
        )

    async def unregister_push(self) -> None:
        """Stop push for the room on this device."""
        self._services.check_open()
        self.require_active()
        transport, device = self._services.transport, self._push_device()
        await self.with_token(lambda t: transport.unregister_push(t, self.room, device))
