"""A room as the app sees it: a thin view over one room's verified state.

One piece past 600 lines because it is the documented surface of one class: most
of its lines are docstrings, and each method is a few lines handing over to the
room's driver (``_driver.RoomDriver``) or the programs code.

:class:`Room` holds no state of its own: every property reads the room's
verified log and decrypted profile at the moment it is called, every method goes
through the room's driver (which holds the room's lock). Two ``Room`` objects for
the same room of the same client are equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, final

import msgspec

from client_sdk import _programs, _risk, _schedule
from client_sdk._schedule import Meeting
from client_sdk.errors import ScheduleError, SupportError
from client_sdk.events import SecurityAlarm
from client_sdk.message import MembershipEntry, Message, ModerationEntry, RoomMember
from client_sdk.support import RiskAlert, SupporterInfo, SupportRequest
from protocol.ids import MemberId, MessageId, RoomId
from protocol.keys import room_fingerprint, safety_number
from protocol.messages import (
    CrisisResource,
    EditBody,
    MemberProfileBody,
    ModerationBody,
    ProfileBody,
    ReactionBody,
    RiskPlanBody,
    RulesAcceptBody,
    RulesBody,
    ScheduleBody,
    TextBody,
)
from protocol.names import member_name
from protocol.ops import Policy, Role, RoomKind

if TYPE_CHECKING:
    from client_sdk._core.ledger import Status
    from client_sdk._core.state import RoomState
    from client_sdk._driver import RoomDriver
    from client_sdk._host import RoomHost

__all__ = ["Room", "RoomFingerprint"]


@final
@dataclass(frozen=True, slots=True)
class RoomFingerprint:
    """What two members compare to check that they hold the same history of a room.

    Show :attr:`index` beside :attr:`digits`: members at the same index see the
    same digits exactly when their verified logs are the same up to it.
    """

    index: int
    """The log index the digits cover (the newest operation, unless asked for another)."""
    digits: str
    """60 digits in 12 groups of 5 separated by single spaces, like a safety number."""

    def __str__(self) -> str:
        return f"{self.index}: {self.digits}"


@final
class Room:
    """One room of a :class:`HearthClient`. Get it from the client, never construct it."""

    __slots__ = ("_host", "_id")

    def __init__(self, host: RoomHost, room_id: RoomId) -> None:
        self._host = host
        self._id = room_id

    @property
    def _driver(self) -> RoomDriver:
        return self._host.driver(self._id)

    @property
    def _state(self) -> RoomState:
        return self._host.driver(self._id).state

    def _now(self) -> int:
        return self._host.driver(self._id).clock.now_ms()

    def _utcnow(self) -> datetime:
        return datetime.fromtimestamp(self._now() / 1000, tz=UTC)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Room):
            return NotImplemented
        return self._host is other._host and self._id == other._id

    def __hash__(self) -> int:
        return hash((id(self._host), self._id))

    def __repr__(self) -> str:
        return f"Room(id={self._id!r})"

    # -- what the verified state says ------------------------------------------------

    @property
    def id(self) -> RoomId:
        """The room id (random; also what invite links name)."""
        return self._id

    @property
    def kind(self) -> RoomKind:
        """``"group"``, ``"buddy"`` or ``"program"``, from the room's policy."""
        return self._state.policy.kind

    @property
    def policy(self) -> Policy:
        """The policy in the verified log (what the relay may know and enforces)."""
        return self._state.policy

    @property
    def name(self) -> str:
        """The room's name from its encrypted profile (empty until one arrives)."""
        profile = self._state.profile
        return profile.name if profile else ""

    @property
    def topic(self) -> str:
        """The room's topic line from its encrypted profile."""
        profile = self._state.profile
        return profile.topic if profile else ""

    @property
    def description(self) -> str:
        """The room's description from its encrypted profile."""
        profile = self._state.profile
        return profile.description if profile else ""

    @property
    def rules(self) -> str | None:
        """The newest ground rules a moderator or owner published, if any."""
        rules = self._state.rules
        return rules.text if rules else None

    @property
    def rules_version(self) -> int:
        """The version of :attr:`rules` (0 if there are none)."""
        rules = self._state.rules
        return rules.version if rules else 0

    @property
    def rules_accepted(self) -> bool:
        """True if there are no rules, or we accepted the current version (then we may post)."""
        state = self._state
        return state.rules is None or state.accepted.get(state.me, 0) >= state.rules.version

    @property
    def rules_acceptances(self) -> Mapping[MemberId, int]:
        """The newest rules version each current member accepted, from their signed messages.

        Publishing a version counts as accepting it. Members who accepted nothing
        are absent.
        """
        state = self._state
        return MappingProxyType({m: v for m, v in state.accepted.items() if m in state.log.members})

    @property
    def members(self) -> Mapping[MemberId, Role]:
        """Every member's id and role, from the verified log (never from the relay)."""
        return MappingProxyType({m.id: m.role for m in self._state.log.members.values()})

    @property
    def me(self) -> MemberId:
        """This identity's pseudonymous member id in this room."""
        return self._state.me

    # -- members' names ----------------------------------------------------------------

    def member(self, member_id: MemberId | str) -> RoomMember:
        """How to show a member: the name they chose here, its label, their role.

        The role is the verified log's (None once they left or were removed); the
        label tells look-alike names apart and stands in for a missing name
        (:class:`RoomMember`). Works for anyone who was ever seen here.
        """
        return self._state.member(MemberId(member_id))

    @property
    def members_info(self) -> list[RoomMember]:
        """Every current member as :meth:`member` shows them: owners first, then by label."""
        return self._state.names.members()

    @property
    def my_name(self) -> str | None:
        """The display name this identity chose in this room (None: not yet)."""
        return self._state.names.mine

    async def set_name(self, name: str) -> MessageId:
        """Choose this identity's display name in this room (a signed ``member.profile``).

        The name is encrypted like any message, so the relay never reads it, and it
        belongs to this room only: another room never sees it. Surrounding white
        space is dropped and the rest NFC-normalised. Members who join later get it
        too (the SDK sends it again when it reads their join). Other members see
        a :class:`~client_sdk.MemberRenamed`; a name that looks like another
        member's is shown with a short key beside it.

        Raises:
            ValueError: The name is empty, longer than 64 characters, or holds a
                control character (``protocol.names.member_name``).
        """
        normalised = member_name(name.strip())
        return await self._driver.send(MemberProfileBody(name=normalised))

    @property
    def role(self) -> Role | None:
        """This identity's role here (None once it left or was removed)."""
        return self._state.log.role_of(self._state.me)

    @property
    def epoch(self) -> int:
        """The current epoch number (it grows with every membership change and rotation)."""
        return self._state.log.epoch

    @property
    def status(self) -> Status:
        """``"active"``, ``"left"``, ``"removed"`` or ``"unreachable"``.

        ``unreachable``: the relay stopped serving this room to our key without
        the log showing why (most likely we were removed and the relay withheld
        the operation, which it may do; it cannot forge one).
        """
        return self._state.status

    @property
    def alarms(self) -> tuple[SecurityAlarm, ...]:
        """Security alarms not yet acknowledged; while any is open the room refuses to send."""
        return self._state.alarms

    @property
    def blocked(self) -> bool:
        """True while :attr:`alarms` is not empty, or while the relay serves this room's
        log only up to an index before a head this person verified on another device
        or before a restore (a withheld operation): the room refuses to send."""
        return self._state.blocked

    def safety_number(self, member_id: MemberId | str) -> str:
        """The 60-digit code this identity and ``member_id`` compare to check each other's keys.

        Both sides compute the same digits; read them aloud or compare them in
        person. The keys come from the verified log.

        Raises:
            KeyError: ``member_id`` is not a member.
        """
        state = self._state
        other = state.log.members.get(MemberId(member_id))
        if other is None:
            raise KeyError(member_id)
        return safety_number(self._id, (state.me, state.keys.box_public), (other.id, other.box_key))

    def fingerprint(self, at: int | None = None) -> RoomFingerprint:
        """The room fingerprint: what members compare to check they see one history.

        A relay could keep two groups of members apart, serving each its own
        history, so that no message of one group ever reaches the other to raise
        a fork alarm. Members who compare fingerprints out of band (in person, by
        phone) notice: at the same index the digits agree exactly when the
        verified logs agree up to that index. At different indices, the member
        behind syncs first; if it cannot reach the other's index, or if the one
        ahead computes ``fingerprint(at=<the other's index>)`` and the digits still
        differ, the relay is showing them different rooms.

        Args:
            at: A log index up to our newest (default: our newest operation).

        Raises:
            ValueError: ``at`` is negative or beyond our verified log.
        """
        log = self._state.log
        index = log.index if at is None else at
        if not 0 <= index <= log.index:
            raise ValueError(f"our verified log ends at index {log.index}, not {index}")
        return RoomFingerprint(index, room_fingerprint(self._id, index, log.hash_at(index)))

    # -- messages ------------------------------------------------------------------

    async def send(
        self,
        text: str,
        *,
        content_warning: str | None = None,
        reply_to: MessageId | None = None,
    ) -> MessageId:
        """Send a text message; return its id.

        With ``content_warning``, other members' devices receive it collapsed
        (:attr:`Message.collapsed`, text hidden) until the reader opens it with
        :meth:`reveal`. ``reply_to`` names the message this one answers.

        The message is sealed and stored in the outbox before anything goes on the
        network. The call returns once the relay acknowledged it, or once it is
        safely queued because the relay cannot be reached (it goes out on
        reconnect, exactly once). If the room's epoch is due for rotation, the
        rotation is committed first.

        Raises:
            RulesNotAccepted: The room has ground rules we have not accepted
                (``rules.not_accepted``); see :meth:`accept_rules`.
            RoomBlocked: A security alarm is open (``room.blocked``).
            RoomInactive: We left or were removed.
            RelayError: The relay refused the message for good.
        """
        body = TextBody(text=text, content_warning=content_warning, reply_to=reply_to)
        return await self._driver.send(body)

    async def edit(self, message_id: MessageId, text: str) -> MessageId:
        """Replace the text of one of our own messages; return the edit's id."""
        return await self._driver.send(EditBody(target=message_id, text=text))

    async def react(self, message_id: MessageId, emoji: str) -> MessageId:
        """Put an emoji reaction on a message (a signed, encrypted ``reaction``).

        Every member's :attr:`Message.reactions` then lists us under ``emoji``; a
        :class:`ReactionChanged` event announces it. Reacting twice with the same
        emoji changes nothing. Posting rules apply as for :meth:`send`.

        Raises:
            RulesNotAccepted, PostingMuted, RoomBlocked, RoomInactive: As :meth:`send`.
        """
        body = ReactionBody(target=MessageId(message_id), emoji=emoji)
        return await self._driver.send(body)

    async def unreact(self, message_id: MessageId, emoji: str) -> MessageId:
        """Take back our ``emoji`` reaction on a message."""
        body = ReactionBody(target=MessageId(message_id), emoji=emoji, remove=True)
        return await self._driver.send(body)

    async def reveal(self, message_id: MessageId) -> Message:
        """Open a message's content warning on this device; return it with its text.

        A message with a content warning arrives :attr:`Message.collapsed`, its
        ``text`` empty. Call this when the person chose to read it (a tap on the
        warning); the choice is kept in the encrypted local store, so the message
        stays open on this device across restarts, and only here.

        Raises:
            KeyError: The store holds no such message.
        """
        return await self._driver.reveal(MessageId(message_id), True)

    async def collapse(self, message_id: MessageId) -> Message:
        """Close a revealed message behind its content warning again (this device).

        Raises:
            KeyError: The store holds no such message.
        """
        return await self._driver.reveal(MessageId(message_id), False)

    async def delete(self, message_id: MessageId) -> None:
        """Delete a message (our own, or anyone's as a moderator or owner).

        The relay removes the ciphertext and keeps a signed tombstone. The
        request names the message's sender, device and counter (read from its
        envelope, fetched again), so members who never read it are not alarmed.

        Raises:
            KeyError: The local store holds no such message.
            RelayError: ``msg.not_found`` if the relay no longer holds it.
        """
        await self._driver.delete(message_id)

    async def messages(self, limit: int = 50, *, before: MessageId | None = None) -> list[Message]:
        """Decrypted, verified text messages, oldest first: the newest ``limit`` of them.

        Read from the local store. With ``before``, the ``limit`` messages before
        that one. If the store holds fewer and the room shares history, older
        events are fetched from the relay (lazily, only now) and verified.
        """
        return await self._driver.messages(limit, before)

    async def pending(self) -> int:
        """How many of our messages in this room wait in the outbox."""
        return await self._driver.pending()

    # -- room profile and rules ---------------------------------------------------------

    async def set_profile(self, name: str, *, topic: str = "", description: str = "") -> None:
        """Publish a new encrypted profile (moderators and owners; others' are ignored)."""
        body = ProfileBody(name=name, topic=topic, description=description)
        await self._driver.send(body)

    async def set_rules(self, text: str) -> int:
        """Publish a new version of the ground rules; return its version number."""
        version = self.rules_version + 1
        await self._driver.send(RulesBody(version=version, text=text))
        return version

    async def accept_rules(self) -> MessageId:
        """Accept the current ground rules: a signed ``rules.accept`` every member sees.

        Until then :meth:`send`, :meth:`edit` and reactions raise
        :class:`RulesNotAccepted`; a new version of the rules asks again.
        """
        return await self._driver.send(RulesAcceptBody(version=max(self.rules_version, 1)))

    # -- scheduled meetings ----------------------------------------------------------

    @property
    def schedule(self) -> ScheduleBody | None:
        """The room's recurring meeting from its encrypted state (None if there is none)."""
        return self._state.schedule

    async def set_schedule(
        self,
        title: str,
        *,
        frequency: Literal["weekly", "fortnightly", "monthly"],
        start: datetime,
        timezone: str,
        duration: timedelta,
        description: str = "",
    ) -> None:
        """Publish the room's meeting schedule (moderators and owners; others' are ignored).

        Args:
            title: What calendars show.
            frequency: ``weekly``, ``fortnightly`` or ``monthly``.
            start: The first meeting's wall-clock date and time in ``timezone``
                (a naive datetime; an aware one is converted to ``timezone``).
            timezone: An IANA name such as ``Europe/Berlin``.
            duration: How long each meeting lasts (whole minutes, at most a day).

        Raises:
            ScheduleError: Unknown time zone.
        """
        tz = _schedule.zone(timezone)
        if start.tzinfo is not None:
            start = start.astimezone(tz).replace(tzinfo=None)
        body = ScheduleBody(
            title=title,
            frequency=frequency,
            start=start.strftime("%Y-%m-%dT%H:%M"),
            timezone=timezone,
            duration_minutes=int(duration.total_seconds() // 60),
            description=description,
        )
        await self._driver.send(body)

    async def cancel_schedule(self) -> None:
        """Cancel the recurring meeting (the schedule stays, marked inactive)."""
        current = self._state.schedule
        if current is not None and current.active:
            await self._driver.send(msgspec.structs.replace(current, active=False))

    def next_meetings(self, n: int = 5, *, after: datetime | None = None) -> list[Meeting]:
        """The next ``n`` meetings ending after ``after`` (now), in the schedule's zone."""
        schedule = self._state.schedule
        if schedule is None:
            return []
        return _schedule.occurrences(schedule, n, after=after or self._utcnow())

    def export_ical(self) -> str:
        """The schedule as an RFC 5545 iCalendar file (``text/calendar``), for calendar apps.

        Raises:
            ScheduleError: The room has no schedule.
        """
        schedule = self._state.schedule
        if schedule is None:
            raise ScheduleError("this room has no schedule", code="schedule.none")
        return _schedule.export_ical(schedule, uid=f"{self._id}@hearth", now=self._utcnow())

    # -- membership (signed log operations) ----------------------------------------------

    async def create_invite(
        self, max_uses: int = 1, expires_in: float = 24 * 3600, *, role: Role = "member"
    ) -> str:
        """Register a new invite link in the log and return it.

        The link is ``{relay}/join/{room}#{secret}``: the secret travels only in the
        URL fragment, which browsers never send to a server. Only its public key
        is in the log.

        Args:
            max_uses: How many people may join with it.
            expires_in: Seconds until it expires.
            role: The role it grants (not ``owner``; at most our own).

        Raises:
            InviteError: ``invite.room_full`` if the room is at its member cap
                (a buddy chat with both buddies in it).
        """
        return await self._driver.invite(max_uses=max_uses, expires_in=expires_in, role=role)

    async def remove(self, member_id: MemberId) -> None:
        """Remove a member (moderators and owners) and move everyone else to a new epoch.

        The removed member cannot read anything sent afterwards.
        """
        await self._driver.op(lambda s: s.remove_op(MemberId(member_id), now=self._now()))

    # -- moderation (signed, auditable by every member) --------------------------------

    async def report(self, message_id: MessageId, reason: str = "") -> MessageId:
        """Report a message to the room's moderators, owners and supporters; return its id.

        The report carries the message's original signed envelope as evidence, is
        signed by our room key (``CTX_REPORT``) and sealed to each recipient's
        X25519 key from the verified log: nobody else, the relay included, can
        read it. Other members can see that a report went to those people.

        Raises:
            KeyError: We hold no such message.
            ReportError: ``report.no_recipients``, ``report.no_evidence``.
        """
        return await self._driver.report(MessageId(message_id), reason)

    async def mute(self, member_id: MemberId, reason: str = "") -> MessageId:
        """Mute a member (moderators and owners who outrank them): a signed ``moderation``.

        Every client hides the member's posts from then on, and the member's own
        SDK refuses to post (:class:`PostingMuted`) until :meth:`unmute`.
        """
        body = ModerationBody(action="mute", member=MemberId(member_id), reason=reason)
        return await self._driver.send(body)

    async def unmute(self, member_id: MemberId, reason: str = "") -> MessageId:
        """Lift a mute."""
        body = ModerationBody(action="unmute", member=MemberId(member_id), reason=reason)
        return await self._driver.send(body)

    async def ban(self, member_id: MemberId, reason: str = "") -> None:
        """Ban a key (moderators over lower roles, owners over anyone): a ``room.ban``.

        The ban is a signed log operation that the relay and every client enforce:
        the key is removed with a new epoch it never sees (if it is a member), and
        can be neither added nor join again while banned, whatever invite it holds.
        A key that is not a member can be banned too. The ``reason`` never goes into
        the log, which the relay reads: it is sent first as an encrypted
        ``moderation`` message, and members see it with the ban
        (:class:`MemberModerated`, :meth:`moderation_history`).

        Raises:
            LogError: ``log.invalid`` if the key is banned already; the relay's
                ``log.unauthorized`` if we may not ban them.
        """
        member = MemberId(member_id)
        if reason:
            await self._driver.send(ModerationBody(action="ban", member=member, reason=reason))
        await self._driver.op(lambda s: s.ban_op(member, now=self._now()))

    async def unban(self, member_id: MemberId, reason: str = "") -> None:
        """Lift a ban: a ``room.unban`` (the key needs a new invite or add to come back).

        Raises:
            LogError: ``log.invalid`` if the key is not banned.
        """
        member = MemberId(member_id)
        if reason:
            await self._driver.send(ModerationBody(action="unban", member=member, reason=reason))
        await self._driver.op(lambda s: s.unban_op(member, now=self._now()))

    @property
    def muted(self) -> frozenset[MemberId]:
        """Members currently muted (from signed moderation messages)."""
        return frozenset(self._state.muted)

    @property
    def banned(self) -> frozenset[MemberId]:
        """Keys the verified room log bans now (``room.ban``, not lifted)."""
        return frozenset(self._state.banned)

    def moderation_history(self) -> list[ModerationEntry]:
        """The room's moderation, oldest first, as this member can verify it.

        Removals and role changes come from the signed room log, complete for
        every member, and so do bans (with the reason, if this member could read the
        ``moderation`` message that gave it). Mutes and moderators' deletions come
        from signed messages, so a member sees those from their join on.
        """
        return self._state.moderation_history()

    def membership_history(self) -> list[MembershipEntry]:
        """Every arrival and departure in the room, oldest first, from the signed log.

        Complete for every member and the same on every device, so a front end can
        show who joined and left beside the messages after a restart too (the
        events that announced them are not stored). Removals, bans and role
        changes are in :meth:`moderation_history`.
        """
        return self._state.membership_history()

    async def leave(self) -> None:
        """Leave the room. The relay stops serving us at once; a remaining member rotates."""
        await self._driver.leave()

    @property
    def retention_days(self) -> int | None:
        """How many days the room keeps messages (disappearing messages); None: until deleted.

        From the verified log. The relay purges older messages (and moves its
        low-water mark, so nobody mistakes a purge for withheld messages), and
        this SDK drops them from the local store when it opens, after each sync
        or live batch, and every few minutes while open.
        """
        return self._state.policy.retention_days

    async def set_retention(self, days: int | None) -> None:
        """Change the retention (owners): a signed ``room.retention`` in the room log.

        Every member's SDK purges its local copies older than ``days`` as soon as
        it verifies the operation; the relay purges on its next retention pass.
        Shortening it cannot recall copies someone already saved outside Hearth.

        Raises:
            LogError: ``log.unauthorized`` unless we own the room, ``log.invalid``
                for ``days`` outside 1..36500.
        """
        await self._driver.op(lambda s: s.retention_op(days, now=self._now()))
        await self._driver.expire()

    async def set_role(self, member_id: MemberId, role: Role) -> None:
        """Give ``member_id`` the role ``role`` (owners; moderators for lower roles)."""
        await self._driver.op(lambda s: s.role_op(MemberId(member_id), role, now=self._now()))

    async def rotate(self) -> None:
        """Commit a new epoch for the current members now (forward secrecy on demand)."""
        await self._driver.op(lambda s: s.rotate_op(now=self._now()))

    # -- push -----------------------------------------------------------------------

    async def register_push(self, endpoint_url: str, *, web_push: bool = False) -> None:
        """Have the relay wake this device through ``endpoint_url`` when the room has news.

        The relay POSTs a fixed, content-free body (no room, no sender, no text) to
        the URL when an event lands here and no stream of our key is connected; on
        it, call :meth:`HearthClient.sync`. Registering again replaces the URL.
        Use a separate UnifiedPush instance (endpoint) per room: one URL shared by
        several rooms would let the relay link our keys in them. ``web_push``: the URL
        is a browser's Push API subscription (made with
        :meth:`HearthClient.web_push_key`), which the relay sends an empty body signed
        with its VAPID key.

        Raises:
            RelayError: ``push.disabled`` (the relay sends no push),
                ``push.endpoint_invalid``, ``push.endpoint_forbidden`` (the relay's
                operator does not allow that host or address), ``push.too_many``.
            RelayUnavailable: The relay cannot be reached.
        """
        await self._driver.register_push(endpoint_url, web_push=web_push)

    async def unregister_push(self) -> None:
        """Stop push for this room on this device (no error if none was registered)."""
        await self._driver.unregister_push()

    # -- community programs: 1:1 support from the program's supporters ------------------

    async def request_support(self, text: str) -> SupportRequest:
        """Ask the program's supporters for a 1:1 chat; return the request and its place.

        ``text`` (what you would like to talk about) is signed by our room key
        (``CTX_SUPPORT``) and sealed to the X25519 key, from the verified log, of
        every member whose role is ``supporter`` (and to us): other members and
        the relay cannot read it. Every member sees that we asked, and the
        queue. When a supporter claims it, the SDK joins the buddy chat the
        claim names by itself (:class:`SupportClaimed`, :meth:`buddy_chat`).

        Returns:
            The request, ``waiting`` with its :attr:`SupportRequest.position`
            once the relay has it (``sending`` while it waits in the outbox).

        Raises:
            SupportError: ``support.not_program``, ``support.no_supporters``,
                ``support.too_many_supporters``.
        """
        return await _programs.request_support(self._host, self._id, text)

    async def withdraw_request(self, request_id: MessageId) -> None:
        """Take back our request while nobody has claimed it.

        Raises:
            SupportError: ``support.not_requester``, ``support.unknown_request``,
                ``support.withdrawn``, ``support.taken`` (a supporter claimed it
                first in room order: the buddy chat opens all the same).
        """
        await _programs.withdraw(self._host, self._id, MessageId(request_id))

    @property
    def support_requests(self) -> list[SupportRequest]:
        """Every support request we can see here, in room order (any status).

        Requests from keys this identity blocked are left out (positions stay
        those of the whole queue, which every member computes alike).
        """
        blocked = self._host.blocked
        return [r for r in self._state.support.requests() if r.requester not in blocked]

    @property
    def support_queue(self) -> list[SupportRequest]:
        """The waiting requests, next in line first (position 1, 2, ...)."""
        return [r for r in self.support_requests if r.status == "waiting"]

    def support_request(self, request_id: MessageId) -> SupportRequest:
        """One request by id.

        Raises:
            SupportError: ``support.unknown_request``.
        """
        book = self._state.support
        if not book.has(MessageId(request_id)):
            raise SupportError(
                f"no support request {request_id} here", code="support.unknown_request"
            )
        return book.view(MessageId(request_id))

    def queue_position(self, request_id: MessageId) -> int | None:
        """1 if the request is next in line, 2 after that ...; None if it no longer waits.

        Raises:
            SupportError: ``support.unknown_request``.
        """
        return self.support_request(request_id).position

    async def claim(self, request_id: MessageId) -> Room:
        """Take a waiting request as a supporter; return the buddy chat it opens.

        Opens a buddy chat, sends the claim (with the chat's invite sealed to
        the requester alone), and reads the room back until the claim is in
        room order: if another supporter's claim came first, it leaves the chat
        it opened and raises ``support.taken``.

        Raises:
            SupportError: ``support.not_supporter``, ``support.away``,
                ``support.at_capacity``, ``support.unknown_request``,
                ``support.taken``, ``support.withdrawn``, ``support.own_request``,
                ``support.requester_gone``, ``support.not_program``.
            RelayUnavailable: The claim waits in the outbox; :class:`SupportClaimed`
                tells the outcome once it is sent.
        """
        return Room(self._host, await _programs.claim(self._host, self._id, MessageId(request_id)))

    async def buddy_chat(self, request_id: MessageId) -> Room:
        """The buddy chat a claim of this request opened (requester or claiming supporter).

        For the requester it joins the chat first if the SDK's own join has not
        happened yet (it was offline, say).

        Raises:
            SupportError: ``support.no_buddy_chat`` (not claimed, or not ours),
                ``support.unknown_request``, ``support.bad_invite``.
        """
        buddy = await _programs.buddy_chat(self._host, self._id, MessageId(request_id))
        return Room(self._host, buddy)

    async def set_availability(
        self, available: bool, *, max_open: int | Literal["keep"] | None = "keep"
    ) -> None:
        """As a supporter, say whether we take 1:1 chats now, and cap how many stay open.

        Every member sees it (:attr:`supporters`). Away, or carrying ``max_open``
        open buddy chats from claims, :meth:`claim` refuses. A buddy chat stays
        open until either buddy leaves it.

        Args:
            available: True to take chats, False for away.
            max_open: At most this many open buddy chats (1 to 1000), None for
                no cap, ``"keep"`` (default) for the cap we set before.

        Raises:
            SupportError: ``support.not_supporter``, ``support.bad_cap``.
        """
        await _programs.set_availability(self._host, self._id, available, max_open)

    @property
    def supporters(self) -> list[SupporterInfo]:
        """The program's supporters and the availability each published (away if none)."""
        return self._state.support.supporters(self.members)

    @property
    def open_support_chats(self) -> int:
        """How many buddy chats from our claims are open (what ``max_open`` caps)."""
        return _programs.open_chats(self._host, self._state)

    # -- a program's path for a member at imminent risk ---------------------------------

    @property
    def risk_plan(self) -> RiskPlanBody | None:
        """The program's path for a member at imminent risk (None if it published none).

        Its ``text`` says what supporters do and what the person can do; its
        ``lines`` are the help lines the program chose, each with its regions.
        """
        return self._state.risk_plan

    async def set_risk_plan(self, text: str, lines: Iterable[CrisisResource] = ()) -> None:
        """Publish the program's risk plan (its moderators and owners), encrypted.

        Newer replaces older; members who join later receive it again from the
        owner or moderator who invited them (like the profile and rules).

        Raises:
            SupportError: ``support.not_program``, ``support.not_moderator``,
                ``support.bad_plan`` (more than 50 lines).
        """
        await _risk.set_risk_plan(self._host, self._id, text, lines)

    async def raise_risk_alert(self, note: str = "") -> RiskAlert:
        """As the supporter in this buddy chat, act on a fear that the person is at imminent risk.

        Call it on the buddy chat a claim opened (on the device that claimed). It
        first sends into this chat the program's risk plan (``support.risk``), so
        both buddies' devices raise :class:`RiskHelpShown` with its help lines,
        then sends into the program room a ``support.alert`` with ``note``,
        sealed to the program's owners and moderators alone, whose devices raise
        :class:`RiskAlertReceived`. Without a plan the alert still goes out and
        each device shows its own built-in lines (:attr:`RiskAlert.planned` is
        False).

        Raises:
            SupportError: ``support.not_buddy_chat`` (not the chat of a request we
                claimed), ``support.not_supporter`` (no longer a supporter,
                moderator or owner of the program), ``support.no_moderators``
                (the help was shown, but nobody but us moderates the program).
            RoomInactive: We left the chat or the program.
        """
        return await _risk.raise_risk_alert(self._host, self._id, note)

    # -- alarms ---------------------------------------------------------------------

    async def acknowledge_alarms(self, alarm_ids: Iterable[int] | None = None) -> list[int]:
        """Mark security alarms as seen by the person; the room may send again.

        Call this only after showing the alarm to the person (and, for a fork,
        after comparing safety numbers out of band). An alarm that froze the room
        (a log operation that failed verification) lets the next sync fetch the
        refused events again; if the relay still serves them, a new alarm follows.

        Args:
            alarm_ids: Which alarms (``SecurityAlarm.alarm_id``); all if None.

        Returns:
            The ids acknowledged.
        """
        return await self._driver.acknowledge(alarm_ids)
