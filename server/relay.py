"""What the relay does, independent of HTTP and websockets.

One piece past 600 lines because it is the one class every operation of
``docs/api.md`` goes through, each under its room's lock; splitting the operations
across modules would spread that one locking discipline over several files.

:class:`Relay` holds the storage, the hub and the verified room logs, and offers one
method per operation of ``docs/api.md``. Handlers and the stream are thin: they
decode, authenticate, call a method here and encode its answer. Every change to a
room happens under that room's lock in the same order: check the request, verify
it with ``protocol/`` against the cached log, commit it to storage (which assigns
its ``seq``), publish it to the hub, and answer. Only a committed change is
acknowledged or published; a change whose commit failed drops the cached log.

Membership checks use the verified log, never the relay's own tables, and a room the
caller is not in answers ``room.not_found`` exactly like a room that does not exist.

Several relay instances may share one storage, each caching logs another may
extend: every write names the log index it verified against, storage refuses it
(``log.conflict``) if the log moved on, and the change is verified again against the
reloaded log, a few times at most. Signs the cache lags (an envelope naming a later
head, an append past the cached head, an unknown caller) reload it first.
"""

from __future__ import annotations

import asyncio
import base64
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, TypeVar, final

from protocol import crypto
from protocol.api import (
    AccountDeleted,
    AppendResult,
    ErasedEvent,
    EventFrame,
    HistoryPage,
    InviteReadRequest,
    LogEvent,
    LogPage,
    MessageAck,
    MessageEvent,
    RoomEvent,
    RoomSync,
    SyncRequest,
    SyncResponse,
    TombstoneEvent,
)
from protocol.clock import SYSTEM_CLOCK, Clock
from protocol.encoding import canonical, to_json
from protocol.envelope import check_envelope
from protocol.errors import HearthError, LogError
from protocol.ids import ROOM_ID_CHARS, MemberId, MessageId, RoomId, b64url_encode
from protocol.messages import DeleteRequest, Envelope, EraseRequest
from protocol.ops import ROLE_RANK, CreateOp, JoinOp, LeaveOp, RetentionOp, SignedOp
from protocol.roomlog import RoomLog, op_hash
from protocol.signing import verify_delete, verify_erase, verify_invite_read
from server.auth import revocation_bound
from server.committer import Committer, Stored
from server.config import Config
from server.errors import RelayError
from server.hub import Hub, Listener
from server.rooms import Rooms, RoomState, not_found
from server.storage import MessageRecord, Storage

__all__ = ["INVITE_READ_SKEW_MS", "Relay"]

INVITE_READ_SKEW_MS: Final = 5 * 60 * 1000
"""How far an invite-log read's ``at`` may be from the relay's clock."""

_ATTEMPTS: Final = 3
"""How often a change is verified again after another instance outgrew its log."""

_T = TypeVar("_T")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _conflict(log: RoomLog) -> RelayError:
    return RelayError(
        f"the log's next index is {log.index + 1}",
        code="log.conflict",
        detail={"index": log.index, "head": _b64(log.head)},
    )


def _check_room_id(room: str) -> RoomId:
    # A malformed id names no room: the same answer as any other unknown room.
    if (
        len(room) != ROOM_ID_CHARS
        or not all(c.isalnum() or c in "-_" for c in room)
        or not room.isascii()
    ):
        raise not_found()
    return RoomId(room)


@final
class Relay:
    """The relay's operations over its storage, hub and verified room logs.

    Its collaborators are its own: callers ask it for an operation, never for the
    storage or the hub to call them directly (a test reads the source for it).
    """

    def __init__(
        self,
        config: Config,
        storage: Storage,
        hub: Hub,
        *,
        clock: Clock = SYSTEM_CLOCK,
        on_commit: Callable[[float, int, bool], None] | None = None,
    ) -> None:
        self.config = config
        self._storage = storage
        self._hub = hub
        self._rooms = Rooms(storage)
        self._clock = clock
        self._committer = Committer(storage, self._publish, clock, on_commit=on_commit)
        self.on_event: Callable[[RoomId], None] = lambda room: None
        """Told every room an event was committed in, here (push wakes devices)."""
        hub.watch_logs(self._log_changed)

    def _log_changed(self, room: RoomId | None) -> None:
        # Another instance appended to this room's log (or may have, to any room's).
        if room is None:
            self._rooms.drop_all()
        else:
            self._rooms.drop(room)

    def now(self) -> int:
        """The relay's clock, milliseconds since the Unix epoch."""
        return self._clock.now_ms()

    @staticmethod
    def room_id(text: str) -> RoomId:
        """Validate a room id from a path (``room.not_found`` if it cannot be one)."""
        return _check_room_id(text)

    async def _commit(self, room: RoomId, write: Callable[[], Awaitable[_T]]) -> _T:
        """Run a storage write; on any failure forget the (already mutated) cached log.

        The write runs shielded from cancellation: a client that hangs up must not
        cut a commit short between the database and the live stream.
        """
        task = asyncio.ensure_future(write())
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # The caller went away; the write goes on and must still be published,
            # here, still under the room's lock, or live listeners would not see it
            # before the room's next event.
            await asyncio.wait([task])
            if task.cancelled() or task.exception() is not None:
                self._rooms.drop(room)
            else:
                result: object = task.result()
                event = result[0] if isinstance(result, tuple) else result
                if isinstance(event, LogEvent | MessageEvent | TombstoneEvent | ErasedEvent):
                    self._publish(room, event)
            raise
        except BaseException:
            self._rooms.drop(room)
            raise

    def _publish(self, room: RoomId, event: RoomEvent) -> None:
        frame = to_json(EventFrame(room=room, event=event))
        self._hub.publish(room, event.seq, frame, log=isinstance(event, LogEvent))
        self.on_event(room)

    async def ping(self) -> None:
        """Raise StorageError unless the storage answers (``/readyz``)."""
        await self._storage.ping()

    async def check_member(self, member: MemberId, room_text: str) -> RoomId:
        """The room of ``room_text`` if ``member`` is in it, else ``room.not_found``."""
        room = _check_room_id(room_text)
        await self._rooms.member_state(room, [member])
        return room

    # -- live streams ------------------------------------------------------

    def subscribe(self, room: RoomId, listener: Listener) -> None:
        """Deliver the room's published events to ``listener`` (:mod:`server.hub`)."""
        self._hub.subscribe(room, listener)

    def unsubscribe(self, room: RoomId, listener: Listener) -> None:
        """Stop delivering the room's events to ``listener``."""
        self._hub.unsubscribe(room, listener)

    async def events_after(self, room: RoomId, after: int, limit: int) -> list[RoomEvent]:
        """Up to ``limit`` stored events of the room after ``after`` (a stream's replay).

        The caller checked membership (a stream follows only rooms its keys are in).
        """
        return await self._storage.events_after(room, after, limit)

    def cached_state(self, room: RoomId) -> RoomState | None:
        """The room's verified state if it is cached (no coroutine: the stream's hot path)."""
        return self._rooms.cached(room)

    async def room_state(self, room: RoomId) -> RoomState | None:
        """The room's verified state, loaded if need be (``None``: no such room)."""
        return await self._rooms.get(room)

    async def member_state(self, room: RoomId, members: list[MemberId]) -> RoomState:
        """The room's state if one of ``members`` is in it, else ``room.not_found``."""
        return await self._rooms.member_state(room, members)

    async def members_of(self, room: RoomId) -> list[MemberId]:
        """The room's members per the verified log (empty if there is no such room)."""
        state = self._rooms.cached(room) or await self._rooms.get(room)
        return list(state.log.members) if state is not None else []

    # -- rooms and logs ----------------------------------------------------

    async def create_room(self, member: MemberId, can_create: bool, op: SignedOp) -> AppendResult:
        """``POST /v1/rooms``: verify a ``room.create`` and store the new room."""
        content = op.content
        if not can_create:
            raise RelayError(
                "this session may not create rooms on this relay", code="room.create_forbidden"
            )
        if content.author != member:
            raise RelayError(
                "the operation's author is not this session's key", code="auth.forbidden"
            )
        if not isinstance(content.body, CreateOp):
            raise LogError("a room starts with room.create", code="log.invalid")
        existing = await self._rooms.get(content.room)
        if existing is not None:
            if existing.log.index >= 0 and op_hash(op) == existing.log.hash_at(0):
                seqs = await self._storage.op_seqs(content.room, [0])
                return AppendResult(room=content.room, index=0, head=op_hash(op), seq=seqs[0])
            raise RelayError("this room id is taken", code="log.conflict")
        log = RoomLog()
        head = log.append(op)
        roles = {m: v.role for m, v in log.members.items()}
        event = await self._storage.create_room(
            op, ts=self.now(), retention_days=content.body.policy.retention_days, members=roles
        )
        self._rooms.put(content.room, RoomState(log=log))
        self._publish(content.room, event)
        return AppendResult(room=content.room, index=0, head=head, seq=event.seq)

    async def append(self, member: MemberId, room_text: str, op: SignedOp) -> AppendResult:
        """``POST /v1/rooms/{room}/log``: compare-and-swap on the index, verify, store."""
        room = _check_room_id(room_text)
        content = op.content
        state = await self._rooms.get(room)
        joining = isinstance(content.body, JoinOp)
        if state is not None and member not in state.log.members and not joining:
            state = await self._rooms.refresh(room, state)
        if state is None or (member not in state.log.members and not joining):
            raise not_found()
        if isinstance(content.body, JoinOp) and content.body.invite_key not in state.log.invites:
            # Only the holder of an invite this log registered may learn that the room
            # exists; any other join gets the stranger's answer (like ``invite_log``).
            state = await self._rooms.refresh(room, state)  # invited through another instance?
            if state is None or content.body.invite_key not in state.log.invites:
                raise not_found()
        if content.room != room:
            raise LogError("the operation names another room", code="log.bad_room")
        if content.author != member:
            raise RelayError(
                "the operation's author is not this session's key", code="auth.forbidden"
            )
        for attempt in range(_ATTEMPTS):
            async with self._rooms.locked(room) as state:
                try:
                    return await self._append_locked(room, state, op)
                except RelayError as exc:
                    if exc.code != "log.conflict" or attempt == _ATTEMPTS - 1:
                        raise
                    # A conflict against a current log is the caller's; against an
                    # outgrown one (another instance appended), judge it again.
                    if await self._rooms.refresh(room, state) is state:
                        raise
        raise AssertionError("unreachable")

    async def _append_locked(self, room: RoomId, state: RoomState, op: SignedOp) -> AppendResult:
        log = state.log
        index = op.content.index
        if index <= log.index:
            if op_hash(op) == log.hash_at(index):  # a retry of an accepted operation
                seqs = await self._storage.op_seqs(room, [index])
                return AppendResult(room=room, index=index, head=op_hash(op), seq=seqs[index])
            raise _conflict(log)
        if index != log.index + 1:
            raise _conflict(log)
        # Messages checked against the log before this operation are numbered before it.
        await self._committer.drain(room)
        body = op.content.body
        if isinstance(body, JoinOp):
            invite = log.invites.get(body.invite_key)
            # The log checks the joiner's own clock; the relay also holds it to its own.
            if invite is not None and self.now() > invite.expires_at:
                raise LogError("this invite has expired", code="log.bad_invite")
        head = log.append(op)
        roles = {m: v.role for m, v in log.members.items()}
        policy = log.policy if isinstance(body, RetentionOp) else None
        event = await self._commit(
            room,
            lambda: self._storage.append_op(room, op, ts=self.now(), members=roles, policy=policy),
        )
        self._publish(room, event)
        return AppendResult(room=room, index=index, head=head, seq=event.seq)

    async def log_page(
        self, member: MemberId, room_text: str, *, after: int, limit: int
    ) -> LogPage:
        """``GET /v1/rooms/{room}/log``: operations with index > ``after``."""
        room = _check_room_id(room_text)
        state = await self._rooms.member_state(room, [member])
        if after + limit > state.log.index:
            # The page reaches the cached head: one written through another instance
            # a moment ago must be in it.
            state = await self._rooms.refresh(room, state) or state
        return _page(state.log, after, limit)

    async def invite_log(
        self,
        member: MemberId,
        room_text: str,
        request: InviteReadRequest,
        *,
        after: int,
        limit: int,
    ) -> LogPage:
        """``POST /v1/rooms/{room}/invite-log``: the log for the holder of a live invite."""
        room = _check_room_id(room_text)
        if request.reader != member:
            raise RelayError("the reader is not this session's key", code="auth.forbidden")
        now = self.now()
        if abs(now - request.at) > INVITE_READ_SKEW_MS:
            raise RelayError(
                "the request's time is too far from the relay's clock", code="auth.expired"
            )
        state = await self._rooms.get(room)
        if state is not None and request.invite_key not in state.log.invites:
            state = await self._rooms.refresh(room, state)  # created through another instance?
        if state is None:
            raise not_found()
        invite = state.log.invites.get(request.invite_key)
        if (
            invite is None
            or invite.revoked
            or invite.uses >= invite.max_uses
            or now > invite.expires_at
            or not state.log.may_grant(invite.created_by, invite.role)  # its creator left
        ):
            raise not_found()
        try:
            verify_invite_read(
                invite_key=request.invite_key,
                room=room,
                reader=member,
                at=request.at,
                sig=request.sig,
            )
        except HearthError as exc:
            raise not_found() from exc
        return _page(state.log, after, limit)

    # -- messages ----------------------------------------------------------

    async def send(self, member: MemberId, room_text: str | None, envelope: Envelope) -> MessageAck:
        """Store a message (HTTP or stream); idempotent by ``header.id``."""
        header = envelope.header
        room = _check_room_id(room_text) if room_text is not None else header.room
        await self._rooms.member_state(room, [member])
        if header.sender != member:
            raise RelayError("the sender is not this session's key", code="auth.forbidden")
        if header.room != room:
            raise HearthError("the message names another room", code="msg.bad_room")
        digest = crypto.blake2b(canonical(envelope), person=crypto.PERSON_OP_HASH)
        for attempt in range(_ATTEMPTS):
            async with self._rooms.locked(room) as state:
                if member not in state.log.members:
                    raise not_found()
                if attempt == 0 and header.head_index > state.log.index:
                    # The sender verified a longer log than this instance has cached.
                    await self._rooms.refresh(room, state)
                    continue
                try:
                    check_envelope(state.log, envelope)
                except HearthError:
                    # A retry of a message stored before its epoch went stale still
                    # gets its first answer: look for it only when the checks fail
                    # (storage finds the others while storing).
                    existing = await self._storage.find_message(room, header.id)
                    if existing is None:
                        raise
                    return _answer(room, header.id, digest, existing)
                # Queued in check order and committed together with whatever else
                # queued meanwhile (group commit), published, and only then answered;
                # the lock is free for the next sender while this one waits.
                stored = self._committer.submit(envelope, digest, log_index=state.log.index)
            try:
                # Not shielded: a sender that hangs up cancels only its own future (the
                # message is committed all the same, and ``drain`` follows the
                # committer's own); a shield would queue this task's wake-up behind
                # every connection's delivery of the batch instead of ahead of it.
                return _answer(room, header.id, digest, await stored)
            except RelayError as exc:
                if exc.code != "log.conflict" or attempt == _ATTEMPTS - 1:
                    raise
                self._rooms.drop(room)  # the log grew on another instance: admit it again
        raise AssertionError("unreachable")

    async def delete(
        self, member: MemberId, room_text: str, request: DeleteRequest
    ) -> TombstoneEvent:
        """``POST /v1/rooms/{room}/deletions``: by the sender, or a moderator or owner."""
        room = _check_room_id(room_text)
        await self._rooms.member_state(room, [member])
        content = request.content
        if content.author != member:
            raise RelayError(
                "the request's author is not this session's key", code="auth.forbidden"
            )
        if content.room != room:
            raise HearthError("the request names another room", code="msg.bad_room")
        verify_delete(request)
        for attempt in range(_ATTEMPTS):
            async with self._rooms.locked(room) as state:
                await self._committer.drain(room)  # numbered after the messages queued before
                role = state.log.role_of(member)
                if role is None:
                    raise not_found()
                record = await self._storage.find_message(room, content.target)
                if record is None:
                    raise RelayError("no such message in this room", code="msg.not_found")
                if record.sender != content.sender:
                    # The request names the counter gap it excuses (section 8.6): its
                    # sender must be the target's, which the relay can check.
                    raise RelayError(
                        "the request names another sender than the message's",
                        code="request.invalid",
                    )
                if record.sender != member and ROLE_RANK[role] < ROLE_RANK["moderator"]:
                    if attempt == 0 and await self._rooms.refresh(room, state) is not state:
                        continue  # promoted through another instance?
                    raise RelayError(
                        "only the sender, a moderator or an owner may delete this",
                        code="auth.forbidden",
                    )
                if record.removed_by is not None:
                    earlier = await self._storage.tombstone_at(room, record.removed_by)
                    if earlier is None:
                        raise RelayError("this message was erased", code="msg.not_found")
                    return earlier
                write = functools.partial(
                    self._storage.delete_message,
                    room,
                    request,
                    ts=self.now(),
                    log_index=state.log.index,
                )
                try:
                    event = await self._commit(room, write)
                except RelayError as exc:
                    if exc.code != "log.conflict" or attempt == _ATTEMPTS - 1:
                        raise
                    continue
                self._publish(room, event)
                return event
        raise AssertionError("unreachable")

    async def history(
        self, member: MemberId, room_text: str, *, before: int | None, limit: int
    ) -> HistoryPage:
        """``GET /v1/rooms/{room}/messages``: the newest events before ``before``."""
        room = await self.check_member(member, room_text)
        bound = before if before is not None else 2**53
        events = await self._storage.events_before(room, bound, limit + 1)
        more = len(events) > limit
        return HistoryPage(events=events[-limit:] if more else events, more=more)

    # -- sync --------------------------------------------------------------

    async def sync(self, members: Sequence[MemberId], request: SyncRequest) -> SyncResponse:
        """``POST /v1/sync``: every event after each position, ``limit`` in all."""
        rooms = [(_check_room_id(r), p) for r, p in request.positions.items()]
        for room, _ in rooms:
            try:
                await self._rooms.member_state(room, list(members))
            except RelayError as exc:
                exc.detail = {"room": room}
                raise
        budget = request.limit
        pages: list[RoomSync] = []
        more = False
        for room, position in rooms:
            events = await self._storage.events_after(room, position, budget + 1) if budget else []
            info = await self._storage.room_info(room)
            last_seq = info.last_seq if info else 0
            if len(events) > budget:
                events = events[:budget]
            if (events and events[-1].seq < last_seq) or (not events and position < last_seq):
                more = True
            budget -= len(events)
            pages.append(
                RoomSync(
                    room=room,
                    events=events,
                    low_water=info.low_water if info else 0,
                    last_seq=last_seq,
                )
            )
        return SyncResponse(rooms=pages, more=more)

    # -- account -----------------------------------------------------------

    async def delete_account(
        self, member: MemberId, leave: SignedOp | None, erase: EraseRequest | None = None
    ) -> AccountDeleted:
        """``POST /v1/account/delete``: leave, erase the key's messages, drop its data.

        Erasing needs the key's own signed :class:`EraseRequest` for the room: it
        travels in the :class:`ErasedEvent`, and members excuse the missing
        messages only on its strength (protocol.md section 8.9).
        """
        message_rooms = await self._storage.message_rooms(member)
        if message_rooms:
            if erase is None:
                raise RelayError(
                    "this key sent messages: include its signed erase request",
                    code="request.invalid",
                    detail={"rooms": message_rooms},
                )
            c = erase.content
            if c.member != member or [c.room] != message_rooms:
                raise RelayError(
                    "the erase request must be this key's, for its room",
                    code="request.invalid",
                    detail={"rooms": message_rooms},
                )
            verify_erase(erase)
        rooms = await self._storage.rooms_of(member)
        left: list[RoomId] = []
        if rooms:
            if leave is None or not isinstance(leave.content.body, LeaveOp):
                raise RelayError(
                    "this key is a member: include its signed room.leave",
                    code="request.invalid",
                    detail={"rooms": rooms},
                )
            if len(rooms) > 1 or leave.content.room != rooms[0]:
                raise RelayError(
                    "the leave must be for the key's room (keys are per room)",
                    code="request.invalid",
                    detail={"rooms": rooms},
                )
            await self.append(member, rooms[0], leave)
            left.append(rooms[0])
        erased = 0
        for room in await self._storage.message_rooms(member):
            async with self._rooms.locked(room):
                await self._committer.drain(room)
                result = await self._commit(
                    room,
                    functools.partial(
                        self._storage.erase_member, room, member, ts=self.now(), request=erase
                    ),
                )
                if result is not None:
                    event, count = result
                    erased += count
                    self._publish(room, event)
        blobs = await self._storage.forget_member(member)
        until = revocation_bound(self.now(), self.config.token_ttl)
        await self._storage.revoke_tokens(member, until=until)
        return AccountDeleted(left=left, erased=erased, blobs=blobs)

    # -- blobs -------------------------------------------------------------

    async def put_blob(self, member: MemberId, room_text: str, data: bytes) -> str:
        """Store an attachment for a room's members; return its id."""
        room = await self.check_member(member, room_text)
        blob = b64url_encode(crypto.random_bytes(16))
        await self._storage.put_blob(room, blob, owner=member, data=data, ts=self.now())
        return blob

    async def get_blob(self, member: MemberId, room_text: str, blob: str) -> bytes:
        """An attachment of a room the member is in."""
        room = await self.check_member(member, room_text)
        data = await self._storage.get_blob(room, blob) if len(blob) == 22 else None
        if data is None:
            raise RelayError("no such attachment", code="blob.not_found")
        return data


def _answer(room: RoomId, message: MessageId, digest: bytes, stored: Stored) -> MessageAck:
    """The acknowledgement of a stored message, or ``msg.duplicate_id`` for another one."""
    if isinstance(stored, MessageRecord) and stored.digest != digest:
        raise RelayError("another message was sent under this id", code="msg.duplicate_id")
    return MessageAck(room=room, id=message, seq=stored.seq, ts=stored.ts)


def _page(log: RoomLog, after: int, limit: int) -> LogPage:
    ops = log.ops
    start = max(after + 1, 0)
    chunk = list(ops[start : start + limit])
    return LogPage(ops=chunk, more=start + limit < len(ops))
