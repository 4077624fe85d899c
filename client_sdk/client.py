"""The client: one identity on one relay, the rooms it follows and what spans them.

One piece past 600 lines because :class:`HearthClient` is the SDK's documented
public surface: most of its lines are the docstrings of that API, and the work is
in the drivers it wires together. The logic lives in plain state (``_core.state.RoomState``,
one per room) and each room's I/O in its ``_driver.RoomDriver`` (commit with
rebase, catch-up, epochs, send, invite, leave, report, push), which the
:class:`Room` view and the programs code call directly. The client wires the
shared drivers together by constructor:

- ``_sessions.Sessions``: one in-memory session token per room key;
- ``_live.LiveStream``: the websocket, reconnected with backoff and full jitter;
- ``_outbox.Outbox``: seal, store, then deliver each message exactly once;
- ``_inbox.Inbox``: persist what a room accepted, then announce it as events;
- ``_transport.Transport`` and ``_store.Store``: HTTP/websocket and SQLite.

What stays here spans rooms: opening and closing, creating and joining rooms
(and taking up those another device of this person is in), the HTTP sync pass
over every room at once, the personal store's room list, blocking, device links,
and the events queue. Each room has two locks (see ``_slot.py``); everything that
reads or changes a room's state holds its ``lock``, so events and our own
operations apply one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Mapping,
    Sequence,
)
from typing import Any, Final, TypeVar, assert_never, final

from client_sdk import _blocklist, _programs
from client_sdk import _roomlist as roomlist
from client_sdk._blocklist import BlockList
from client_sdk._core.builders import create_op
from client_sdk._core.followups import (
    Abandon,
    FollowUp,
    JoinBuddy,
    Reprofile,
    Republish,
    Reseal,
    Restatus,
)
from client_sdk._core.state import RoomState
from client_sdk._core.step import Step
from client_sdk._device_links import LINK_WAIT, DeviceLink, answer_link, claim_when_filed
from client_sdk._drafts import DraftCheck, check_draft
from client_sdk._driver import MAX_REBASES, RoomDriver, RoomServices
from client_sdk._inbox import Inbox, to_message
from client_sdk._invite_links import parse_invite
from client_sdk._live import LiveStream
from client_sdk._outbox import Outbox
from client_sdk._personal import PersonalSync
from client_sdk._sessions import Sessions, SignInPacer
from client_sdk._slot import Slot
from client_sdk._store import Store, StoredMessage
from client_sdk._syncpass import sync_pass
from client_sdk._tasks import cancel_and_wait
from client_sdk._transport import Transport, origin_of
from client_sdk.crisis import CrisisDirectory, normalise_region
from client_sdk.errors import (
    BlockError,
    ClientClosed,
    InviteError,
    RelayError,
    RelayUnavailable,
    StoreError,
)
from client_sdk.events import (
    ConnectionChanged,
    Event,
    MessageReceived,
    PersonalDataChanged,
    SecurityAlarm,
)
from client_sdk.identity import Identity
from client_sdk.personal import PersonalData
from client_sdk.room import Room
from protocol import crypto
from protocol.api import (
    CrisisResource,
    HistoryPage,
    LinkOffer,
    MessageAck,
    RoomEvent,
)
from protocol.clock import SYSTEM_CLOCK, Clock
from protocol.errors import ForkDetected, HearthError, LogError
from protocol.ids import (
    MemberId,
    RoomId,
    b64url_decode,
    member_key,
)
from protocol.messages import (
    Envelope,
    ProfileBody,
    RulesBody,
)
from protocol.ops import Policy, Role
from protocol.personal import (
    LinkCode,
    LinkHello,
    LinkRoom,
    VerifiedHead,
    seal_hello,
    short_code,
)
from protocol.signing import InviteKey

__all__ = ["HearthClient"]

_log = logging.getLogger("client_sdk")

_T = TypeVar("_T")
_JOIN_REFUSALS: Final = {
    "log.bad_invite": "invite.refused",
    "log.banned": "invite.banned",
    "log.room_full": "invite.room_full",
}
"""The relay's refusals of a join, as the InviteError codes the app sees."""
_HISTORY_PAGE: Final = 200
_CLOSED: Final = object()


_REPORT_ROLES: Final = frozenset({"owner", "moderator", "supporter"})
_DRAFT_CHECK: Final = "draft_check"
_CRISIS_REGION: Final = "crisis_region"


def _stored_region(value: bytes | None) -> str | None:
    """The region a store holds; anything unreadable counts as none (every region)."""
    try:
        return normalise_region(value.decode("ascii")) if value else None
    except (UnicodeDecodeError, ValueError):
        return None


_EXPIRE_EVERY: Final = 300.0
"""Seconds between passes that drop locally stored messages past a room's retention."""
_CLOSE_GRACE: Final = 5.0
"""Seconds ``close()`` gives a cancelled background task before cancelling it again."""


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
        reconnect_delay: (first, largest) bound in seconds of the delay between
            reconnects (and between automatic retries of an outbox the relay did
            not take): each attempt doubles the bound up to the largest, and waits
            anywhere below it (full jitter). A relay going down gracefully names
            its own moment to come back instead.
        clock: Where every time the client signs, seals or judges comes from
            (a ``protocol.ManualClock`` in tests).
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
        reconnect_delay: tuple[float, float] = (0.25, 10.0),
        clock: Clock = SYSTEM_CLOCK,
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
        self._clock = clock
        self._state = "new"
        self._store: Store | None = None
        self._transport: Transport | None = None
        self._rooms: dict[RoomId, RoomDriver] = {}
        self._services: RoomServices | None = None
        self._events: asyncio.Queue[object] = asyncio.Queue()
        self._sync_lock = asyncio.Lock()
        self._sessions: Sessions | None = None
        self._outbox: Outbox | None = None
        self._inbox: Inbox | None = None
        self._live: LiveStream | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._online = False
        self._retrying: set[RoomId] = set()
        """Rooms with an outbox retry timer running."""
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
        self._crisis_region: str | None = None

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
        states: list[RoomState] = []
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
                states.append(state)
            self._draft_check = await store.device_setting(_DRAFT_CHECK) == b"on"
            self._crisis_region = _stored_region(await store.device_setting(_CRISIS_REGION))
        except BaseException:
            await store.close()
            raise
        self._store = store
        self._transport = Transport(self._base_url, timeout=self._timeout)
        # One pacer for every key of this person: sign-ins one at a time, spaced out.
        clock = self._clock
        pacer = SignInPacer(clock=clock)
        self._sessions = Sessions(
            self._transport,
            registration_token=self._registration_token,
            pacer=pacer,
            clock=clock,
        )
        self._outbox = Outbox(store, _Host(self), retry_delay=self._reconnect, clock=clock)
        self._inbox = Inbox(store, _Host(self), self._blocks, clock=clock)
        self._services = RoomServices(
            base_url=self._base_url,
            store=store,
            transport=self._transport,
            sessions=self._sessions,
            outbox=self._outbox,
            inbox=self._inbox,
            blocks=self._blocks,
            rotate_after_ms=self._rotate_after_ms,
            rotate_every=self._rotate_every,
            reconnect_delay=self._reconnect,
            clock=clock,
            check_open=self._check_open,
            live=lambda: self._live,
            emit=self._emit,
            spawn=self._spawn,
            rooms_changed=self._rooms_changed,
        )
        for state in states:
            self._rooms[state.room] = RoomDriver(Slot(state), self._services)
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
            clock=clock,
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
        for driver, request in _programs.unjoined(self._room_host):
            # A claim we read before the app closed, whose buddy chat we never joined.
            self._spawn(_programs.join_claimed(self._room_host, driver.room, request))

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
        for driver in self._rooms.values():
            # Wait for work in progress to reach the store before closing it.
            slot = driver.slot
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
        """The crisis lines for ``region`` (or all): this relay operator's, then the SDK's own.

        ``region`` is an ISO 3166-1 alpha-2 code (``"GB"``, any case); the answer
        holds the lines listing it and those marked ``"*"`` (everywhere, the
        emergency-number advice among them). The relay's whole list is fetched
        (``GET /v1/crisis``, no session token, no region) and filtered here, so the
        relay never learns the region; the built-in lines of
        :data:`client_sdk.DEFAULT_CRISIS_RESOURCES` follow the relay's, without
        duplicates (:class:`client_sdk.CrisisDirectory`). To show lines offline or
        before sign-in, use :func:`client_sdk.fetch_crisis_directory` with a cache
        file and :meth:`client_sdk.CrisisDirectory.load`.

        Raises:
            ValueError: ``region`` is not two ASCII letters (checked before any request).
            RelayError: The relay refused, or its answer is not a crisis list.
            RelayUnavailable: The relay cannot be reached.
        """
        _, transport = self._check_open()
        normalise_region(region)
        return CrisisDirectory(await transport.crisis()).for_region(region)

    @property
    def draft_check(self) -> bool:
        """True if the person opted in to the on-device draft check (off by default)."""
        return self._draft_check

    async def set_draft_check(self, enabled: bool) -> None:
        """Opt in to (or out of) the on-device draft check; kept in the local store."""
        store, _ = self._check_open()
        await store.put_device_setting(_DRAFT_CHECK, b"on" if enabled else b"off")
        self._draft_check = enabled

    @property
    def crisis_region(self) -> str | None:
        """The region the person chose for crisis lines on this device (None: every region)."""
        return self._crisis_region

    async def set_crisis_region(self, region: str | None) -> None:
        """Remember the person's region for crisis lines, encrypted in the local store.

        It is only ever used on this device, to filter the crisis directory
        (``CrisisDirectory.for_region``): nothing sends it, and a linked device
        keeps its own.

        Raises:
            ValueError: ``region`` is not two ASCII letters.
        """
        store, _ = self._check_open()
        region = normalise_region(region)
        await store.put_device_setting(_CRISIS_REGION, region.encode() if region else b"")
        self._crisis_region = region

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
        if any(d.state.me == member for d in self._rooms.values()):
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
            Room(self._room_host, r) for r, d in self._rooms.items() if d.state.status == "active"
        )

    def room(self, room_id: RoomId | str) -> Room:
        """A room from the local store, by id (also one that was left, to read it).

        Raises:
            KeyError: The store holds no such room.
        """
        if RoomId(room_id) not in self._rooms:
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

    async def offer_device_link(self) -> DeviceLink:
        """Start linking a new device to this identity; both screens will show a short code.

        Show :attr:`DeviceLink.code` (as text or a QR code) to the new device, which
        passes it to :meth:`begin_device_link` within ``link_ttl`` (10 minutes by
        default) and then shows a six-digit short code. ``await
        device_link.claimant_code()`` returns the digits this device must show; the person
        compares both screens and you call ``device_link.confirm()`` (the same digits: the
        root and the room list, with the heads this device verified, are sealed
        to that device alone) or ``device_link.refuse()`` (different digits, or none on
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
                LinkRoom(room=d.room, verified=d.state.verified_head)
                for d in self._rooms.values()
                if d.state.status == "active"
            ]

        return DeviceLink(code, hello, transport, file, rooms, self._identity, clock=self._clock)

    @classmethod
    async def begin_device_link(
        cls,
        base_url: str,
        code: str,
        *,
        store_path: str | os.PathLike[str],
        **options: Any,
    ) -> PendingDeviceLink:
        """Start linking this device with a code from :meth:`offer_device_link` elsewhere.

        Claims the other device's hello (once: the code is then spent) and files
        this device's answer. Show :attr:`PendingDeviceLink.short_code`; once the person
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

        return PendingDeviceLink(parsed, answer, hello_key, transport, build)

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

    async def join(self, invite_link: str) -> Room:
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
        room, invite = parse_invite(invite_link)
        existing = self._rooms.get(room)
        if existing is not None and existing.state.status == "active":
            return Room(self._room_host, room)
        if existing is not None and existing.state.me in existing.state.banned:
            raise InviteError("a moderator banned you from this room", code="invite.banned")
        driver = self._new_driver(room)
        keys = driver.state.keys
        for _ in range(MAX_REBASES):
            state = RoomState(keys)
            try:
                ops = await driver.read_invite_log(invite)
            except RelayError as exc:
                if exc.code != "room.not_found":
                    raise
                # No live invite, or we are a member already (a join whose answer
                # was lost, a store restored from the recovery phrase).
                if await self._recover_membership(driver):
                    return Room(self._room_host, room)
                raise InviteError(
                    "the relay knows no live invite for this link", code="invite.unknown"
                ) from exc
            state.load_log(ops)
            if state.log.room != room:
                raise LogError("the relay served another room's log", code="log.bad_room")
            self._refuse_blocked_invite(state, invite)
            if keys.member in state.log.members and await self._recover_membership(driver):
                return Room(self._room_host, room)
            op = state.join_op(invite, now=self._clock.now_ms())
            try:
                result = await driver.append_retrying(op)
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
            driver.slot.state = state
            self._rooms[room] = driver
            async with driver.slot.lock:
                await driver.save(step, all_ops=True)
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

    async def _recover_membership(
        self, driver: RoomDriver, verified: Sequence[VerifiedHead] = ()
    ) -> bool:
        """Rebuild a room we are already a member of from its log (False if we are not).

        Every commit that has a share for us is opened, so every epoch since we
        joined is readable; the sync then starts from the room's first event.
        ``verified`` are heads this person verified before (the personal store's
        room list, a link offer): the served log must hold each, or the room is
        taken up blocked, with a ``fork`` alarm, and nothing is signed or sealed
        in it.
        """
        self._check_open()
        state = RoomState(driver.state.keys)
        try:
            ops = await driver.read_log()
        except RelayError as exc:
            if exc.code == "room.not_found":
                return False
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
            driver.slot.state = state
            self._rooms[driver.room] = driver
            async with driver.slot.lock:
                await driver.save(Step(secrets=dict(state.secrets)), all_ops=True)
        for item in step.items:
            if isinstance(item, SecurityAlarm):
                self._emit(item)
        if refused:
            return False
        self._rooms_changed()
        return True

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
        outbox = self._outbox
        assert outbox is not None
        for room in {e.room for e in await store.outbox() if e.failed is None}:
            driver = self._rooms.get(room)
            if driver is not None and driver.state.status == "active":
                await driver.flush_quietly()
        return await outbox.pending()

    async def register_push(
        self, endpoint: str | Callable[[Room], str], *, web_push: bool = False
    ) -> None:
        """Register this device for push in every room it is in (see :meth:`Room.register_push`).

        Args:
            endpoint: The endpoint URL for every room, or a function giving each
                room its own (preferable: one URL for all rooms lets the relay link
                this person's keys across them). Rooms joined later are not
                included: register them as they come.
            web_push: As :meth:`Room.register_push`.

        Raises:
            RelayError: As :meth:`Room.register_push`, for the first room refused
                (the rooms before it stay registered).
            RelayUnavailable: The relay cannot be reached.
        """
        for room in self.rooms:
            url = endpoint(room) if callable(endpoint) else endpoint
            await self._driver(room.id).register_push(url, web_push=web_push)

    async def web_push_key(self) -> bytes:
        """The relay's VAPID public key: 65 bytes, an uncompressed P-256 point.

        A browser subscribes to push with it (``applicationServerKey``); the SDK has
        no browser, so this is for tools and tests that stand in for one.

        Raises:
            RelayError: ``push.disabled`` (the relay sends no push).
            RelayUnavailable: The relay cannot be reached.
        """
        _, transport = self._check_open()
        return b64url_decode((await transport.vapid_key()).key)

    async def unregister_push(self) -> None:
        """Stop push for this device in every room it is in."""
        for room in self.rooms:
            await self._driver(room.id).unregister_push()

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
        driver = self._new_driver(room)
        state = driver.state
        op = create_op(genesis, state.keys, policy, now=self._clock.now_ms())
        result = await driver.with_token(lambda t: transport.create_room(t, op), create=True)
        step = state.apply_op(op)
        state.position = result.seq
        state.floor = 1
        state.profile = profile
        self._rooms[room] = driver
        async with driver.slot.lock:
            await driver.save(step)
        await driver.send(profile)
        if rules is not None:
            await driver.send(RulesBody(version=1, text=rules))
        self._rooms_changed()
        return Room(self._room_host, room)

    # -- background work and events -------------------------------------------------

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

    # -- sync over HTTP ---------------------------------------------------------------

    def _followed(self) -> list[RoomDriver]:
        return [
            d for d in self._rooms.values() if d.state.status == "active" and not d.state.frozen
        ]

    async def _sync(self) -> None:
        """Catch every followed room up with the relay (``_syncpass.sync_pass``)."""
        _, transport = self._check_open()
        async with self._sync_lock:
            await sync_pass(transport, self._rooms, self._followed, refused=self._stream_refused)

    async def _expire_all(self) -> None:
        for driver in list(self._rooms.values()):
            await driver.expire()

    async def _expire_periodically(self) -> None:
        """Retention keeps running while the app is open and nothing arrives."""
        while True:
            await asyncio.sleep(_EXPIRE_EVERY)
            try:
                await self._expire_all()
            except HearthError as exc:
                _log.info("retention pass failed: %s", exc.code)

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
        document = await personal.document(roomlist.DOCUMENT)
        changes = roomlist.changes(document, {r: d.state for r, d in self._rooms.items()})
        if changes:
            with contextlib.suppress(RelayUnavailable):
                await personal.change(roomlist.DOCUMENT, changes)

    async def _adopt_rooms(self) -> None:
        """Take up every room the ``rooms`` document (or the link offer) lists."""
        self._check_open()
        personal = self._personal
        assert personal is not None
        async with self._adopt_lock:
            document = await personal.document(roomlist.DOCUMENT)
            for room, marks in roomlist.wanted(document, self._linked_rooms).items():
                if room in self._rooms or room in self._not_member:
                    continue
                if not await self._recover_membership(self._new_driver(room), marks):
                    self._not_member.add(room)

    def _set_online(self, online: bool) -> None:
        if online != self._online:
            self._online = online
            self._emit(ConnectionChanged(online=online))

    def _flush_later(self, room: RoomId, delay: float) -> None:
        if room not in self._retrying:
            self._retrying.add(room)
            self._spawn(self._retry_flush(room, delay))

    async def _retry_flush(self, room: RoomId, delay: float) -> None:
        """The outbox's automatic retry: while online, the room's outbox again."""
        try:
            await asyncio.sleep(delay)
        finally:
            self._retrying.discard(room)
        driver = self._rooms.get(room)
        if self._online and driver is not None and driver.state.status == "active":
            await driver.flush_quietly()

    async def _stream_tokens(self) -> dict[RoomId, str]:
        return {d.room: await d.token() for d in self._followed()}

    async def _stream_ready(self) -> dict[RoomId, int]:
        await self._sync()
        await self.flush()
        # As after sync(): the heads this catch-up verified, for a later restore.
        self._spawn(self._publish_rooms())
        return {d.room: d.state.position for d in self._followed()}

    def _stream_refused(self) -> None:
        if self._sessions is not None:
            self._sessions.forget()

    def _driver(self, room: RoomId) -> RoomDriver:
        self._check_open()
        driver = self._rooms.get(room)
        if driver is None:
            raise KeyError(room)
        return driver

    def _new_driver(self, room: RoomId) -> RoomDriver:
        """A driver for a room not yet followed (created, joined or taken up)."""
        services = self._services
        if services is None:
            raise ClientClosed("open the client first (async with)", code="client.not_open")
        return RoomDriver(Slot(RoomState(self._identity.room_keys(room))), services)


@final
class _Host:
    """The client as its drivers see it: ``StreamHost``, ``OutboxHost``, ``InboxHost``,
    ``PersonalHost``. What concerns one room goes to that room's :class:`RoomDriver`."""

    __slots__ = ("_client",)

    def __init__(self, client: HearthClient) -> None:
        self._client = client

    def _room(self, slot: Slot) -> RoomDriver:
        return self._client._rooms[slot.room]

    async def stream_tokens(self) -> dict[RoomId, str]:
        return await self._client._stream_tokens()

    async def stream_ready(self) -> dict[RoomId, int]:
        return await self._client._stream_ready()

    async def stream_events(self, room: RoomId, events: Sequence[RoomEvent]) -> None:
        driver = self._client._rooms.get(room)
        if driver is not None:
            await driver.stream_events(events)

    def stream_online(self, online: bool) -> None:
        self._client._set_online(online)

    def stream_refused(self) -> None:
        self._client._stream_refused()

    async def ensure_epoch(self, slot: Slot) -> None:
        await self._room(slot).ensure_epoch()

    async def catch_up_log(self, slot: Slot) -> None:
        await self._room(slot).catch_up_log()

    async def send_envelope(self, slot: Slot, envelope: Envelope) -> MessageAck:
        return await self._room(slot).send_envelope(envelope)

    def delivered(self, message: StoredMessage) -> None:
        driver = self._client._rooms.get(message.room)
        state = None if driver is None else driver.state
        message_view = to_message(message, self._client._blocks, state)
        self._client._emit(MessageReceived(room_id=message.room, message=message_view))

    def emit(self, event: Event) -> None:
        if isinstance(event, PersonalDataChanged) and event.document == _blocklist.DOCUMENT:
            # Another device changed the block list: filter by it before saying so.
            self._client._spawn(self._client._blocks_changed(event))
            return
        self._client._emit(event)

    def online(self) -> bool:
        return self._client._online

    def flush_later(self, slot: Slot, delay: float) -> None:
        self._client._flush_later(slot.room, delay)

    def evict(self, slot: Slot, member: MemberId) -> None:
        self._client._spawn(self._room(slot).evict(member))

    def follow_up(self, slot: Slot, item: FollowUp) -> None:
        """What a room's step asks of us: the one handler of every kind of follow-up."""
        driver = self._room(slot)
        match item:
            case Republish():
                self._client._spawn(driver.republish())
            case Reprofile():
                self._client._spawn(driver.reprofile())
            case Restatus():
                self._client._spawn(_programs.restatus(driver))
            case JoinBuddy(request=request):
                self._client._spawn(
                    _programs.join_claimed(self._client._room_host, slot.room, request)
                )
            case Reseal(request=request, text=text, to=to):
                self._client._spawn(_programs.reseal(driver, request, text, to))
            case Abandon(request=request):
                self._client._spawn(_programs.abandon(self._client._room_host, driver, request))
            case _:
                assert_never(item)

    async def retire(self, slot: Slot) -> None:
        await self._room(slot).retire()

    async def fetch_history(self, slot: Slot, before: int) -> HistoryPage:
        return await self._room(slot).fetch_history(before)

    def rooms_listed(self) -> None:
        self._client._spawn(self._client._adopt_rooms())


@final
class PendingDeviceLink:
    """The new device's side of a device link; from :meth:`HearthClient.begin_device_link`.

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
        return f"PendingDeviceLink(short_code={self.short_code!r})"

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
    def rooms(self) -> Mapping[RoomId, RoomDriver]:
        return self._client._rooms

    @property
    def buddy_lock(self) -> asyncio.Lock:
        return self._client._buddy_lock

    def driver(self, room: RoomId) -> RoomDriver:
        return self._client._driver(room)

    async def sync(self) -> None:
        await self._client._sync()

    async def create_buddy_chat(self, name: str) -> RoomId:
        return (await self._client.create_buddy_chat(name)).id

    async def join(self, invite_link: str) -> RoomId:
        return (await self._client.join(invite_link)).id
