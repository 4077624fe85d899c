"""The inbox: what the room state accepted becomes stored messages, then events.

:meth:`Inbox.save` is the one place where a :class:`Step` of the pure room state
meets the disk: text messages are stored (encrypted), edits and deletions are
applied if their author may make them, and the new ops, epoch secrets and the
room's snapshot (with its position) go in the same transaction. Only after the
commit are the step's events announced, so an app never sees an event the store
could lose, and a crash never skips or repeats one. :meth:`Inbox.ingest` feeds
events in sequence order through the room state (fetching the log once when a
message names a head beyond it); :meth:`Inbox.messages` reads older history on
demand.

Two personal filters apply here, on this device only: messages and reactions
of members in the block list are stored (an unblock shows them again) but never
announced nor returned; and messages older than the room's retention are
neither stored nor kept (:meth:`Inbox.expire`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Final, Protocol, final

from msgspec.structs import replace

from client_sdk._blocklist import BlockList
from client_sdk._core.followups import FollowUp
from client_sdk._core.state import RoomState
from client_sdk._core.step import Accepted, Deletion, Opened, Step
from client_sdk._slot import Slot
from client_sdk._store import Store, StoredMessage
from client_sdk.events import (
    Event,
    MemberJoined,
    MemberRenamed,
    MessageDeleted,
    MessageEdited,
    MessageReceived,
    MessagesExpired,
    ReactionChanged,
    SupportRequested,
    SupportWithdrawn,
)
from client_sdk.message import Message
from protocol.api import HistoryPage, RoomEvent
from protocol.clock import SYSTEM_CLOCK, Clock
from protocol.ids import MemberId, MessageId
from protocol.messages import EditBody, ReactionBody, TextBody
from protocol.ops import ROLE_RANK

__all__ = ["DAY_MS", "Inbox", "InboxHost", "retention_cutoff", "to_message"]

_MAX_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
DAY_MS: Final = 24 * 3600 * 1000
_MAX_REACTIONS: Final = 20
"""Distinct emoji one member may put on one message; more are ignored."""


def retention_cutoff(state: RoomState, now: int) -> int | None:
    """The relay time before which the room's retention drops messages (None: keep)."""
    days = state.policy.retention_days
    return None if days is None else now - days * DAY_MS


def _utc(ms: int) -> datetime:
    # A sender's clock is whatever the sender wrote: keep it a representable date.
    return datetime.fromtimestamp(min(max(ms, 0), _MAX_MS) / 1000, tz=UTC)


def to_message(
    m: StoredMessage,
    blocked: BlockList | frozenset[MemberId] = frozenset(),
    room: RoomState | None = None,
) -> Message:
    """The app's view of a stored message: collapsed behind its warning until revealed.

    With ``room``, it carries the sender's label and role there now.
    """
    sender = None if room is None else room.member(m.sender)
    collapsed = m.content_warning is not None and not m.revealed and not m.mine
    reactions: dict[str, list[MemberId]] = {}
    for emoji, member in m.reactions:
        if member not in blocked:
            reactions.setdefault(emoji, []).append(member)
    return Message(
        id=m.id,
        room_id=m.room,
        sender=m.sender,
        text="" if collapsed else m.text,
        sent_at=_utc(m.sent_at),
        received_at=_utc(m.ts),
        content_warning=m.content_warning,
        reply_to=m.reply_to,
        edited=m.edited,
        mine=m.mine,
        seq=m.seq,
        collapsed=collapsed,
        reactions={e: tuple(who) for e, who in reactions.items()},
        sender_name="" if sender is None else sender.label,
        sender_role=None if sender is None else sender.role,
    )


def _accept_text(
    slot: Slot,
    item: Accepted,
    body: TextBody,
    batch: dict[MessageId, StoredMessage],
    pending: list[Event | MessageId],
) -> None:
    """A new text message: stored, then announced once the batch is committed."""
    h, plaintext = item.header, item.plaintext
    batch[h.id] = StoredMessage(
        room=slot.room,
        id=h.id,
        seq=item.seq,
        sender=h.sender,
        text=body.text,
        content_warning=body.content_warning,
        reply_to=body.reply_to,
        sent_at=plaintext.sent_at,
        ts=item.ts,
        edited=False,
        mine=h.sender == slot.state.me,
    )
    pending.append(h.id)


def _hidden(event: Event, blocks: BlockList) -> bool:
    """An event about a blocked member's words (or new name): not announced on this device."""
    if isinstance(event, MessageEdited):
        return event.message.sender in blocks
    if isinstance(event, ReactionChanged):
        return event.member in blocks or event.message.sender in blocks
    if isinstance(event, SupportRequested):
        return event.request.requester in blocks
    if isinstance(event, SupportWithdrawn):
        return event.requester in blocks
    if isinstance(event, MemberRenamed):
        return event.member in blocks
    return False


class InboxHost(Protocol):
    """What the inbox needs from the client."""

    def emit(self, event: Event) -> None:
        """Announce an event to the app."""
        ...

    def evict(self, slot: Slot, member: MemberId) -> None:
        """A blocked key joined our buddy chat: remove it (in the background)."""
        ...

    def follow_up(self, slot: Slot, item: FollowUp) -> None:
        """Run the work a step asks for (``_core/followups.py``), in the background."""
        ...

    async def catch_up_log(self, slot: Slot) -> None:
        """Fetch and verify the log after our head. Called holding ``slot.lock``."""
        ...

    async def retire(self, slot: Slot) -> None:
        """We left or were removed: stop following the room."""
        ...

    async def fetch_history(self, slot: Slot, before: int) -> HistoryPage:
        """A page of the room's events older than ``before``."""
        ...


@final
class Inbox:
    """Persisting and announcing what rooms accepted.

    ``clock`` says how old a message is (retention) and when a gap is judged.
    """

    def __init__(
        self, store: Store, host: InboxHost, blocks: BlockList, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._store = store
        self._host = host
        self._blocks = blocks
        self._clock = clock

    async def ingest(
        self,
        slot: Slot,
        events: Sequence[RoomEvent],
        opened: Mapping[int, Opened] | None = None,
    ) -> None:
        """Feed events (sequence order) to the room and persist the batch. Holds the lock.

        ``opened`` holds what :func:`open_ahead` verified and decrypted of them
        already. Whatever was processed is saved even if fetching the log fails
        half-way, so the stored position never runs ahead of the stored messages.
        """
        state = slot.state
        step = Step()
        ahead = opened or {}
        try:
            for event in events:
                if state.status != "active":
                    break
                part = state.receive(event, opened=ahead.get(event.seq))
                if part.need_log:
                    await self.save(slot, step)
                    step = Step()
                    await self._host.catch_up_log(slot)
                    part = state.receive(event, log_synced=True, opened=ahead.get(event.seq))
                step.extend(part)
        finally:
            await self.save(slot, step)
        if state.status != "active":
            await self._host.retire(slot)

    async def check_withheld(self, slot: Slot) -> None:
        """After a complete sync: counter gaps nothing explains become alarms."""
        async with slot.lock:
            step = slot.state.check_withheld(now=self._clock.now_ms())
            if step.items:
                await self.save(slot, step)

    async def save(
        self, slot: Slot, step: Step, *, all_ops: bool = False, announce: bool = True
    ) -> None:
        """Persist a step with the room's snapshot in one transaction, then announce it."""
        state = slot.state
        batch: dict[MessageId, StoredMessage] = {}
        deleted: list[MessageId] = []
        pending: list[Event | MessageId] = []
        cutoff = retention_cutoff(state, self._clock.now_ms())
        for item in step.items:
            if isinstance(item, Accepted):
                if cutoff is not None and item.ts < cutoff:
                    continue  # expired under the room's retention: never stored
                body = item.plaintext.body
                if isinstance(body, TextBody):
                    _accept_text(slot, item, body, batch, pending)  # most of a sync: no await
                else:
                    await self._accept(slot, item, batch, pending)
            elif isinstance(item, Deletion):
                target = batch.get(item.target) or await self._store.message(slot.room, item.target)
                if target is not None and (item.moderator or target.sender == item.by):
                    batch.pop(item.target, None)
                    deleted.append(item.target)
                    deletion = MessageDeleted(room_id=slot.room, message_id=item.target, by=item.by)
                    pending.append(state.describe(deletion))
            else:
                pending.append(item)
        ops = state.log.ops if all_ops else step.ops
        new = await self._store.save_room(
            slot.room,
            state.snapshot(),
            ops=[(op.content.index, op) for op in ops],
            secrets=state.secrets if all_ops else step.secrets,
            messages=batch.values(),
            deleted=deleted,
            now=self._clock.now_ms(),
        )
        for work in step.follow_ups:
            self._host.follow_up(slot, work)
        for member in self._blocked_joins(state, step):
            self._host.evict(slot, member)
        if not announce:
            return
        blocks = self._blocks
        fresh = set(new)  # a page holds hundreds: a list's `in` made announcing quadratic
        for out in pending:
            if isinstance(out, str):
                if out in fresh and batch[out].sender not in blocks:
                    message = to_message(batch[out], blocks, state)
                    self._host.emit(MessageReceived(room_id=slot.room, message=message))
            elif not _hidden(out, blocks):
                self._host.emit(out)

    def _blocked_joins(self, state: RoomState, step: Step) -> list[MemberId]:
        """Blocked keys that joined a buddy chat we may remove them from: refuse them.

        In a buddy chat the join is the request to talk; the owner's device answers
        it for the person who blocked that key.
        """
        if state.policy.kind != "buddy" or state.status != "active":
            return []
        mine = ROLE_RANK[state.log.role_of(state.me) or "member"]
        return [
            e.member
            for e in step.events
            if isinstance(e, MemberJoined)
            and e.member in self._blocks
            and mine > ROLE_RANK[state.log.role_of(e.member) or "member"]
        ]

    async def expire(self, slot: Slot) -> None:
        """Drop stored messages older than the room's retention, and say so. Holds no lock."""
        cutoff = retention_cutoff(slot.state, self._clock.now_ms())
        if cutoff is None:
            return
        gone = await self._store.purge_messages(slot.room, before_ts=cutoff)
        if gone:
            self._host.emit(
                MessagesExpired(room_id=slot.room, message_ids=tuple(gone), before=_utc(cutoff))
            )

    async def _accept(
        self,
        slot: Slot,
        item: Accepted,
        batch: dict[MessageId, StoredMessage],
        pending: list[Event | MessageId],
    ) -> None:
        h, plaintext = item.header, item.plaintext
        body = plaintext.body  # never a TextBody: ingest stores those itself (_accept_text)
        if isinstance(body, EditBody):
            target = batch.get(body.target) or await self._store.message(slot.room, body.target)
            if target is None or target.sender != h.sender or target.edited_seq > item.seq:
                return  # only the sender edits, only what we have, newest edit wins
            edited = replace(target, text=body.text, edited=True, edited_seq=item.seq, update=True)
            batch[body.target] = edited
            pending.append(
                MessageEdited(
                    room_id=slot.room, message=to_message(edited, self._blocks, slot.state)
                )
            )
        elif isinstance(body, ReactionBody):
            target = batch.get(body.target) or await self._store.message(slot.room, body.target)
            if target is None:
                return  # a reaction to a message we do not hold (purged, before our join)
            pair = (body.emoji, h.sender)
            current = set(target.reactions)
            if body.remove:
                current.discard(pair)
            elif sum(1 for _, who in current if who == h.sender) < _MAX_REACTIONS:
                current.add(pair)
            if current == set(target.reactions):
                return
            reacted = replace(target, reactions=tuple(sorted(current)), update=True)
            batch[body.target] = reacted
            pending.append(
                ReactionChanged(
                    room_id=slot.room,
                    message=to_message(reacted, self._blocks, slot.state),
                    member=h.sender,
                    emoji=body.emoji,
                    removed=body.remove,
                )
            )

    async def messages(self, slot: Slot, limit: int, before: MessageId | None) -> list[Message]:
        """The newest ``limit`` stored messages (before ``before``), backfilling if useful.

        Older events are fetched only if some could be readable: the room shares
        history, or a commit handed us secrets of epochs before our join.
        """
        room = slot.room
        before_seq: int | None = None
        if before is not None:
            anchor = await self._store.message(room, before)
            if anchor is None:
                raise KeyError(before)
            before_seq = anchor.seq
        hidden = self._blocks.members
        found = await self._store.messages(room, limit=limit, before_seq=before_seq, without=hidden)
        state = slot.state
        readable_past = state.policy.share_history or any(
            e < state.joined_epoch for e in state.secrets
        )
        while (
            len(found) < limit
            and readable_past
            and state.status == "active"
            and state.floor > state.low_water + 1
        ):
            async with slot.lock:
                page = await self._host.fetch_history(slot, state.floor)
                step = state.receive_history(page.events, more=page.more)
                await self.save(slot, step, announce=False)
            found = await self._store.messages(
                room, limit=limit, before_seq=before_seq, without=hidden
            )
        return [to_message(m, self._blocks, state) for m in found]

    async def reveal(self, slot: Slot, message_id: MessageId, *, revealed: bool) -> Message:
        """Open (or close again) a message's content warning on this device.

        Raises:
            KeyError: The store holds no such message.
        """
        stored = await self._store.message(slot.room, message_id)
        if stored is None:
            raise KeyError(message_id)
        if stored.revealed != revealed:
            stored = replace(stored, revealed=revealed)
            await self._store.update_message(stored)
        return to_message(stored, self._blocks, slot.state)
