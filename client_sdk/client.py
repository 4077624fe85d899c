"""The client: one identity on one relay, and the drivers around its rooms' plain state.

:class:`HearthClient` is the public entry point and the conductor. The logic
lives in plain state (``_core.state.RoomState``, one per room) and the I/O in thin
drivers it wires together by constructor:

- ``_sessions.Sessions``: one in-memory session token per room key;
- ``_live.LiveStream``: the websocket, reconnected with backoff and full jitter;
- ``_outbox.Outbox``: seal, store, then deliver each message exactly once;
- ``_inbox.Inbox``: persist what a room accepted, then announce it as events;
- ``_transport.Transport`` and ``_store.Store``: HTTP/websocket and SQLite.

What stays here is what spans them: opening and closing, creating and joining
rooms, the log operations (signed at the next index, appended with
compare-and-swap, rebased on ``log.conflict`` after verifying the relay's log,
a bounded number of times), the HTTP sync pass, and the facade that
:class:`Room` calls. Each room has two locks (see ``_slot.py``); everything that
reads or changes a room's state holds its ``lock``, so events and our own
operations apply one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, TypeVar, assert_never, final

from client_sdk import _blocklist, _programs
from client_sdk._blocklist import BlockList
from client_sdk._core.builders import create_op
from client_sdk._core.followups import Abandon, FollowUp, JoinBuddy, Republish, Reseal, Restatus
from client_sdk._core.state import RoomState
from client_sdk._core.step import Opened, Step, open_ahead
from client_sdk._devicelink import LINK_WAIT, DeviceLink, answer_link, claim_when_filed
from client_sdk._drafts import DraftCheck, check_draft
from client_sdk._inbox import Inbox, to_message
from client_sdk._links import invite_link, parse_invite
from client_sdk._live import LiveStream
from client_sdk._outbox import Outbox
from client_sdk._personal import PersonalSync
from client_sdk._sessions import Sessions, SignInPacer
from client_sdk._slot import Slot
from client_sdk._store import Store, StoredMessage
from client_sdk._tasks import cancel_and_wait
from client_sdk._transport import Transport, origin_of
from client_sdk.errors import (
    BlockError,
    ClientClosed,
    InviteError,
    RelayError,
    RelayUnavailable,
    ReportError,
    RoomBlocked,
    RoomInactive,
    StoreError,
)
from client_sdk.events import (
    ConnectionChanged,
    Event,
    MessageDeleted,
    MessageReceived,
    PersonalDataChanged,
    SecurityAlarm,
)
from client_sdk.identity import Identity
from client_sdk.message import Message
from client_sdk.personal import PersonalData
from client_sdk.room import Room
from protocol import crypto
from protocol.api import (
    AppendResult,
    CrisisResource,
    HistoryPage,
    InviteReadRequest,
    LinkOffer,
    MessageAck,
    MessageEvent,
    RoomEvent,
    SyncRequest,
    SyncResponse,
)
from protocol.directed import seal_directed
from protocol.encoding import canonical, from_msgpack
from protocol.envelope import open_message
from protocol.errors import DecodeError, ForkDetected, HearthError, LogError
from protocol.ids import (
    MemberId,
    MessageId,
    RoomId,
    b64url_encode,
    member_key,
)
from protocol.messages import (
    Body,
    Envelope,
    ProfileBody,
    ReportBody,
    ReportContent,
    RulesBody,
)
from protocol.ops import Policy, Role, SignedOp
from protocol.personal import (
    LinkCode,
    LinkHello,
    LinkRoom,
    VerifiedHead,
    check_verified_head,
    seal_hello,
    short_code,
)
from protocol.roomlog import RoomLog
from protocol.signing import InviteKey, sign_delete

__all__ = ["HearthClient"]

_log = logging.getLogger("client_sdk")

_T = TypeVar("_T")
_MAX_REBASES: Final = 8
_JOIN_REFUSALS: Final = {
    "log.bad_invite": "invite.refused",
    "log.banned": "invite.banned",
    "log.room_full": "invite.room_full",
}
"""The relay's refusals of a join, as the InviteError codes the app sees."""
_SYNC_PAGE: Final = 500
_OPEN_AHEAD_MIN: Final = 16
"""Messages in a sync page below which they are opened on the event loop, not a thread."""
_HISTORY_PAGE: Final = 200
_CLOSED: Final = object()


_REPORT_ROLES: Final = frozenset({"owner", "moderator", "supporter"})
_DRAFT_CHECK: Final = "draft_check"
_EXPIRE_EVERY: Final = 300.0
"""Seconds between passes that drop locally stored messages past a room's retention."""
_CLOSE_GRACE: Final = 5.0
"""Seconds ``close()`` gives a cancelled background task before cancelling it again."""


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class _Ahead:
    """The sync page requested ahead, and the positions it was requested with."""

    positions: dict[RoomId, int]
    task: asyncio.Task[tuple[SyncResponse, dict[RoomId, dict[int, Opened]]]]


def _open_pages(
    response: SyncResponse, secrets: dict[RoomId, dict[int, bytes]]
) -> dict[RoomId, dict[int, Opened]]:
    """:func:`open_ahead` over every room of a sync page (runs in a worker thread)."""
    return {
        page.room: open_ahead(page.room, page.events, secrets[page.room])
        for page in response.rooms
        if page.room in secrets
    }


def _positions_after(positions: dict[RoomId, int], response: SyncResponse) -> dict[RoomId, int]:
    """The positions storing ``response`` should leave (if every event is taken)."""
    after = dict(positions)
    for page in response.rooms:
        if page.room in after and page.events:
            after[page.room] = max(after[page.room], page.events[-1].seq)
    return after


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
        self._follow = live
        self._registration_token = registration_token
        self._rotate_after_ms = int(rotate_after * 1000)
        self._rotate_every = rotate_every
        self._timeout = timeout
        self._reconnect = reconnect_delay
        self._state = "new"
        self._store: Store | None = None
        self._transport: Transport | None = None
        self._slots: dict[RoomId, Slot] = {}
        self._events: asyncio.Queue[object] = asyncio.Queue()
        self._sync_lock = asyncio.Lock()
        self._sessions: Sessions | None = None
        self._outbox: Outbox | None = None
        self._inbox: Inbox | None = None
        self._live: LiveStream | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._online = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._buddy_lock = asyncio.Lock()
        self._personal: PersonalSync | None = None
        self._personal_transport: Transport | None = None
        self._personal_task: asyncio.Task[None] | None = None
        self._linked_rooms: list[LinkRoom] = []
        self._not_member: set[RoomId] = set()
        self._adopt_lock = asyncio.Lock()
        self._blocks = BlockList()
        self._room_host = _RoomHost(self)
        self._draft_check = False

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
                self._slots[room] = Slot(state)
            self._draft_check = await store.device_setting(_DRAFT_CHECK) == b"on"
        except BaseException:
            await store.close()
            raise
        self._store = store
        self._transport = Transport(self._base_url, timeout=self._timeout)
        # One pacer for every key of this person: sign-ins one at a time, spaced out.
        pacer = SignInPacer()
        self._sessions = Sessions(
            self._transport, registration_token=self._registration_token, pacer=pacer
        )
        self._outbox = Outbox(store, _Host(self))
        self._inbox = Inbox(store, _Host(self), self._blocks)
        # The personal store gets its own HTTP pool and websocket: nothing it sends
        # shares a connection with a room key's requests.
        self._personal_transport = Transport(self._base_url, timeout=self._timeout)
        self._personal = PersonalSync(
            self._identity.personal_keys(),
            store,
            self._personal_transport,
            _Host(self),
            timeout=self._timeout,
            reconnect_delay=self._reconnect,
            pacer=pacer,
        )
        self._state = "open"
        await self._reload_blocks()
        await self._expire_all()
        expiry = asyncio.create_task(self._expire_periodically(), name="hearth-expiry")
        self._tasks.add(expiry)
        expiry.add_done_callback(self._tasks.discard)
        self._spawn(self._publish_rooms())
        if self._linked_rooms:
            self._spawn(self._adopt_rooms())
        if self._follow:
            self._personal_task = asyncio.create_task(
                self._personal.follow(), name="hearth-personal"
            )
            self._live = LiveStream(
                self._transport,
                _Host(self),
                reconnect_delay=self._reconnect,
                timeout=self._timeout,
            )
            self._stream_task = asyncio.create_task(self._live.run(), name="hearth-stream")
        for slot, request in _programs.unjoined(self._room_host):
            # A claim we read before the app closed, whose buddy chat we never joined.
            self._spawn(_programs.join_claimed(self._room_host, slot.room, request))

    async def close(self) -> None:
        """Stop the stream, close the store. Unsent messages stay in the outbox.

        A ``close()`` that is itself cancelled raises ``CancelledError`` and may
        leave the store open; calling it again finishes the job.
        """
        if self._state not in ("open", "closing"):
            if self._state == "new":
                self._events.put_nowait(_CLOSED)
            self._state = "closed"
            return
        self._state = "closing"
        tasks = [
            *self._tasks,
            *([self._stream_task] if self._stream_task else []),
            *([self._personal_task] if self._personal_task else []),
        ]
        await cancel_and_wait(tasks, again_after=_CLOSE_GRACE)
        for slot in self._slots.values():
            # Wait for work in progress to reach the store before closing it.
            async with slot.send_lock, slot.lock:  # the order every sender takes them in
                pass
        if self._transport is not None:
            await self._transport.close()
        if self._personal_transport is not None:
            await self._personal_transport.close()
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

    async def crisis_resources(self, region: str | None = None) -> list[CrisisResource]:
        """The crisis lines this relay's operator lists, for ``region`` (or all).

        ``region`` is an ISO 3166-1 alpha-2 code (``"GB"``, any case); the answer
        holds the resources listing it and those marked ``"*"`` (everywhere). The
        request carries no session token: the relay learns an address asked for a
        region, not who.

        Raises:
            RelayError: ``crisis.bad_region`` if ``region`` is not two letters.
            RelayUnavailable: The relay cannot be reached.
        """
        _, transport = self._check_open()
        return await transport.crisis(region)

    @property
    def draft_check(self) -> bool:
        """True if the person opted in to the on-device draft check (off by default)."""
        return self._draft_check

    async def set_draft_check(self, enabled: bool) -> None:
        """Opt in to (or out of) the on-device draft check; kept in the local store."""
        store, _ = self._check_open()
        await store.put_device_setting(_DRAFT_CHECK, b"on" if enabled else b"off")
        self._draft_check = enabled

    def check_draft(self, text: str) -> DraftCheck:
        """If the person opted in, look for crisis language in their draft, on the device.

        Synchronous and pure (:func:`client_sdk.check_draft`): nothing is sent,
        stored or logged. If :attr:`draft_check` is off it looks at nothing and
        answers ``suggest=False``. When ``suggest`` is True, offer
        :meth:`crisis_resources` (fetched beforehand, or on the person's tap).
        """
        if not self._draft_check:
            return DraftCheck(suggest=False)
        return check_draft(text)

    async def block(self, member_id: MemberId | str) -> None:
        """Block a member key: its messages and reactions stop showing on this device.

        Blocked keys' messages are still received and stored (encrypted), but
        :meth:`Room.messages` leaves them out and no :class:`MessageReceived`,
        :class:`MessageEdited` or :class:`ReactionChanged` is raised for them:
        hidden means filtered, not marked. The SDK also refuses to join a room
        through an invite a blocked key made, or a buddy chat a blocked key is in
        (:class:`InviteError` ``invite.blocked``), and as owner of a buddy chat
        it removes a blocked key that joins it. In a community program, support
        requests from a blocked key are hidden (no :class:`SupportRequested`,
        left out of :attr:`Room.support_requests`), and a claim of our request by
        a blocked supporter opens no buddy chat for us.

        The list is the personal store's ``blocked`` document (:attr:`personal`):
        encrypted on this device, synced to the person's other devices through
        the relay as ciphertext it cannot read, so a block made on one device
        applies on all of them. Nobody is told.

        A member id is one room's pseudonym: a block does not follow the person
        into another room, where they have another key.

        Raises:
            BlockError: ``block.bad_member`` (not a member id), ``block.self``.
        """
        member = self._member_to_block(member_id)
        await self.personal.blocked.add(member)
        await self._reload_blocks()

    async def unblock(self, member_id: MemberId | str) -> None:
        """Lift a block: the member's stored messages show again.

        Raises:
            BlockError: ``block.bad_member`` (not a member id).
        """
        member = self._member_to_block(member_id)
        await self.personal.blocked.remove(member)
        await self._reload_blocks()

    @property
    def blocked(self) -> frozenset[MemberId]:
        """The member keys this person blocked (the personal store's ``blocked`` document)."""
        return self._blocks.members

    def _member_to_block(self, member_id: MemberId | str) -> MemberId:
        member = MemberId(str(member_id))
        try:
            member_key(member)
        except HearthError as exc:
            raise BlockError(f"{member_id!r} is not a member id", code="block.bad_member") from exc
        if any(s.state.me == member for s in self._slots.values()):
            raise BlockError("that member id is this identity's own", code="block.self")
        return member

    async def _blocks_changed(self, event: PersonalDataChanged) -> None:
        try:
            await self._reload_blocks()
        finally:
            self._emit(event)

    async def _reload_blocks(self) -> None:
        """Refresh the in-memory view from the personal store's ``blocked`` document."""
        personal = self._personal
        if personal is not None:
            document = await personal.document(_blocklist.DOCUMENT)
            self._blocks.replace(_blocklist.blocked_in(document))

    @property
    def rooms(self) -> tuple[Room, ...]:
        """The rooms this identity is in (not those it left or was removed from)."""
        return tuple(
            Room(self._room_host, r) for r, s in self._slots.items() if s.state.status == "active"
        )

    def room(self, room_id: RoomId | str) -> Room:
        """A room from the local store, by id (also one that was left, to read it).

        Raises:
            KeyError: The store holds no such room.
        """
        if RoomId(room_id) not in self._slots:
            raise KeyError(room_id)
        return Room(self._room_host, RoomId(room_id))

    @property
    def online(self) -> bool:
        """True while the live stream is connected."""
        return self._online

    @property
    def identity(self) -> Identity:
        """The identity this client acts for."""
        return self._identity

    @property
    def personal(self) -> PersonalData:
        """This person's notes, settings and blocked keys, synced between their devices.

        Raises:
            ClientClosed: The client is not open.
        """
        self._check_open()
        assert self._personal is not None
        return PersonalData(self._personal)

    async def offer_link(self) -> DeviceLink:
        """Start linking a new device to this identity; both screens will show a short code.

        Show :attr:`DeviceLink.code` (as text or a QR code) to the new device, which
        passes it to :meth:`begin_link` within ``link_ttl`` (10 minutes by
        default) and then shows a six-digit short code. ``await
        link.claimant_code()`` returns the digits this device must show; the person
        compares both screens and you call ``link.confirm()`` (the same digits: the
        root and the room list, with the heads this device verified, are sealed
        to that device alone) or ``link.refuse()`` (different digits, or none on
        the new device: someone else used the code, and the root never moves).

        The code holds 176 random bits; from it both devices derive where the relay
        files their boxes and the keys sealing the first two, so the relay never
        sees the root. Each box can be claimed once.

        Raises:
            RelayError: ``link.too_many`` (three codes wait already),
                ``rate.limited``.
            RelayUnavailable: The relay cannot be reached.
        """
        self._check_open()
        personal = self._personal
        assert personal is not None
        transport = self._personal_transport
        assert transport is not None
        await self._publish_rooms()
        code = LinkCode.generate()
        hello = crypto.box_keypair_from_seed(crypto.random_bytes(32))
        box = seal_hello(code, LinkHello(box_key=crypto.box_public(hello)))
        await personal.authed(
            lambda t: transport.offer_link(t, LinkOffer(id=code.rendezvous, box=box))
        )

        async def file(offer: LinkOffer) -> object:
            return await personal.authed(lambda t: transport.offer_link(t, offer))

        def rooms() -> list[LinkRoom]:
            return [
                LinkRoom(room=s.room, verified=s.state.verified_head)
                for s in self._slots.values()
                if s.state.status == "active"
            ]

        return DeviceLink(code, hello, transport, file, rooms, self._identity)

    @classmethod
    async def begin_link(
        cls,
        base_url: str,
        code: str,
        *,
        store_path: str | os.PathLike[str],
        **options: Any,
    ) -> PendingLink:
        """Start linking this device with a code from :meth:`offer_link` on another device.

        Claims the other device's hello (once: the code is then spent) and files
        this device's answer. Show :attr:`PendingLink.short_code`; once the person
        confirmed the same digits on the other device, ``await pending.finish()``
        returns a client for the same identity, not yet opened. Once opened
        (``async with``) and synced it follows every room the person is in, with
        the history the protocol lets them read. Save ``client.identity`` with
        :meth:`Identity.save`.

        Args:
            base_url: The relay the other device uses.
            code: The code as shown (case, spaces and hyphens do not matter).
            store_path: This device's new local store.
            **options: Other :class:`HearthClient` arguments (``live``...).

        Raises:
            LinkError: ``link.bad_code`` (a typo: the checksum fails),
                ``link.version``, ``link.not_found``, ``link.used``,
                ``link.expired``, ``link.taken`` (another device answered this
                code first), ``link.bad_box``.
            RelayError: ``rate.limited``.
            RelayUnavailable: The relay cannot be reached.
        """
        parsed = LinkCode.parse(code)
        url = base_url.rstrip("/")
        transport = Transport(url, timeout=float(options.get("timeout", 15.0)))
        try:
            answer, hello_key = await answer_link(transport, parsed)
        except BaseException:
            await transport.close()
            raise

        def build(identity: Identity, rooms: list[LinkRoom]) -> HearthClient:
            client = cls(url, identity, store_path=store_path, **options)
            client._linked_rooms = rooms
            return client

        return PendingLink(parsed, answer, hello_key, transport, build)

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
                ``invite.revoked``: also when its creator was removed, banned,
                demoted or left), or the room is at its member cap
                (``invite.room_full``: a buddy chat holds two), or the log bans
                our key (``invite.banned``).
            LogError: The relay served a log that does not verify.
        """
        self._check_open()
        room, invite = parse_invite(link)
        existing = self._slots.get(room)
        if existing is not None and existing.state.status == "active":
            return Room(self._room_host, room)
        if existing is not None and existing.state.me in existing.state.banned:
            raise InviteError("a moderator banned you from this room", code="invite.banned")
        keys = self._identity.room_keys(room)
        slot = Slot(RoomState(keys))
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
            self._refuse_blocked_invite(state, invite)
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
                if exc.code in _JOIN_REFUSALS:
                    raise InviteError(exc.message, code=_JOIN_REFUSALS[exc.code]) from exc
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
            return Room(self._room_host, room)
        raise RelayError("the room kept changing while joining", code="log.conflict")

    def _refuse_blocked_invite(self, state: RoomState, invite: InviteKey) -> None:
        """Refuse an invite a blocked key made, a buddy chat a blocked key is in, or a
        room whose log bans us (before anything is signed or sealed)."""
        if state.me in state.log.banned:
            raise InviteError("a moderator banned you from this room", code="invite.banned")
        registered = state.log.invites.get(invite.public)
        if registered is not None and registered.created_by in self._blocks:
            raise InviteError("this invite comes from a key you blocked", code="invite.blocked")
        if state.policy.kind == "buddy" and any(m in self._blocks for m in state.log.members):
            raise InviteError("a key you blocked is in this buddy chat", code="invite.blocked")

    async def _append_retrying(self, slot: Slot, op: SignedOp) -> AppendResult:
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

    async def _recover_membership(
        self, slot: Slot, room: RoomId, verified: Sequence[VerifiedHead] = ()
    ) -> Room | None:
        """Rebuild a room we are already a member of from its log (None if we are not).

        Every commit that has a share for us is opened, so every epoch since we
        joined is readable; the sync then starts from the room's first event.
        ``verified`` are heads this person verified before (the personal store's
        room list, a link offer): the served log must hold each, or the room is
        taken up blocked, with a ``fork`` alarm, and nothing is signed or sealed
        in it.
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
        for mark in verified:
            step.extend(state.pin(mark))
        # Nothing verified where this person is a member (a counterfeit room under this
        # id, or no log at all where they verified one), or a log that refused an
        # operation and no verified head that keeps the room blocked: take nothing up,
        # sign or seal nothing. Either way every alarm is said out loud.
        refused = (not state.log.ops and (state.frozen or state.pinned is not None)) or (
            state.pinned is None and (state.frozen or state.me not in state.log.members)
        )
        if not refused:
            state.joined_epoch = min(state.secrets, default=state.log.epoch)
            slot.state = state
            self._slots[room] = slot
            async with slot.lock:
                await self._save(slot, Step(secrets=dict(state.secrets)), all_ops=True)
        for item in step.items:
            if isinstance(item, SecurityAlarm):
                self._emit(item)
        if refused:
            return None
        self._rooms_changed()
        return Room(self._room_host, room)

    async def sync(self) -> None:
        """Catch every room up with the relay once, then send what waits in the outbox.

        First the personal store: what other devices of this person changed is
        fetched, this device's changes pushed, and rooms they joined taken up.
        Then pages through ``POST /v1/sync`` until the relay has nothing more. After
        this complete pass a gap in a sender's counters raises a ``withheld``
        alarm. Meant for apps without the live stream (``live=False``), such as a
        mobile background fetch; with the stream it is done on every reconnect.

        Raises:
            RelayUnavailable: The relay cannot be reached.
        """
        self._check_open()
        assert self._personal is not None
        await self._personal.sync()
        await self._adopt_rooms()
        await self._sync()
        await self.flush()
        # The heads this pass verified, for a later restore or linked device to check.
        # Best effort: the next pass (or the next open) publishes what this one could not.
        try:
            await self._publish_rooms()
        except (RelayUnavailable, RelayError) as exc:
            _log.info("publishing the rooms list failed: %s", exc.code)

    async def flush(self) -> int:
        """Try to send everything in the outbox now; return how many still wait."""
        store, _ = self._check_open()
        for room in {e.room for e in await store.outbox() if e.failed is None}:
            slot = self._slots.get(room)
            if slot is not None and slot.state.status == "active":
                with contextlib.suppress(RelayUnavailable, RoomBlocked):
                    await self._flush_room(slot)
        return await self._require_outbox().pending()

    async def register_push(self, endpoint: str | Callable[[Room], str]) -> None:
        """Register this device for push in every room it is in (see :meth:`Room.register_push`).

        Args:
            endpoint: The endpoint URL for every room, or a function giving each
                room its own (preferable: one URL for all rooms lets the relay link
                this person's keys across them). Rooms joined later are not
                included: register them as they come.

        Raises:
            RelayError: As :meth:`Room.register_push`, for the first room refused
                (the rooms before it stay registered).
            RelayUnavailable: The relay cannot be reached.
        """
        for room in self.rooms:
            url = endpoint(room) if callable(endpoint) else endpoint
            await self._room_register_push(room.id, url)

    async def unregister_push(self) -> None:
        """Stop push for this device in every room it is in."""
        for room in self.rooms:
            await self._room_unregister_push(room.id)

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
        genesis = self._identity.new_room()
        room = genesis.room
        keys = self._identity.room_keys(room)
        slot = Slot(RoomState(keys))
        op = create_op(genesis, keys, policy, now=_now_ms())
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
        return Room(self._room_host, room)

    # -- authentication ---------------------------------------------------------------

    async def _token(self, slot: Slot) -> str:
        sessions = self._sessions
        if sessions is None:
            raise ClientClosed("open the client first (async with)", code="client.not_open")
        return await sessions.token(slot.state.keys)

    async def _with_token(
        self,
        slot: Slot,
        call: Callable[[str], Awaitable[_T]],
        *,
        create: bool = False,
    ) -> _T:
        """Run ``call`` with the room key's token; sign in again once if refused."""
        sessions = self._sessions
        if sessions is None:
            raise ClientClosed("open the client first (async with)", code="client.not_open")
        return await sessions.call(slot.state.keys, call, create=create)

    # -- reading the log -------------------------------------------------------------

    async def _read_invite_log(
        self, slot: Slot, token: str, room: RoomId, invite: InviteKey
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

    async def _catch_up_log(self, slot: Slot) -> None:
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

    async def _commit_op(self, slot: Slot, build: Callable[[], SignedOp | None]) -> bool:
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

    async def _ensure_epoch(self, slot: Slot) -> None:
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

    def _slot(self, room: RoomId) -> Slot:
        self._check_open()
        slot = self._slots.get(room)
        if slot is None:
            raise KeyError(room)
        return slot

    async def _retire(self, slot: Slot) -> None:
        """We left or were removed: stop following the room, drop its unsent messages."""
        await self._require_outbox().fail_all(slot.room, f"room.{slot.state.status}")
        self._rooms_changed()

    # -- sending --------------------------------------------------------------------

    async def _send(self, slot: Slot, body: Body) -> MessageId:
        return await self._require_outbox().send(slot, body)

    def _require_outbox(self) -> Outbox:
        self._check_open()
        if self._outbox is None:
            raise ClientClosed("open the client first (async with)", code="client.not_open")
        return self._outbox

    async def _flush_room(self, slot: Slot) -> None:
        await self._require_outbox().flush(slot)

    async def _send_envelope(self, slot: Slot, envelope: Envelope) -> MessageAck:
        """Over the stream with an acknowledgement if it can carry it, else over HTTP."""
        _, transport = self._check_open()
        if self._live is not None:
            ack = await self._live.send(envelope)
            if ack is not None:
                return ack
        return await self._with_token(slot, lambda t: transport.send(t, envelope))

    # -- receiving ------------------------------------------------------------------

    def _require_inbox(self) -> Inbox:
        self._check_open()
        if self._inbox is None:
            raise ClientClosed("open the client first (async with)", code="client.not_open")
        return self._inbox

    async def _ingest(
        self,
        slot: Slot,
        events: Sequence[RoomEvent],
        opened: Mapping[int, Opened] | None = None,
    ) -> None:
        await self._require_inbox().ingest(slot, events, opened)

    async def _save(self, slot: Slot, step: Step, *, all_ops: bool = False) -> None:
        await self._require_inbox().save(slot, step, all_ops=all_ops)

    async def _check_withheld(self, slot: Slot) -> None:
        await self._require_inbox().check_withheld(slot)

    def _emit(self, event: Event) -> None:
        self._events.put_nowait(event)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        if self._state != "open":
            work.close()
            return

        def finished(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            if task.cancelled():
                return
            exc = task.exception()
            if isinstance(exc, HearthError):
                _log.info("background work failed: %s", exc.code)
            elif exc is not None:
                _log.error("background work failed", exc_info=exc)

        # The coroutine is the task itself (not awaited inside a wrapper), so a task
        # cancelled before its first step closes it instead of leaving it unawaited.
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(finished)

    async def _fetch_history(self, slot: Slot, before: int) -> HistoryPage:
        _, transport = self._check_open()
        return await self._with_token(
            slot, partial(transport.history, room=slot.room, before=before, limit=_HISTORY_PAGE)
        )

    async def _evict(self, slot: Slot, member: MemberId) -> None:
        """Remove a blocked key joining our buddy chat (a banned key cannot join at all).

        Nothing happens if it is gone already.
        """

        def build() -> SignedOp | None:
            state = slot.state
            blocked_buddy = state.policy.kind == "buddy" and member in self._blocks
            if member not in state.log.members or not blocked_buddy:
                return None
            return state.remove_op(member, now=_now_ms())

        async with slot.lock:
            await self._commit_op(slot, build)

    async def _republish(self, slot: Slot) -> None:
        """Send the profile and rules again for members who joined after them."""
        state = slot.state
        if state.profile is not None:
            await self._send(slot, state.profile)
        if state.rules is not None:
            await self._send(slot, state.rules)
        if state.schedule is not None:
            await self._send(slot, state.schedule)

    # -- sync over HTTP ---------------------------------------------------------------

    def _followed(self) -> list[Slot]:
        return [
            s for s in self._slots.values() if s.state.status == "active" and not s.state.frozen
        ]

    async def _sync(self) -> None:
        """Page through ``POST /v1/sync``, one page ahead of the one being stored.

        While a page is checked and stored, the next is already requested (with
        the positions the current page will leave) and its messages verified and
        decrypted in a worker thread (:func:`open_ahead`). That page is used only
        if the positions after storing match those it was asked with; otherwise
        it is dropped and asked again, so the pass is exactly the sequential one.
        """
        _, transport = self._check_open()
        async with self._sync_lock:
            reauthenticated = False
            ahead: _Ahead | None = None
            try:
                while True:
                    slots = self._followed()
                    if not slots:
                        break
                    positions = {s.room: s.state.position for s in slots}
                    if ahead is not None and ahead.positions == positions:
                        task = ahead.task
                    else:
                        if ahead is not None:
                            await cancel_and_wait([ahead.task])  # not wanted: drop it
                        tokens = [await self._token(s) for s in slots]
                        task = self._fetch_page(transport, tokens, positions, slots)
                    ahead = None
                    try:
                        response, opened = await task
                    except RelayError as exc:
                        if exc.code in ("auth.invalid", "auth.expired") and not reauthenticated:
                            reauthenticated = True
                            self._stream_refused()
                            continue
                        lost = RoomId(str(exc.detail.get("room", "")))
                        if exc.code == "room.not_found" and lost in self._slots:
                            await self._unreachable(self._slots[lost])
                            continue
                        raise
                    if response.more:
                        guess = _positions_after(positions, response)
                        if guess != positions:
                            tokens = [await self._token(s) for s in slots]
                            ahead = _Ahead(guess, self._fetch_page(transport, tokens, guess, slots))
                    for page in response.rooms:
                        slot = self._slots.get(page.room)
                        if slot is None:
                            continue
                        async with slot.lock:
                            slot.state.note_low_water(page.low_water)
                            await self._ingest(slot, page.events, opened.get(page.room))
                    progressed = any(s.state.position != positions.get(s.room) for s in slots)
                    if not response.more or not progressed:
                        break  # a relay saying "more" without moving us on is not followed
            finally:
                if ahead is not None:
                    await cancel_and_wait([ahead.task])  # not wanted: drop it
            for slot in self._followed():
                await self._settle(slot)

    def _fetch_page(
        self,
        transport: Transport,
        tokens: list[str],
        positions: dict[RoomId, int],
        slots: Sequence[Slot],
    ) -> asyncio.Task[tuple[SyncResponse, dict[RoomId, dict[int, Opened]]]]:
        """Request a sync page and open its messages off the event loop, as a task."""
        # Copies: the event loop may add secrets while the worker thread reads them.
        secrets = {s.room: dict(s.state.secrets) for s in slots}
        request = SyncRequest(positions=positions, limit=_SYNC_PAGE)

        async def fetch() -> tuple[SyncResponse, dict[RoomId, dict[int, Opened]]]:
            response = await transport.sync(tokens, request)
            count = sum(len(page.events) for page in response.rooms)
            if count < _OPEN_AHEAD_MIN:
                return response, {}  # not worth a thread hand-off: receive opens them
            return response, await asyncio.to_thread(_open_pages, response, secrets)

        return asyncio.get_running_loop().create_task(fetch(), name="hearth-sync-page")

    async def _settle(self, slot: Slot) -> None:
        """After a complete sync: judge counter gaps, drop what the retention expired."""
        await self._check_withheld(slot)
        await self._require_inbox().expire(slot)

    async def _expire_all(self) -> None:
        inbox = self._require_inbox()
        for slot in list(self._slots.values()):
            await inbox.expire(slot)

    async def _expire_periodically(self) -> None:
        """Retention keeps running while the app is open and nothing arrives."""
        while True:
            await asyncio.sleep(_EXPIRE_EVERY)
            try:
                await self._expire_all()
            except HearthError as exc:
                _log.info("retention pass failed: %s", exc.code)

    async def _unreachable(self, slot: Slot) -> None:
        """The relay no longer serves the room to our key (we were removed, most likely)."""
        async with slot.lock:
            slot.state.status = "unreachable"
            await self._save(slot, Step())
        await self._retire(slot)

    # -- the live stream (through _Host) ------------------------------------------------

    def _rooms_changed(self) -> None:
        """Reconnect the stream so it authenticates the current set of rooms."""
        if self._live is not None:
            self._live.restart()
        self._spawn(self._publish_rooms())

    # -- the personal store's rooms document ---------------------------------------------

    async def _publish_rooms(self) -> None:
        """Bring the ``rooms`` document in line with the rooms this device follows.

        Rooms we are in are added, each with the last log head this device
        verified (a restore checks the relay's log against it); a listed head is
        moved forward only to a later head of the same log, never back or aside.
        Rooms we left or were removed from get a tombstone. Rooms the document
        lists that this device has not taken up yet are left alone.
        """
        self._check_open()
        personal = self._personal
        assert personal is not None
        entries = (await personal.document("rooms")).entries
        listed = {k: e.value for k, e in entries.items() if e.value is not None}
        changes: dict[str, bytes | None] = {}
        for room, slot in self._slots.items():
            active = slot.state.status == "active"
            if active:
                mark = slot.state.verified_head
                if room not in listed:
                    changes[room] = _ROOM_LISTED if mark is None else canonical(mark)
                elif mark is not None and _moves_forward(slot.state.log, listed[room], mark):
                    changes[room] = canonical(mark)
            elif room in listed:
                changes[room] = None
        if changes:
            with contextlib.suppress(RelayUnavailable):
                await personal.change("rooms", changes)

    async def _adopt_rooms(self) -> None:
        """Take up every room the ``rooms`` document (or the link offer) lists."""
        self._check_open()
        personal = self._personal
        assert personal is not None
        async with self._adopt_lock:
            doc = await personal.document("rooms")
            wanted: dict[RoomId, list[VerifiedHead]] = {}
            for key, entry in doc.entries.items():
                if entry.value is not None:
                    mark = _listed_head(entry.value)
                    wanted.setdefault(RoomId(key), []).extend([mark] if mark else [])
            for linked in self._linked_rooms:
                marks = wanted.setdefault(linked.room, [])
                marks.extend([linked.verified] if linked.verified else [])
            for room, marks in wanted.items():
                if room in self._slots or room in self._not_member:
                    continue
                slot = Slot(RoomState(self._identity.room_keys(room)))
                if await self._recover_membership(slot, room, marks) is None:
                    self._not_member.add(room)

    def _set_online(self, online: bool) -> None:
        if online != self._online:
            self._online = online
            self._emit(ConnectionChanged(online=online))

    async def _stream_tokens(self) -> dict[RoomId, str]:
        return {s.room: await self._token(s) for s in self._followed()}

    async def _stream_ready(self) -> dict[RoomId, int]:
        await self._sync()
        await self.flush()
        # As after sync(): the heads this catch-up verified, for a later restore.
        self._spawn(self._publish_rooms())
        return {s.room: s.state.position for s in self._followed()}

    async def _stream_events(self, room: RoomId, events: Sequence[RoomEvent]) -> None:
        slot = self._slots.get(room)
        if slot is None or slot.state.status != "active":
            return
        async with slot.lock:
            await self._ingest(slot, events)
        await self._require_inbox().expire(slot)
        # The live stream is complete up to here, in sequence order, so a gap it
        # leaves is judged at once (not only at the next sync).
        await self._check_withheld(slot)

    def _stream_refused(self) -> None:
        if self._sessions is not None:
            self._sessions.forget()

    # -- room facade helpers (used by Room) --------------------------------------------

    def _state_of(self, room: RoomId) -> RoomState:
        return self._slot(room).state

    async def _room_send(self, room: RoomId, body: Body) -> MessageId:
        return await self._send(self._slot(room), body)

    async def _room_delete(self, room: RoomId, message_id: MessageId) -> None:
        store, transport = self._check_open()
        slot = self._slot(room)
        state = slot.state
        state.require_sendable()
        # The signed request names the target's sender, device and counter: the one
        # counter gap it excuses for members who never read it (protocol.md 8.6).
        # The store keeps what a message said, not those: read them from the
        # original envelope, fetched again and checked like any message.
        stored, envelope = await self._original_envelope(slot, message_id)
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
            at=_now_ms(),
        )
        await self._with_token(slot, lambda t: transport.delete(t, request))
        async with slot.lock:
            await store.save_room(room, slot.state.snapshot(), deleted=[message_id])
        self._emit(MessageDeleted(room_id=room, message_id=message_id, by=slot.state.me))

    async def _original_envelope(
        self, slot: Slot, message_id: MessageId
    ) -> tuple[StoredMessage, Envelope | None]:
        """A stored message and its envelope as the relay still holds it (None if gone).

        Raises:
            KeyError: The local store holds no such message.
        """
        store, transport = self._check_open()
        stored = await store.message(slot.room, message_id)
        if stored is None:
            raise KeyError(message_id)
        page = await self._with_token(
            slot, partial(transport.history, room=slot.room, before=stored.seq + 1, limit=1)
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

    async def _room_report(self, room: RoomId, message_id: MessageId, reason: str) -> MessageId:
        self._check_open()
        slot = self._slot(room)
        state = slot.state
        state.require_sendable()
        # The store keeps what a message said, not its signed bytes: the evidence is
        # the original envelope, fetched again and checked against the sender's key.
        _, evidence = await self._original_envelope(slot, message_id)
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
            room=room,
            reporter=state.me,
            target=message_id,
            reason=reason,
            recipients=sorted(recipients),
            evidence=evidence,
            at=_now_ms(),
        )
        seals, ciphertext = seal_directed(state.keys, content, recipients)
        body = ReportBody(seals=seals, ciphertext=ciphertext)
        return await self._send(slot, body)

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
        return invite_link(self._base_url, room, invite)

    async def _room_acknowledge(self, room: RoomId, alarm_ids: Iterable[int] | None) -> list[int]:
        slot = self._slot(room)
        async with slot.lock:
            was_frozen = slot.state.frozen
            done = slot.state.acknowledge(alarm_ids)
            await self._save(slot, Step())
        if was_frozen and not slot.state.frozen:
            self._rooms_changed()  # fetch again what the frozen room left behind
        if done:
            if self._live is not None:
                self._live.wake()
            if not slot.state.blocked:
                self._spawn(self._flush_quietly(slot))
        return done

    async def _flush_quietly(self, slot: Slot) -> None:
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

    async def _room_expire(self, room: RoomId) -> None:
        await self._require_inbox().expire(self._slot(room))

    async def _room_reveal(self, room: RoomId, message_id: MessageId, revealed: bool) -> Message:
        return await self._require_inbox().reveal(self._slot(room), message_id, revealed=revealed)

    async def _room_messages(
        self, room: RoomId, limit: int, before: MessageId | None
    ) -> list[Message]:
        return await self._require_inbox().messages(self._slot(room), limit, before)

    def _push_device(self, room: RoomId) -> str:
        store, _ = self._check_open()
        # Another name in every room: the relay cannot link this device's rooms by it.
        digest = crypto.blake2b(
            store.device + room.encode("ascii"), person=crypto.PERSON_PUSH_DEVICE, size=16
        )
        return b64url_encode(digest)

    def _active_slot(self, room: RoomId) -> Slot:
        slot = self._slot(room)
        if slot.state.status != "active":
            raise RoomInactive("you are no longer in this room", code=f"room.{slot.state.status}")
        return slot

    async def _room_register_push(self, room: RoomId, endpoint: str) -> None:
        _, transport = self._check_open()
        slot = self._active_slot(room)
        device = self._push_device(room)
        await self._with_token(slot, lambda t: transport.register_push(t, room, device, endpoint))

    async def _room_unregister_push(self, room: RoomId) -> None:
        _, transport = self._check_open()
        slot = self._active_slot(room)
        device = self._push_device(room)
        await self._with_token(slot, lambda t: transport.unregister_push(t, room, device))

    async def _room_outbox(self, room: RoomId) -> int:
        return await self._require_outbox().pending(room)


@final
class _Host:
    """The client as its drivers see it: ``StreamHost``, ``OutboxHost``, ``InboxHost``,
    ``PersonalHost``."""

    __slots__ = ("_client",)

    def __init__(self, client: HearthClient) -> None:
        self._client = client

    async def stream_tokens(self) -> dict[RoomId, str]:
        return await self._client._stream_tokens()

    async def stream_ready(self) -> dict[RoomId, int]:
        return await self._client._stream_ready()

    async def stream_events(self, room: RoomId, events: Sequence[RoomEvent]) -> None:
        await self._client._stream_events(room, events)

    def stream_online(self, online: bool) -> None:
        self._client._set_online(online)

    def stream_refused(self) -> None:
        self._client._stream_refused()

    async def ensure_epoch(self, slot: Slot) -> None:
        await self._client._ensure_epoch(slot)

    async def catch_up_log(self, slot: Slot) -> None:
        await self._client._catch_up_log(slot)

    async def send_envelope(self, slot: Slot, envelope: Envelope) -> MessageAck:
        return await self._client._send_envelope(slot, envelope)

    def delivered(self, message: StoredMessage) -> None:
        message_view = to_message(message, self._client._blocks)
        self._client._emit(MessageReceived(room_id=message.room, message=message_view))

    def emit(self, event: Event) -> None:
        if isinstance(event, PersonalDataChanged) and event.document == _blocklist.DOCUMENT:
            # Another device changed the block list: filter by it before saying so.
            self._client._spawn(self._client._blocks_changed(event))
            return
        self._client._emit(event)

    def evict(self, slot: Slot, member: MemberId) -> None:
        self._client._spawn(self._client._evict(slot, member))

    def follow_up(self, slot: Slot, item: FollowUp) -> None:
        host = self._client._room_host
        match item:
            case Republish():
                self._client._spawn(self._client._republish(slot))
            case Restatus():
                self._client._spawn(_programs.restatus(host, slot))
            case JoinBuddy(request=request):
                self._client._spawn(_programs.join_claimed(host, slot.room, request))
            case Reseal(request=request, text=text, to=to):
                self._client._spawn(_programs.reseal(host, slot, request, text, to))
            case Abandon(request=request):
                self._client._spawn(_programs.abandon(host, slot, request))
            case _:
                assert_never(item)

    async def retire(self, slot: Slot) -> None:
        await self._client._retire(slot)

    async def fetch_history(self, slot: Slot, before: int) -> HistoryPage:
        return await self._client._fetch_history(slot, before)

    def rooms_listed(self) -> None:
        self._client._spawn(self._client._adopt_rooms())


@final
class PendingLink:
    """The new device's side of a link; from :meth:`HearthClient.begin_link`.

    Show :attr:`short_code` on this device; once the person confirmed it on the
    other device, :meth:`finish` returns the linked client.
    """

    def __init__(
        self,
        code: LinkCode,
        answer: crypto.BoxPrivateKey,
        hello_key: bytes,
        transport: Transport,
        build: Callable[[Identity, list[LinkRoom]], HearthClient],
    ) -> None:
        self._code = code
        self._answer = answer
        self._hello_key = hello_key
        self._transport = transport
        self._build = build

    def __repr__(self) -> str:
        return f"PendingLink(short_code={self.short_code!r})"

    @property
    def short_code(self) -> str:
        """The six digits (``123 456``) the other device must show too."""
        return short_code(self._code, self._hello_key, crypto.box_public(self._answer))

    async def finish(self, *, timeout: float = LINK_WAIT) -> HearthClient:
        """Wait for the other device's confirmation; return the linked client, not yet opened.

        Raises:
            LinkError: ``link.refused`` (the person refused on the other device),
                ``link.expired``, ``link.used``, ``link.bad_box``.
            RelayUnavailable: The relay cannot be reached.
        """
        try:
            box = await claim_when_filed(
                self._transport, self._code.root_rendezvous, timeout=timeout
            )
        finally:
            await self._transport.close()
        identity, rooms = Identity.open_link(
            self._code, box, answer=self._answer, hello_key=self._hello_key
        )
        return self._build(identity, rooms)


@final
class _RoomHost:
    """The client as its rooms and the programs code see it (``_host.RoomHost``).

    One per client: two :class:`Room` views of one room are equal when they share it.
    """

    __slots__ = ("_client",)

    def __init__(self, client: HearthClient) -> None:
        self._client = client

    @property
    def blocked(self) -> frozenset[MemberId]:
        return self._client.blocked

    @property
    def slots(self) -> Mapping[RoomId, Slot]:
        return self._client._slots

    @property
    def buddy_lock(self) -> asyncio.Lock:
        return self._client._buddy_lock

    def slot(self, room: RoomId) -> Slot:
        return self._client._slot(room)

    def state_of(self, room: RoomId) -> RoomState:
        return self._client._state_of(room)

    async def send(self, slot: Slot, body: Body) -> MessageId:
        return await self._client._send(slot, body)

    async def save(self, slot: Slot, step: Step) -> None:
        await self._client._save(slot, step)

    async def sync(self) -> None:
        await self._client._sync()

    async def room_op(self, room: RoomId, build: Callable[[RoomState], SignedOp | None]) -> None:
        await self._client._room_op(room, build)

    async def room_send(self, room: RoomId, body: Body) -> MessageId:
        return await self._client._room_send(room, body)

    async def room_delete(self, room: RoomId, message_id: MessageId) -> None:
        await self._client._room_delete(room, message_id)

    async def room_report(self, room: RoomId, message_id: MessageId, reason: str) -> MessageId:
        return await self._client._room_report(room, message_id, reason)

    async def room_invite(
        self, room: RoomId, *, max_uses: int, expires_in: float, role: Role
    ) -> str:
        return await self._client._room_invite(
            room, max_uses=max_uses, expires_in=expires_in, role=role
        )

    async def room_acknowledge(self, room: RoomId, alarm_ids: Iterable[int] | None) -> list[int]:
        return await self._client._room_acknowledge(room, alarm_ids)

    async def room_leave(self, room: RoomId) -> None:
        await self._client._room_leave(room)

    async def room_expire(self, room: RoomId) -> None:
        await self._client._room_expire(room)

    async def room_reveal(self, room: RoomId, message_id: MessageId, revealed: bool) -> Message:
        return await self._client._room_reveal(room, message_id, revealed)

    async def room_messages(
        self, room: RoomId, limit: int, before: MessageId | None
    ) -> list[Message]:
        return await self._client._room_messages(room, limit, before)

    async def room_outbox(self, room: RoomId) -> int:
        return await self._client._room_outbox(room)

    async def room_register_push(self, room: RoomId, endpoint: str) -> None:
        await self._client._room_register_push(room, endpoint)

    async def room_unregister_push(self, room: RoomId) -> None:
        await self._client._room_unregister_push(room)

    async def create_buddy_chat(self, name: str) -> RoomId:
        return (await self._client.create_buddy_chat(name)).id

    async def join(self, link: str) -> RoomId:
        return (await self._client.join(link)).id


_ROOM_LISTED: Final = b"\x01"
"""A ``rooms`` entry with no verified head yet (the room's log was empty here)."""


def _listed_head(value: bytes) -> VerifiedHead | None:
    """The verified head a ``rooms`` entry carries (None for a bare listing)."""
    if value == _ROOM_LISTED:
        return None
    try:
        return from_msgpack(value, VerifiedHead)
    except DecodeError:
        # Written by this person's own devices and sealed with their key: an entry
        # that does not decode is from a newer SDK; it lists the room, no more.
        return None


def _moves_forward(log: RoomLog, listed: bytes, mark: VerifiedHead) -> bool:
    """True if ``mark`` is later than the listed head, on the same log."""
    old = _listed_head(listed)
    if old is None:
        return True
    if mark.index <= old.index:
        return False
    try:
        check_verified_head(log, old)
    except ForkDetected:
        return False  # another device saw another history: never paper over it
    return True
