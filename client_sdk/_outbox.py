"""The outbox: every message is sealed and stored before it is sent, and sent exactly once.

``send`` seals a plaintext under the room's current epoch and head, stores the
envelope *and* the plaintext (encrypted by the store) in one transaction with the
room's new counter, and only then tries to deliver it. Delivery goes through the
room's entries in order, one at a time:

- the identical envelope is sent again after any failure to reach the relay, a
  reconnect or a restart; the relay deduplicates by message id, and
  ``msg.duplicate_id`` means an earlier envelope of ours under this id was stored;
- ``msg.stale_epoch`` (the epoch moved on while the message waited) re-seals the
  same plaintext, same id and counter, under the current epoch, after catching up
  on the log;
- an entry queued unsealed (a rotation was due while the relay was unreachable)
  is sealed right before its first delivery, after the rotation;
- only a verdict on the message itself fails an entry for good; anything else
  leaves it (and those behind it) for the next attempt. A counter failed for good
  stays used: every later entry is re-sealed to list it in ``Plaintext.skipped``
  until one of them is acknowledged, so receivers do not take the gap for a
  withheld message (protocol.md section 8.6).

A blocked room (open security alarms) delivers nothing until the alarms are
acknowledged. The host supplies the room operations and the wire.

A delivery that stops short of the end (rate limited, the relay's storage failing,
the relay out of reach) is tried again by itself while the host is online: after
the relay's ``retry_after`` if it gave one, else after the room's next
:class:`protocol.Backoff` delay, reset once the room's outbox is empty. Each stop
and the final success are announced as :class:`~client_sdk.events.OutboxChanged`,
so a front end can tell "sending, next try in N s" from "the relay cannot store
messages" from "offline". Offline, the live stream's reconnect flushes instead.
"""

from __future__ import annotations

import contextlib
from typing import Final, Protocol, final

import msgspec

from client_sdk._slot import Slot
from client_sdk._store import OutboxEntry, Store, StoredMessage
from client_sdk.errors import RelayError, RelayUnavailable, RoomBlocked, RoomInactive
from client_sdk.events import DeliveryState, Event, OutboxChanged
from protocol.api import MessageAck
from protocol.backoff import Backoff
from protocol.clock import SYSTEM_CLOCK, Clock
from protocol.encoding import canonical, from_json, from_msgpack, to_json
from protocol.ids import MessageId, RoomId, new_message_id
from protocol.messages import Body, Envelope, Plaintext, TextBody, room_device_id

__all__ = ["Outbox", "OutboxHost"]

_MAX_RESEALS: Final = 4


def refuses_for_good(exc: RelayError) -> bool:
    """A verdict on the message itself (resending the same bytes cannot help)."""
    return exc.code.startswith(("msg.", "wire.", "room.", "request.")) or exc.code in {
        "auth.forbidden",
        "request.too_large",
    }


class OutboxHost(Protocol):
    """What the outbox needs from the client."""

    async def ensure_epoch(self, slot: Slot) -> None:
        """Commit a rotation first if one is due. Called holding ``slot.lock``."""
        ...

    async def catch_up_log(self, slot: Slot) -> None:
        """Fetch and verify the log after our head. Called holding ``slot.lock``."""
        ...

    async def send_envelope(self, slot: Slot, envelope: Envelope) -> MessageAck:
        """Put one envelope on the wire and return the relay's acknowledgement."""
        ...

    def delivered(self, message: StoredMessage) -> None:
        """One of our text messages is stored locally for the first time."""
        ...

    def emit(self, event: Event) -> None:
        """Announce what one of our own messages did (a mute we gave), once stored."""
        ...

    def online(self) -> bool:
        """Whether the live connection is up (automatic retries run only then)."""
        ...

    def flush_later(self, slot: Slot, delay: float) -> None:
        """Flush the room's outbox again in ``delay`` seconds (one timer per room)."""
        ...


@final
class Outbox:
    """Sealing, storing and delivering this device's messages (stamped by ``clock``)."""

    def __init__(
        self,
        store: Store,
        host: OutboxHost,
        *,
        retry_delay: tuple[float, float] = (0.25, 10.0),
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._store = store
        self._host = host
        self._clock = clock
        self._retry_delay = retry_delay
        self._stalled: dict[RoomId, Backoff] = {}
        """Rooms whose last delivery stopped short, with their retry schedule."""

    async def send(self, slot: Slot, body: Body) -> MessageId:
        """Seal and store ``body``, then try to deliver the room's outbox; return the id.

        Returns once the message is acknowledged, or safely queued because the
        relay cannot be reached or an alarm now blocks the room.
        """
        entry = await self._queue(slot, body)
        with contextlib.suppress(RelayUnavailable, RoomBlocked):
            await self.flush(slot, wait_for=entry.id)
        return entry.id

    async def _queue(self, slot: Slot, body: Body) -> OutboxEntry:
        state = slot.state
        async with slot.lock:
            state.require_sendable()
            state.require_may_post(body)
            try:
                await self._host.ensure_epoch(slot)
            except (RelayUnavailable, RelayError) as exc:
                # Offline (or throttled), a rotation the schedule asks for waits;
                # one the log requires (after a leave) makes the message wait unsealed.
                if isinstance(exc, RelayError) and not exc.retryable:
                    raise
            state.require_sendable()
            message_id = new_message_id()
            plaintext = Plaintext(
                device=room_device_id(self._store.device, slot.room),
                counter=state.next_counter(),
                sent_at=self._clock.now_ms(),
                body=body,
            )
            announced = state.note_sent(body, message_id=message_id, at=plaintext.sent_at)
            sealed = b""
            if not state.log.needs_rotation:
                sealed = to_json(state.seal(plaintext, message_id=message_id))
            entry = OutboxEntry(
                room=slot.room,
                id=message_id,
                plaintext=canonical(plaintext),
                envelope=sealed,
                failed=None,
            )
            await self._store.save_room(slot.room, state.snapshot(), outbox_add=entry)
        for event in announced:
            self._host.emit(event)
        return entry

    async def pending(self, room: RoomId | None = None) -> int:
        """Entries still to be delivered (in ``room``, or in all rooms)."""
        return sum(1 for e in await self._store.outbox(room) if e.failed is None)

    async def fail_all(self, room: RoomId, code: str) -> None:
        """Give up on a room's entries (we left it or were removed)."""
        for entry in await self._store.outbox(room):
            if entry.failed is None:
                await self._store.outbox_fail(entry.id, code)

    async def flush(self, slot: Slot, *, wait_for: MessageId | None = None) -> None:
        """Deliver the room's entries in order; stop at the first failure to reach the relay.

        Raises:
            RelayUnavailable: The relay cannot take messages now (entries stay).
            RelayError: The relay refused ``wait_for`` for good.
        """
        async with slot.send_lock:
            try:
                await self._flush(slot, wait_for)
            except RelayUnavailable as exc:
                await self._stall(slot, exc)
                raise
            if slot.room in self._stalled and not await self.pending(slot.room):
                del self._stalled[slot.room]
                self._host.emit(OutboxChanged(room_id=slot.room, state="sent", pending=0))

    async def _stall(self, slot: Slot, exc: RelayUnavailable) -> None:
        """Delivery stopped short: say why, and try again by itself while online."""
        cause = exc.__cause__
        backoff = self._stalled.setdefault(slot.room, Backoff(*self._retry_delay))
        state: DeliveryState = "offline"
        hint: float | None = None
        if isinstance(cause, RelayError):
            storage = cause.code == "storage.unavailable" or cause.status == 503
            state = "storage" if storage else "retrying"
            hint = cause.retry_after
        retry_in: float | None = None
        if self._host.online():
            retry_in = hint if hint is not None else backoff.next_delay()
            self._host.flush_later(slot, retry_in)
        pending = await self.pending(slot.room)
        self._host.emit(
            OutboxChanged(room_id=slot.room, state=state, pending=pending, retry_in=retry_in)
        )

    async def _flush(self, slot: Slot, wait_for: MessageId | None) -> None:
        """The entries in order; see :meth:`flush`."""
        for entry in await self._store.outbox(slot.room):
            if entry.failed is not None:
                continue
            if slot.state.blocked:
                return
            try:
                ack = await self._deliver(slot, entry)
            except RoomInactive as exc:
                await self._store.outbox_fail(entry.id, exc.code)
                continue
            except RelayError as exc:
                if exc.retryable or not refuses_for_good(exc):
                    raise RelayUnavailable(f"not sent now: {exc.code}") from exc
                await self._refused(slot, entry, exc.code)
                if entry.id == wait_for:
                    raise
                continue
            await self._delivered(slot, entry, ack)

    async def _refused(self, slot: Slot, entry: OutboxEntry, code: str) -> None:
        """The relay refused this entry for good: later entries announce its counter."""
        counter = from_msgpack(entry.plaintext, Plaintext).counter
        async with slot.lock:
            slot.state.note_refused(counter)
            await self._store.save_room(slot.room, slot.state.snapshot())
        await self._store.outbox_fail(entry.id, code)

    async def _deliver(self, slot: Slot, entry: OutboxEntry) -> MessageAck | None:
        """Send one entry until acknowledged; None if the relay already holds its id."""
        counter = from_msgpack(entry.plaintext, Plaintext).counter
        if entry.envelope and not slot.state.skipped_for(counter):
            envelope = from_json(entry.envelope, Envelope)
        else:
            envelope = await self._reseal(slot, entry, catch_up=False)
        for _ in range(_MAX_RESEALS):
            try:
                return await self._host.send_envelope(slot, envelope)
            except RelayError as exc:
                if exc.code == "msg.duplicate_id":
                    return None
                if exc.code not in ("msg.stale_epoch", "msg.unknown_head"):
                    raise
            envelope = await self._reseal(slot, entry, catch_up=True)
        raise RelayError(
            "the epoch kept changing; message left in the outbox", code="msg.stale_epoch"
        )

    async def _reseal(self, slot: Slot, entry: OutboxEntry, *, catch_up: bool) -> Envelope:
        """Seal an entry's plaintext under the current epoch, keeping its id and counter."""
        async with slot.lock:
            if catch_up:
                await self._host.catch_up_log(slot)
            await self._host.ensure_epoch(slot)
            slot.state.require_sendable()
            plaintext = _with_skipped(slot, from_msgpack(entry.plaintext, Plaintext))
            envelope = slot.state.seal(plaintext, message_id=entry.id)
            await self._store.outbox_replace(entry.id, to_json(envelope))
        return envelope

    async def _delivered(self, slot: Slot, entry: OutboxEntry, ack: MessageAck | None) -> None:
        plaintext = from_msgpack(entry.plaintext, Plaintext)
        body = plaintext.body
        message: StoredMessage | None = None
        if ack is not None and isinstance(body, TextBody):
            message = StoredMessage(
                room=slot.room,
                id=entry.id,
                seq=ack.seq,
                sender=slot.state.me,
                text=body.text,
                content_warning=body.content_warning,
                reply_to=body.reply_to,
                sent_at=plaintext.sent_at,
                ts=ack.ts,
                edited=False,
                mine=True,
            )
        async with slot.lock:
            if ack is not None:
                # Sealed with what it had to announce (_deliver re-sealed it if needed);
                # a duplicate id may be an older sealing without it: announce again.
                slot.state.announced(slot.state.skipped_for(plaintext.counter))
            new = await self._store.save_room(
                slot.room,
                slot.state.snapshot(),
                messages=[message] if message else [],
                outbox_done=[entry.id],
            )
        if message is not None and message.id in new:
            self._host.delivered(message)


def _with_skipped(slot: Slot, plaintext: Plaintext) -> Plaintext:
    """``plaintext`` listing every refused counter of ours below its own."""
    skipped = slot.state.skipped_for(plaintext.counter)
    if not skipped:
        return plaintext
    return msgspec.structs.replace(plaintext, skipped=sorted({*plaintext.skipped, *skipped}))
