"""The client: one identity on one relay, its rooms, the live stream and the outbox.

:class:`HearthClient` is the asyncio driver around the plain state of
``_roomstate.py``: it authenticates room keys, moves events from the relay into
each :class:`RoomState` in sequence order, persists what they accepted in the
local store (one transaction per batch, together with the new position) and only
then announces it as typed events. It owns three kinds of work:

- the *stream task* (``live=True``): connect the websocket, catch up over HTTP
  (a complete sync, after which counter gaps are withheld-message alarms),
  subscribe from the stored positions, then follow live events; reconnect with
  exponential backoff and full jitter;
- the *outbox*: a message is sealed and stored before it is sent, sent over the
  websocket (acknowledged) or HTTP, resent as the identical envelope after a
  failure or restart (the relay is idempotent by message id), and re-sealed under
  the current epoch with the same id if the relay answers ``msg.stale_epoch``;
- *log operations* (create, invite, join, remove, leave, role, rotate): signed at
  the next index, appended with compare-and-swap, and on ``log.conflict`` rebased
  on the relay's log (verified first) and retried, a bounded number of times.

Each room has one lock; everything that reads or changes a room's state holds it,
so events and our own operations are applied one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final, TypeVar, final
from urllib.parse import urlsplit

from client_sdk._roomstate import (
    Accepted,
    Deletion,
    RoomState,
    Step,
    create_op,
)
from client_sdk._store import OutboxEntry, Store, StoredMessage
from client_sdk._transport import StreamConnection, Transport, origin_of
from client_sdk.errors import (
    ClientClosed,
    InviteError,
    RelayError,
    RelayUnavailable,
    RoomBlocked,
    RoomInactive,
    StoreError,
)
from client_sdk.events import (
    ConnectionChanged,
    Event,
    MessageDeleted,
    MessageEdited,
    MessageReceived,
)
from client_sdk.identity import Identity
from client_sdk.message import Message
from client_sdk.room import Room
from protocol import crypto
from protocol.api import (
    AckFrame,
    AppendResult,
    AuthFrame,
    AuthRequest,
    ErrorFrame,
    EventFrame,
    InviteReadRequest,
    MessageAck,
    ReadyFrame,
    RoomEvent,
    SendFrame,
    Session,
    SubscribeFrame,
    SyncRequest,
)
from protocol.encoding import canonical, from_json, from_msgpack, to_json
from protocol.errors import DecodeError, ForkDetected, HearthError, LogError
from protocol.ids import (
    MessageId,
    RoomId,
    b64url_decode,
    b64url_encode,
    new_message_id,
    new_room_id,
)
from protocol.messages import (
    Body,
    EditBody,
    Envelope,
    Plaintext,
    ProfileBody,
    RulesBody,
    TextBody,
)
from protocol.ops import Policy, Role, SignedOp
from protocol.signing import InviteKey, sign_auth, sign_delete

__all__ = ["HearthClient"]

_log = logging.getLogger("client_sdk")

_T = TypeVar("_T")
_MAX_REBASES: Final = 8
_MAX_RESEALS: Final = 4
_SYNC_PAGE: Final = 500
_HISTORY_PAGE: Final = 200
_TOKEN_MARGIN_MS: Final = 60_000
_ACK_TIMEOUT: Final = 10.0
_BATCH: Final = 256
_CLOSED: Final = object()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


_MAX_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def _utc(ms: int) -> datetime:
    # A sender's clock is whatever the sender wrote: keep it a representable date.
    return datetime.fromtimestamp(min(max(ms, 0), _MAX_MS) / 1000, tz=UTC)


def _to_message(m: StoredMessage) -> Message:
    return Message(
        id=m.id,
        room_id=m.room,
        sender=m.sender,
        text=m.text,
        sent_at=_utc(m.sent_at),
        received_at=_utc(m.ts),
        content_warning=m.content_warning,
        reply_to=m.reply_to,
        edited=m.edited,
        mine=m.mine,
        seq=m.seq,
    )


def _refuses_for_good(exc: RelayError) -> bool:
    """A verdict on the message itself (resending the same bytes cannot help)."""
    return exc.code.startswith(("msg.", "wire.", "room.", "request.")) or exc.code in {
        "auth.forbidden",
        "request.too_large",
    }


def parse_invite(link: str) -> tuple[RoomId, InviteKey]:
    """The room and invite key of ``{base}/join/{room}#{secret}``."""
    parts = urlsplit(link.strip())
    segments = parts.path.rstrip("/").split("/")
    try:
        if len(segments) < 2 or segments[-2] != "join" or not parts.fragment:
            raise InviteError("not a Hearth invite link", code="invite.malformed")
        room = RoomId(segments[-1])
        if len(room) != 22:
            raise InviteError("not a Hearth invite link", code="invite.malformed")
        b64url_decode(room)
        return room, InviteKey(b64url_decode(parts.fragment))
    except (DecodeError, ValueError) as exc:
        raise InviteError("not a Hearth invite link", code="invite.malformed") from exc


@dataclass(slots=True)
class _Slot:
    """A room's state with its lock and the in-memory session of its key."""

    state: RoomState
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    session: Session | None = None

    @property
    def room(self) -> RoomId:
        return self.state.room


@final
class HearthClient:
    """One identity's connection to one relay. Use as ``async with``.

    Example::

        async with HearthClient("http://127.0.0.1:8080", me, store_path="me.db") as client:
            room = await client.create_group("Anxiety circle", rules="Be kind.")
            await room.send("hello")

    Args:
        base_url: The relay, e.g. ``"https://relay.example"``.
        identity: Whose keys to use.
        store_path: The local SQLite store of this identity on this device.
        live: Keep a websocket open and follow rooms live. With ``False`` the
            client only talks to the relay when asked (:meth:`sync`, sends), as a
            mobile background fetch does.
        registration_token: Offered when creating rooms on a relay whose creation
            policy is ``token``.
        rotate_after: Seconds after which the next send first rotates the epoch.
        rotate_every: Messages in one epoch after which the next send rotates.
        timeout: Seconds for each HTTP request and the stream's handshake.
        reconnect_delay: (first, largest) delay in seconds between reconnects;
            each attempt doubles it, with full jitter.
    """

    def __init__(
        self,
        base_url: str,
        identity: Identity,
        *,
        store_path: str | os.PathLike[str],
        live: bool = True,
        registration_token: str | None = None,
        rotate_after: float = 7 * 24 * 3600,
        rotate_every: int = 1000,
        timeout: float = 15.0,
        reconnect_delay: tuple[float, float] = (0.25, 30.0),
    ) -> None:
        self._base_url = base_url.rstrip("/")
        origin_of(self._base_url)  # a malformed URL fails here, not on first use
        self._identity = identity
        self._store_path = store_path
        self._live = live
        self._registration_token = registration_token
        self._rotate_after_ms = int(rotate_after * 1000)
        self._rotate_every = rotate_every
        self._timeout = timeout
        self._reconnect = reconnect_delay
        self._state = "new"
        self._store: Store | None = None
        self._transport: Transport | None = None
        self._slots: dict[RoomId, _Slot] = {}
        self._events: asyncio.Queue[object] = asyncio.Queue()
        self._sync_lock = asyncio.Lock()
        self._stream_task: asyncio.Task[None] | None = None
        self._ws: StreamConnection | None = None
        self._ws_rooms: set[RoomId] = set()
        self._acks: dict[MessageId, asyncio.Future[MessageAck]] = {}
        self._restart = asyncio.Event()
        self._wake = asyncio.Event()
        self._online = False
        self._attempt = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> HearthClient:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the store, load its rooms and (if ``live``) start following them.

        Raises:
            StoreError: The store cannot be opened, or belongs to another identity.
        """
        if self._state != "new":
            raise ClientClosed("a client opens once", code="client.closed")
        store = await Store.open(self._store_path, self._identity.store_key())
        try:
            for room in await store.room_ids():
                ops, secrets, snapshot = await store.load_room(room)
                try:
                    state = RoomState.restore(
                        self._identity.room_keys(room), ops, secrets, snapshot
                    )
                except (LogError, ForkDetected) as exc:
                    raise StoreError(
                        f"the stored log of room {room} does not verify", code="store.corrupt"
                    ) from exc
                self._slots[room] = _Slot(state)
        except BaseException:
            await store.close()
            raise
        self._store = store
        self._transport = Transport(self._base_url, timeout=self._timeout)
        self._state = "open"
        if self._live:
            self._stream_task = asyncio.create_task(self._stream_loop(), name="hearth-stream")

    async def close(self) -> None:
        """Stop the stream, close the store. Unsent messages stay in the outbox."""
        if self._state != "open":
            if self._state == "new":
                self._events.put_nowait(_CLOSED)
            self._state = "closed"
            return
        self._state = "closing"
        tasks = [*self._tasks, *([self._stream_task] if self._stream_task else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for slot in self._slots.values():
            # Wait for work in progress to reach the store before closing it.
            async with slot.send_lock, slot.lock:  # the order every sender takes them in
                pass
        if self._transport is not None:
            await self._transport.close()
        self._state = "closed"
        if self._store is not None:
            await self._store.close()
        self._events.put_nowait(_CLOSED)

    def _check_open(self) -> tuple[Store, Transport]:
        if self._state == "new":
            raise ClientClosed("open the client first (async with)", code="client.not_open")
        if self._state == "closed" or self._store is None or self._transport is None:
            raise ClientClosed("the client is closed", code="client.closed")
        return self._store, self._transport

    # -- public API --------------------------------------------------------------

    @property
    def rooms(self) -> tuple[Room, ...]:
        """The rooms this identity is in (not those it left or was removed from)."""
        return tuple(Room(self, r) for r, s in self._slots.items() if s.state.status == "active")

    def room(self, room_id: RoomId | str) -> Room:
        """A room from the local store, by id (also one that was left, to read it).

        Raises:
            KeyError: The store holds no such room.
        """
        if RoomId(room_id) not in self._slots:
            raise KeyError(room_id)
        return Room(self, RoomId(room_id))

    @property
    def online(self) -> bool:
        """True while the live stream is connected."""
        return self._online

    @property
    def identity(self) -> Identity:
        """The identity this client acts for."""
        return self._identity

    async def create_group(
        self,
        name: str,
        *,
        topic: str = "",
        rules: str | None = None,
        description: str = "",
        share_history: bool = False,
        invite_role: Role = "moderator",
        max_members: int | None = None,
        retention_days: int | None = None,
    ) -> Room:
        """Create a support group; this identity becomes its owner.

        The name, topic, description and rules are sent as encrypted messages: the
        relay never learns them.

        Args:
            name: The group's name (at most 500 characters).
            topic: A short topic line.
            rules: The ground rules (version 1), if any.
            description: A longer description.
            share_history: Pass earlier epoch secrets to members who join later.
            invite_role: The lowest role that may invite.
            max_members: A cap the log enforces.
            retention_days: The relay purges messages older than this.

        Raises:
            RelayError: ``room.create_forbidden`` if this relay does not let us
                create rooms, ``rate.limited``.
            RelayUnavailable: The relay cannot be reached.
        """
        policy = Policy(
            kind="group",
            invite_role=invite_role,
            share_history=share_history,
            max_members=max_members,
            retention_days=retention_days,
        )
        return await self._create(
            policy, ProfileBody(name=name, topic=topic, description=description), rules
        )

    async def create_buddy_chat(
        self, name: str = "Buddy chat", *, topic: str = "", rules: str | None = None
    ) -> Room:
        """Create a 1:1 buddy chat (at most two members); invite the buddy with a link."""
        policy = Policy(kind="buddy", invite_role="owner", max_members=2)
        return await self._create(policy, ProfileBody(name=name, topic=topic), rules)

    async def create_program(
        self,
        name: str,
        *,
        topic: str = "",
        rules: str | None = None,
        description: str = "",
        invite_role: Role = "supporter",
        max_members: int | None = None,
    ) -> Room:
        """Create a community program run by trained peer supporters.

        Give supporters their role with invites that grant ``supporter``
        (``room.create_invite(role="supporter")``) or with :meth:`Room.set_role`.
        """
        policy = Policy(kind="program", invite_role=invite_role, max_members=max_members)
        body = ProfileBody(name=name, topic=topic, description=description)
        return await self._create(policy, body, rules)

    async def join(self, link: str) -> Room:
        """Join a room with an invite link.

        The log is read with the invite's proof and verified in full before
        anything is signed; the join commits a new epoch sealed to every member's
        key *from that verified log* and to our own. On a concurrent change the
        join is rebuilt on the new log and retried.

        Raises:
            InviteError: The link is malformed, or the room has no live invite
                for it (``invite.unknown``, ``invite.expired``, ``invite.used_up``,
                ``invite.revoked``).
            LogError: The relay served a log that does not verify.
        """
        self._check_open()
        room, invite = parse_invite(link)
        existing = self._slots.get(room)
        if existing is not None and existing.state.status == "active":
            return Room(self, room)
        keys = self._identity.room_keys(room)
        slot = _Slot(RoomState(keys))
        for _ in range(_MAX_REBASES):
            state = RoomState(keys)
            try:
                ops = await self._with_token(
                    slot, lambda t: self._read_invite_log(slot, t, room, invite)
                )
            except RelayError as exc:
                if exc.code != "room.not_found":
                    raise
                # No live invite, or we are a member already (a join whose answer
                # was lost, a store restored from the recovery phrase).
                recovered = await self._recover_membership(slot, room)
                if recovered is not None:
                    return recovered
                raise InviteError(
                    "the relay knows no live invite for this link", code="invite.unknown"
                ) from exc
            state.load_log(ops)
            if state.log.room != room:
                raise LogError("the relay served another room's log", code="log.bad_room")
            if keys.member in state.log.members:
                recovered = await self._recover_membership(slot, room)
                if recovered is not None:
                    return recovered
            op = state.join_op(invite, now=_now_ms())
            try:
                result = await self._append_retrying(slot, op)
            except RelayError as exc:
                if exc.code == "log.conflict":
                    continue
                if exc.code == "log.bad_invite":
                    raise InviteError(exc.message, code="invite.refused") from exc
                raise
            step = state.apply_op(op)
            state.position = result.seq
            state.floor = state.start_seq = result.seq
            state.seq_index = op.content.index
            state.joined_epoch = state.log.epoch
            slot.state = state
            self._slots[room] = slot
            async with slot.lock:
                await self._save(slot, step, all_ops=True)
            self._rooms_changed()
            return Room(self, room)
        raise RelayError("the room kept changing while joining", code="log.conflict")

    async def _append_retrying(self, slot: _Slot, op: SignedOp) -> AppendResult:
        """Append ``op``; if the answer is lost, send the identical op again.

        The relay answers a repeated, already accepted operation with its
        original result, so a join cut off on the way back still completes.
        """
        _, transport = self._check_open()
        low, high = self._reconnect
        for attempt in range(4):
            try:
                return await self._with_token(
                    slot, partial(transport.append, room=slot.room, op=op)
                )
            except RelayUnavailable:
                if attempt == 3:
                    raise
                await asyncio.sleep(random.uniform(0, min(high, low * 2**attempt)))  # noqa: S311
        raise AssertionError("unreachable")  # pragma: no cover

    async def _recover_membership(self, slot: _Slot, room: RoomId) -> Room | None:
        """Rebuild a room we are already a member of from its log (None if we are not).

        Every commit that has a share for us is opened, so every epoch since we
        joined is readable; the sync then starts from the room's first event.
        """
        _, transport = self._check_open()
        state = RoomState(slot.state.keys)
        ops: list[SignedOp] = []
        try:
            while True:
                page = await self._with_token(
                    slot, partial(transport.log, room=room, after=len(ops) - 1)
                )
                ops += page.ops
                if not page.more or not page.ops:
                    break
        except RelayError as exc:
            if exc.code == "room.not_found":
                return None
            raise
        step = Step()
        for op in ops:
            step.extend(state.apply_op(op))
        if state.frozen or state.me not in state.log.members:
            return None
        state.joined_epoch = min(state.secrets, default=state.log.epoch)
        slot.state = state
        self._slots[room] = slot
        async with slot.lock:
            await self._save(slot, Step(secrets=dict(state.secrets)), all_ops=True)
        self._rooms_changed()
        return Room(self, room)

    async def sync(self) -> None:
        """Catch every room up with the relay once, then send what waits in the outbox.

        Pages through ``POST /v1/sync`` until the relay has nothing more. After
        this complete pass a gap in a sender's counters raises a ``withheld``
        alarm. Meant for apps without the live stream (``live=False``), such as a
        mobile background fetch; with the stream it is done on every reconnect.

        Raises:
            RelayUnavailable: The relay cannot be reached.
        """
        self._check_open()
        await self._sync()
        await self.flush()

    async def flush(self) -> int:
        """Try to send everything in the outbox now; return how many still wait."""
        store, _ = self._check_open()
        for room in {e.room for e in await store.outbox() if e.failed is None}:
            slot = self._slots.get(room)
            if slot is not None and slot.state.status == "active":
                with contextlib.suppress(RelayUnavailable, RoomBlocked):
                    await self._flush_room(slot)
        return sum(1 for e in await store.outbox() if e.failed is None)

    async def events(self) -> AsyncIterator[Event]:
        """Typed events of every room, in the order they were verified.

        Events are buffered from the moment the client opens, so none is lost
        before the app starts iterating. The iterator ends when the client
        closes. Iterate it from one task: concurrent iterators share the events.
        """
        while True:
            item = await self._events.get()
            if item is _CLOSED:
                self._events.put_nowait(_CLOSED)  # end other iterators too
                return
            yield item  # type: ignore[misc]  # only events and _CLOSED are queued

    # -- rooms: creation ------------------------------------------------------------

    async def _create(self, policy: Policy, profile: ProfileBody, rules: str | None) -> Room:
        _, transport = self._check_open()
        room = new_room_id()
        keys = self._identity.room_keys(room)
        slot = _Slot(RoomState(keys))
        op = create_op(keys, policy, now=_now_ms())
        result = await self._with_token(slot, lambda t: transport.create_room(t, op), create=True)
        state = slot.state
        step = state.apply_op(op)
        state.position = result.seq
        state.floor = 1
        state.profile = profile
        self._slots[room] = slot
        async with slot.lock:
            await self._save(slot, step)
        await self._send(slot, profile)
        if rules is not None:
            await self._send(slot, RulesBody(version=1, text=rules))
        self._rooms_changed()
        return Room(self, room)

    # -- authentication ---------------------------------------------------------------

    async def _authenticate(self, slot: _Slot, *, create: bool = False) -> str:
        _, transport = self._check_open()
        keys = slot.state.keys
        challenge = await transport.challenge(keys.member)
        if challenge.origin != transport.origin:
            # The answer is bound to the origin the relay names: a relay naming
            # another origin wants a signature to replay elsewhere.
            raise RelayError(
                f"the relay signs in as {challenge.origin!r}, not {transport.origin!r}",
                code="auth.origin_mismatch",
            )
        nonce = 0
        if create and challenge.pow_difficulty:
            nonce = await asyncio.to_thread(
                crypto.pow_solve,
                challenge.challenge,
                b64url_decode(keys.member),
                challenge.pow_difficulty,
            )
        sig = sign_auth(
            keys,
            origin=challenge.origin,
            challenge=challenge.challenge,
            expires_at=challenge.expires_at,
        )
        session = await transport.session(
            AuthRequest(
                key=keys.member,
                challenge=challenge.challenge,
                sig=sig,
                pow_nonce=nonce,
                registration_token=self._registration_token if create else None,
            )
        )
        slot.session = session
        return session.token

    async def _token(self, slot: _Slot, *, create: bool = False) -> str:
        session = slot.session
        if (
            session is not None
            and session.expires_at - _now_ms() > _TOKEN_MARGIN_MS
            and (session.can_create or not create)
        ):
            return session.token
        return await self._authenticate(slot, create=create)

    async def _with_token(
        self,
        slot: _Slot,
        call: Callable[[str], Awaitable[_T]],
        *,
        create: bool = False,
    ) -> _T:
        """Run ``call`` with the room key's token; authenticate again once if refused."""
        token = await self._token(slot, create=create)
        try:
            return await call(token)
        except RelayError as exc:
            if exc.code not in ("auth.invalid", "auth.expired"):
                raise
        slot.session = None
        return await call(await self._token(slot, create=create))

    # -- reading the log -------------------------------------------------------------

    async def _read_invite_log(
        self, slot: _Slot, token: str, room: RoomId, invite: InviteKey
    ) -> list[SignedOp]:
        """The whole log, read with the invite's proof (paginated)."""
        _, transport = self._check_open()
        ops: list[SignedOp] = []
        reader = slot.state.me
        while True:
            at = _now_ms()
            request = InviteReadRequest(
                invite_key=invite.public,
                reader=reader,
                at=at,
                sig=invite.prove_read(room=room, reader=reader, at=at),
            )
            page = await transport.invite_log(token, room, request, after=len(ops) - 1)
            ops += page.ops
            if not page.more or not page.ops:
                return ops

    async def _catch_up_log(self, slot: _Slot) -> None:
        """Fetch, verify and store the operations after our head. Holds the room's lock.

        Used before a rebase, a re-seal, or when a message names a head beyond our
        log. What verified is saved even if a later page fails.
        """
        _, transport = self._check_open()
        state = slot.state
        step = Step()
        try:
            while not state.frozen:
                after = state.log.index
                page = await self._with_token(
                    slot, partial(transport.log, room=slot.room, after=after)
                )
                for op in page.ops:
                    step.extend(state.apply_op(op))
                    if state.frozen:
                        return
                if not page.more or not page.ops:
                    return
        finally:
            await self._save(slot, step)

    # -- our own log operations ---------------------------------------------------------

    async def _commit_op(self, slot: _Slot, build: Callable[[], SignedOp | None]) -> bool:
        """Append our operation, rebasing on ``log.conflict``. Holds the room's lock.

        Returns False if ``build`` found nothing left to do after a rebase.
        """
        _, transport = self._check_open()
        state = slot.state
        for _ in range(_MAX_REBASES):
            op = build()
            if op is None:
                return False
            try:
                await self._with_token(slot, partial(transport.append, room=slot.room, op=op))
            except RelayError as exc:
                if exc.code != "log.conflict":
                    raise
                await self._catch_up_log(slot)
                continue
            step = state.apply_op(op)
            await self._save(slot, step)
            if state.status != "active":
                await self._retire(slot)
            return True
        raise RelayError("the room's log kept changing; try again", code="log.conflict")

    async def _ensure_epoch(self, slot: _Slot) -> None:
        """Rotate first if the log requires it (after a leave) or the schedule is due."""
        state = slot.state

        def build() -> SignedOp | None:
            now = _now_ms()
            due = state.rotation_due(
                now=now, max_age_ms=self._rotate_after_ms, max_messages=self._rotate_every
            )
            return state.rotate_op(now=now) if due else None

        await self._commit_op(slot, build)

    async def _room_op(self, room: RoomId, build: Callable[[RoomState], SignedOp | None]) -> None:
        slot = self._slot(room)
        async with slot.lock:
            slot.state.require_sendable()
            await self._commit_op(slot, lambda: build(slot.state))

    def _slot(self, room: RoomId) -> _Slot:
        self._check_open()
        slot = self._slots.get(room)
        if slot is None:
            raise KeyError(room)
        return slot

    async def _retire(self, slot: _Slot) -> None:
        """We left or were removed: stop following the room, drop its unsent messages."""
        store, _ = self._check_open()
        for entry in await store.outbox(slot.room):
            if entry.failed is None:
                await store.outbox_fail(entry.id, f"room.{slot.state.status}")
        self._rooms_changed()

    # -- sending --------------------------------------------------------------------

    async def _send(self, slot: _Slot, body: Body) -> MessageId:
        store, _ = self._check_open()
        state = slot.state
        async with slot.lock:
            state.require_sendable()
            try:
                await self._ensure_epoch(slot)
            except (RelayUnavailable, RelayError) as exc:
                # Offline (or throttled), a rotation the schedule asks for waits;
                # one the log requires (after a leave) makes the message wait unsealed.
                if isinstance(exc, RelayError) and not exc.retryable:
                    raise
            state.require_sendable()
            message_id = new_message_id()
            plaintext = Plaintext(
                device=store.device,
                counter=state.next_counter(),
                sent_at=_now_ms(),
                body=body,
            )
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
            await store.save_room(slot.room, state.snapshot(), outbox_add=entry)
        # Queued: if the relay cannot be reached or an alarm blocks the room now,
        # the message goes out later, exactly once.
        with contextlib.suppress(RelayUnavailable, RoomBlocked):
            await self._flush_room(slot, wait_for=entry.id)
        return entry.id

    async def _flush_room(self, slot: _Slot, *, wait_for: MessageId | None = None) -> None:
        """Send the room's outbox in order; stop at the first failure to reach the relay.

        A blocked room keeps its outbox until its alarms are acknowledged: what
        was sealed before an alarm is not sent under a view the alarm put in doubt.
        """
        store, _ = self._check_open()
        async with slot.send_lock:
            for entry in await store.outbox(slot.room):
                if entry.failed is not None:
                    continue
                if slot.state.blocked:
                    return
                try:
                    ack = await self._deliver(slot, entry)
                except RoomInactive as exc:
                    await store.outbox_fail(entry.id, exc.code)
                    continue
                except RelayError as exc:
                    if exc.retryable or not _refuses_for_good(exc):
                        raise RelayUnavailable(f"not sent now: {exc.code}") from exc
                    await store.outbox_fail(entry.id, exc.code)
                    if entry.id == wait_for:
                        raise
                    continue
                await self._delivered(slot, entry, ack)

    async def _deliver(self, slot: _Slot, entry: OutboxEntry) -> MessageAck | None:
        """Send one entry until acknowledged; None if the relay already holds its id."""
        if entry.envelope:
            envelope = from_json(entry.envelope, Envelope)
        else:
            envelope = await self._reseal(slot, entry, catch_up=False)
        for _ in range(_MAX_RESEALS):
            try:
                return await self._send_envelope(slot, envelope)
            except RelayError as exc:
                if exc.code == "msg.duplicate_id":
                    return None  # an earlier envelope of ours under this id was stored
                if exc.code not in ("msg.stale_epoch", "msg.unknown_head"):
                    raise
            envelope = await self._reseal(slot, entry, catch_up=True)
        raise RelayError(
            "the epoch kept changing; message left in the outbox", code="msg.stale_epoch"
        )

    async def _reseal(self, slot: _Slot, entry: OutboxEntry, *, catch_up: bool) -> Envelope:
        """Seal an entry's plaintext under the current epoch, keeping its id and counter.

        For a message the relay refused as ``msg.stale_epoch`` (the epoch moved on
        while it waited) or one queued unsealed because a rotation was due.
        """
        store, _ = self._check_open()
        async with slot.lock:
            if catch_up:
                await self._catch_up_log(slot)
            await self._ensure_epoch(slot)
            slot.state.require_sendable()
            plaintext = from_msgpack(entry.plaintext, Plaintext)
            envelope = slot.state.seal(plaintext, message_id=entry.id)
            await store.outbox_replace(entry.id, to_json(envelope))
        return envelope

    async def _send_envelope(self, slot: _Slot, envelope: Envelope) -> MessageAck:
        _, transport = self._check_open()
        ws = self._ws
        if ws is not None and slot.room in self._ws_rooms:
            message_id = envelope.header.id
            future: asyncio.Future[MessageAck] = asyncio.get_running_loop().create_future()
            self._acks[message_id] = future
            try:
                await ws.send(SendFrame(envelope=envelope))
                return await asyncio.wait_for(asyncio.shield(future), _ACK_TIMEOUT)
            except (RelayUnavailable, TimeoutError):
                pass  # fall back to HTTP: the relay is idempotent by message id
            except RelayError as exc:
                if "close" not in exc.detail:
                    raise  # the relay's verdict on this message
                # The stream closed under us (shutdown, behind): not about the message.
            finally:
                self._acks.pop(message_id, None)
        return await self._with_token(slot, lambda t: transport.send(t, envelope))

    async def _delivered(self, slot: _Slot, entry: OutboxEntry, ack: MessageAck | None) -> None:
        store, _ = self._check_open()
        plaintext = from_msgpack(entry.plaintext, Plaintext)
        messages: list[StoredMessage] = []
        body = plaintext.body
        if ack is not None and isinstance(body, TextBody):
            messages.append(
                StoredMessage(
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
            )
        async with slot.lock:
            new = await store.save_room(
                slot.room, slot.state.snapshot(), messages=messages, outbox_done=[entry.id]
            )
        for m in messages:
            if m.id in new:
                self._emit(MessageReceived(room_id=slot.room, message=_to_message(m)))

    # -- receiving ------------------------------------------------------------------

    async def _ingest(self, slot: _Slot, events: Sequence[RoomEvent]) -> None:
        """Feed events (sequence order) to the room and persist the batch. Holds the lock.

        Whatever was processed is saved even if fetching the log fails half-way,
        so the stored position never runs ahead of the stored messages.
        """
        state = slot.state
        step = Step()
        try:
            for event in events:
                if state.status != "active":
                    break
                part = state.receive(event)
                if part.need_log:
                    await self._save(slot, step)
                    step = Step()
                    await self._catch_up_log(slot)
                    part = state.receive(event, log_synced=True)
                step.extend(part)
        finally:
            await self._save(slot, step)
        if state.status != "active":
            await self._retire(slot)

    async def _save(
        self, slot: _Slot, step: Step, *, all_ops: bool = False, announce: bool = True
    ) -> None:
        """Persist a step with the room's snapshot in one transaction, then announce it."""
        store, _ = self._check_open()
        state = slot.state
        batch: dict[MessageId, StoredMessage] = {}
        deleted: list[MessageId] = []
        pending: list[Event | MessageId] = []
        for item in step.items:
            if isinstance(item, Accepted):
                await self._accept(slot, item, batch, pending)
            elif isinstance(item, Deletion):
                target = batch.get(item.target) or await store.message(slot.room, item.target)
                if target is not None and (item.moderator or target.sender == item.by):
                    batch.pop(item.target, None)
                    deleted.append(item.target)
                    pending.append(
                        MessageDeleted(room_id=slot.room, message_id=item.target, by=item.by)
                    )
            else:
                pending.append(item)
        ops = state.log.ops if all_ops else step.ops
        new = await store.save_room(
            slot.room,
            state.snapshot(),
            ops=[(op.content.index, op) for op in ops],
            secrets=state.secrets if all_ops else step.secrets,
            messages=batch.values(),
            deleted=deleted,
            now=_now_ms(),
        )
        if step.republish:
            self._spawn(self._republish(slot))
        if not announce:
            return
        for out in pending:
            if isinstance(out, str):
                if out in new:
                    self._emit(MessageReceived(room_id=slot.room, message=_to_message(batch[out])))
            else:
                self._emit(out)

    async def _accept(
        self,
        slot: _Slot,
        item: Accepted,
        batch: dict[MessageId, StoredMessage],
        pending: list[Event | MessageId],
    ) -> None:
        store, _ = self._check_open()
        h, plaintext = item.header, item.plaintext
        body = plaintext.body
        if isinstance(body, TextBody):
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
        elif isinstance(body, EditBody):
            target = batch.get(body.target) or await store.message(slot.room, body.target)
            if target is None or target.sender != h.sender or target.edited_seq > item.seq:
                return  # only the sender edits, only what we have, newest edit wins
            edited = replace(target, text=body.text, edited=True, edited_seq=item.seq)
            batch[body.target] = edited
            pending.append(MessageEdited(room_id=slot.room, message=_to_message(edited)))

    async def _check_withheld(self, slot: _Slot) -> None:
        async with slot.lock:
            step = slot.state.check_withheld()
            if step.items:
                await self._save(slot, step)

    def _emit(self, event: Event) -> None:
        self._events.put_nowait(event)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        if self._state != "open":
            work.close()
            return

        async def run() -> None:
            try:
                await work
            except HearthError as exc:
                _log.info("background work failed: %s", exc.code)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _republish(self, slot: _Slot) -> None:
        """Send the profile and rules again for members who joined after them."""
        state = slot.state
        if state.profile is not None:
            await self._send(slot, state.profile)
        if state.rules is not None:
            await self._send(slot, state.rules)

    # -- sync over HTTP ---------------------------------------------------------------

    def _followed(self) -> list[_Slot]:
        return [
            s for s in self._slots.values() if s.state.status == "active" and not s.state.frozen
        ]

    async def _sync(self) -> None:
        _, transport = self._check_open()
        async with self._sync_lock:
            reauthenticated = False
            while True:
                slots = self._followed()
                if not slots:
                    break
                tokens = [await self._token(s) for s in slots]
                request = SyncRequest(
                    positions={s.room: s.state.position for s in slots}, limit=_SYNC_PAGE
                )
                try:
                    response = await transport.sync(tokens, request)
                except RelayError as exc:
                    if exc.code in ("auth.invalid", "auth.expired") and not reauthenticated:
                        reauthenticated = True
                        for s in slots:
                            s.session = None
                        continue
                    lost = RoomId(str(exc.detail.get("room", "")))
                    if exc.code == "room.not_found" and lost in self._slots:
                        await self._unreachable(self._slots[lost])
                        continue
                    raise
                for page in response.rooms:
                    slot = self._slots.get(page.room)
                    if slot is None:
                        continue
                    async with slot.lock:
                        slot.state.note_low_water(page.low_water)
                        await self._ingest(slot, page.events)
                progressed = any(s.state.position != request.positions.get(s.room) for s in slots)
                if not response.more or not progressed:
                    break  # a relay saying "more" without moving us on is not followed
            for slot in self._followed():
                await self._check_withheld(slot)

    async def _unreachable(self, slot: _Slot) -> None:
        """The relay no longer serves the room to our key (we were removed, most likely)."""
        async with slot.lock:
            slot.state.status = "unreachable"
            await self._save(slot, Step())
        await self._retire(slot)

    # -- backfill -------------------------------------------------------------------

    async def _messages(self, room: RoomId, limit: int, before: MessageId | None) -> list[Message]:
        store, transport = self._check_open()
        slot = self._slot(room)
        before_seq: int | None = None
        if before is not None:
            anchor = await store.message(room, before)
            if anchor is None:
                raise KeyError(before)
            before_seq = anchor.seq
        found = await store.messages(room, limit=limit, before_seq=before_seq)
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
                floor = state.floor
                page = await self._with_token(
                    slot,
                    partial(transport.history, room=room, before=floor, limit=_HISTORY_PAGE),
                )
                step = Step()
                for event in page.events:
                    step.extend(state.receive_history(event))
                state.floor = page.events[0].seq if page.events and page.more else 1
                await self._save(slot, step, announce=False)
            found = await store.messages(room, limit=limit, before_seq=before_seq)
        return [_to_message(m) for m in found]

    # -- the live stream -------------------------------------------------------------

    def _rooms_changed(self) -> None:
        """Reconnect the stream so it authenticates the current set of rooms."""
        self._restart.set()
        self._wake.set()
        ws = self._ws
        if ws is not None:
            asyncio.get_running_loop().create_task(ws.close())

    def _set_online(self, online: bool) -> None:
        if online != self._online:
            self._online = online
            self._emit(ConnectionChanged(online=online))

    async def _stream_loop(self) -> None:
        low, high = self._reconnect
        while True:
            self._restart.clear()
            try:
                await self._stream_once()
            except asyncio.CancelledError:
                raise
            except HearthError as exc:
                _log.info("stream ended: %s", exc.code)
                if exc.code.startswith("auth."):
                    for slot in self._slots.values():
                        slot.session = None  # the relay refused our tokens: sign in again
            except Exception:  # a bug must not end the client's reconnecting for good
                _log.exception("stream failed")
            self._set_online(False)
            if self._restart.is_set():
                continue
            delay = random.uniform(0, min(high, low * 2**self._attempt))  # noqa: S311 - jitter
            self._attempt += 1
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _stream_once(self) -> None:
        _, transport = self._check_open()
        slots = self._followed()
        if not slots:
            self._wake.clear()
            await self._wake.wait()
            self._restart.set()  # come straight back, no backoff
            return
        tokens = [await self._token(s) for s in slots]
        ws = await transport.open_stream()
        frames: asyncio.Queue[EventFrame | BaseException] = asyncio.Queue()
        reader: asyncio.Task[None] | None = None
        try:
            await ws.send(AuthFrame(tokens=tokens))
            ready = await asyncio.wait_for(ws.recv(), self._timeout)
            if not isinstance(ready, ReadyFrame):
                raise RelayError("the stream did not authenticate", code="auth.invalid")
            reader = asyncio.create_task(self._read_frames(ws, frames))
            self._ws, self._ws_rooms = ws, {s.room for s in slots}
            self._set_online(True)
            self._attempt = 0
            await self._sync()
            await self.flush()
            positions = {s.room: s.state.position for s in self._followed()}
            await ws.send(SubscribeFrame(positions=positions))
            while True:
                first = await frames.get()
                batch = [first]
                while len(batch) < _BATCH and not frames.empty():
                    batch.append(frames.get_nowait())
                by_room: dict[RoomId, list[RoomEvent]] = {}
                for item in batch:
                    if isinstance(item, BaseException):
                        raise item
                    by_room.setdefault(item.room, []).append(item.event)
                for room, events in by_room.items():
                    slot = self._slots.get(room)
                    if slot is None or slot.state.status != "active":
                        continue
                    async with slot.lock:
                        await self._ingest(slot, events)
                    # The live stream is complete up to here, in sequence order, so
                    # a gap it leaves is judged at once (not only at the next sync).
                    await self._check_withheld(slot)
        finally:
            self._ws, self._ws_rooms = None, set()
            for future in self._acks.values():
                if not future.done():
                    future.set_exception(RelayUnavailable("the stream closed"))
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, HearthError):
                    await reader
            await ws.close()

    async def _read_frames(
        self, ws: StreamConnection, frames: asyncio.Queue[EventFrame | BaseException]
    ) -> None:
        """Resolve acknowledgements at once; queue room events for the ingesting loop."""
        try:
            while True:
                frame = await ws.recv()
                if isinstance(frame, EventFrame):
                    frames.put_nowait(frame)
                elif isinstance(frame, AckFrame):
                    future = self._acks.get(frame.id)
                    if future is not None and not future.done():
                        future.set_result(
                            MessageAck(room=frame.room, id=frame.id, seq=frame.seq, ts=frame.ts)
                        )
                elif isinstance(frame, ErrorFrame):
                    future = self._acks.get(frame.id) if frame.id else None
                    if future is not None and not future.done():
                        future.set_exception(RelayError(frame.message, code=frame.code))
                    else:
                        _log.info("stream error frame: %s", frame.code)
        except HearthError as exc:
            frames.put_nowait(exc)

    # -- room facade helpers (used by Room) --------------------------------------------

    def _state_of(self, room: RoomId) -> RoomState:
        return self._slot(room).state

    async def _room_send(self, room: RoomId, body: Body) -> MessageId:
        return await self._send(self._slot(room), body)

    async def _room_delete(self, room: RoomId, message_id: MessageId) -> None:
        store, transport = self._check_open()
        slot = self._slot(room)
        slot.state.require_sendable()
        request = sign_delete(slot.state.keys, target=message_id, at=_now_ms())
        await self._with_token(slot, lambda t: transport.delete(t, request))
        async with slot.lock:
            await store.save_room(room, slot.state.snapshot(), deleted=[message_id])
        self._emit(MessageDeleted(room_id=room, message_id=message_id, by=slot.state.me))

    async def _room_invite(
        self, room: RoomId, *, max_uses: int, expires_in: float, role: Role
    ) -> str:
        invite = InviteKey.generate()
        expires_at = _now_ms() + int(expires_in * 1000)
        await self._room_op(
            room,
            lambda s: s.invite_op(
                invite, role=role, max_uses=max_uses, expires_at=expires_at, now=_now_ms()
            ),
        )
        return f"{self._base_url}/join/{room}#{b64url_encode(invite.secret)}"

    async def _room_acknowledge(self, room: RoomId, alarm_ids: Iterable[int] | None) -> list[int]:
        slot = self._slot(room)
        async with slot.lock:
            was_frozen = slot.state.frozen
            done = slot.state.acknowledge(alarm_ids)
            await self._save(slot, Step())
        if was_frozen and not slot.state.frozen:
            self._rooms_changed()  # fetch again what the frozen room left behind
        if done:
            self._wake.set()
            if not slot.state.blocked:
                self._spawn(self._flush_quietly(slot))
        return done

    async def _flush_quietly(self, slot: _Slot) -> None:
        with contextlib.suppress(RelayUnavailable, RoomBlocked):
            await self._flush_room(slot)

    async def _room_leave(self, room: RoomId) -> None:
        slot = self._slot(room)
        async with slot.lock:
            if slot.state.status != "active":
                raise RoomInactive(
                    "you are no longer in this room", code=f"room.{slot.state.status}"
                )
            await self._commit_op(slot, lambda: slot.state.leave_op(now=_now_ms()))

    async def _room_messages(
        self, room: RoomId, limit: int, before: MessageId | None
    ) -> list[Message]:
        return await self._messages(room, limit, before)

    async def _room_outbox(self, room: RoomId) -> int:
        store, _ = self._check_open()
        return sum(1 for e in await store.outbox(room) if e.failed is None)
