"""A program room's support queue as plain state: requests, claims, availability.

:class:`SupportBook` folds the verified ``support.*`` and ``supporter.status``
messages of one program room, in room order (the relay's ``seq``), into the
queue every member computes alike:

- a ``support.request`` enters the queue at its place in room order, whether or
  not this member can read its text (only the supporters and the requester
  can), so every member agrees on the order;
- a ``support.claim`` counts only if its sender's role is ``supporter`` in the
  verified log when it is read, the sender is not the requester, and the
  request is still waiting; so of two claims of one request the first in room
  order wins on every client, and any claim from someone else changes nothing;
- a ``support.withdraw`` counts only from the requester, while it waits;
- a ``support.reseal`` from the requester of a waiting request lets supporters
  who arrived after it read it; it changes nothing else;
- a ``supporter.status`` counts only from a supporter; the newest wins. The
  first one carrying a ``queue`` snapshot that this member reads (supporters
  send one when someone joins) places the waiting requests it lists, which a
  newcomer could not read, ahead of every request it reads itself.

A request's position is its index among waiting requests, in room order. The
book also remembers this member's claims in flight (``pending``: request to the
buddy room we opened for it) so our own claim, echoed back in room order,
tells whether we won. The sealing and opening of the directed parts (the
request's text, the claim's invite) are the functions below; the driver
(``_programs.py``) does the I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Final, final

import msgspec

from client_sdk.events import (
    SupportClaimed,
    SupporterStatusChanged,
    SupportRequested,
    SupportWithdrawn,
)
from client_sdk.support import RequestStatus, SupporterInfo, SupportRequest
from protocol import crypto
from protocol.directed import open_directed, seal_directed
from protocol.encoding import canonical, from_msgpack
from protocol.errors import EnvelopeError
from protocol.ids import MemberId, MessageId, RoomId
from protocol.keys import RoomKeys
from protocol.messages import (
    ReportSeal,
    SupportClaimBody,
    SupporterStatusBody,
    SupportInvite,
    SupportQueueEntry,
    SupportRequestBody,
    SupportRequestContent,
    SupportResealBody,
)
from protocol.ops import Role

__all__ = [
    "SupportBook",
    "SupportSnapshot",
    "open_invite",
    "open_request",
    "open_request_content",
    "seal_invite",
    "seal_request",
    "seal_reseal",
]

_MAX_MS: Final = 253_402_300_799_999


class _Request(msgspec.Struct, kw_only=True):
    id: str
    requester: str
    seq: int
    sent_at: int | None
    text: str | None
    status: str = "waiting"
    supporter: str | None = None
    buddy_room: str | None = None
    buddy_owner: str | None = None
    link: str | None = None
    """The buddy chat's invite link: only in the requester's own book."""
    readers: list[str] | None = None
    """The supporters our own request is sealed to (only in the requester's book)."""


class _Status(msgspec.Struct, frozen=True, kw_only=True):
    available: bool
    max_open: int | None


class SupportSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """The persisted form of a :class:`SupportBook` (inside the room's snapshot)."""

    requests: list[_Request] = []
    statuses: dict[str, _Status] = {}
    pending: dict[str, str] = {}
    lost: dict[str, str] = {}
    adopted: bool = False
    settled: dict[str, str] = {}


@final
class SupportBook:
    """One program room's queue as this member sees it. See the module docstring."""

    def __init__(self, room: RoomId, me: MemberId) -> None:
        self.room = room
        self.me = me
        self._requests: dict[MessageId, _Request] = {}
        self._statuses: dict[MemberId, _Status] = {}
        self.pending: dict[MessageId, RoomId] = {}
        """Our claims sent but not yet read back in room order: request to buddy room."""
        self.lost: dict[MessageId, RoomId] = {}
        """Our claims another supporter beat: request to the buddy room to abandon."""
        self.adopted = False
        """A supporter's queue snapshot placed the requests from before our join."""
        self._settled: dict[MessageId, str] = {}
        """Until then: requests we never saw that a supporter claimed
        (``claim:{member}``) or a member withdrew (``withdraw:{member}``), so a
        snapshot sent before that cannot put them back in the queue."""

    # -- persistence ------------------------------------------------------------------

    @classmethod
    def restore(cls, room: RoomId, me: MemberId, snapshot: SupportSnapshot) -> SupportBook:
        book = cls(room, me)
        book._requests = {MessageId(r.id): msgspec.structs.replace(r) for r in snapshot.requests}
        book._statuses = {MemberId(m): s for m, s in snapshot.statuses.items()}
        book.pending = {MessageId(k): RoomId(v) for k, v in snapshot.pending.items()}
        book.lost = {MessageId(k): RoomId(v) for k, v in snapshot.lost.items()}
        book.adopted = snapshot.adopted
        book._settled = {MessageId(k): v for k, v in snapshot.settled.items()}
        return book

    def snapshot(self) -> SupportSnapshot:
        return SupportSnapshot(
            requests=[msgspec.structs.replace(r) for r in self._requests.values()],
            statuses={str(m): s for m, s in self._statuses.items()},
            pending={str(k): str(v) for k, v in self.pending.items()},
            lost={str(k): str(v) for k, v in self.lost.items()},
            adopted=self.adopted,
            settled={str(k): v for k, v in self._settled.items()},
        )

    @property
    def empty(self) -> bool:
        """True if nothing was folded or is in flight (every room that is not a program)."""
        return not (self._requests or self._statuses or self.pending or self.lost or self.adopted)

    # -- folding, in room order ---------------------------------------------------------

    def request(
        self,
        *,
        message_id: MessageId,
        requester: MemberId,
        seq: int,
        sent_at: int,
        text: str | None,
        readers: list[MemberId] | None = None,
    ) -> SupportRequested | None:
        """A ``support.request`` read in room order (``text`` None if not ours to read).

        ``readers``: for our own request, the supporters it is sealed to.
        """
        if message_id in self._requests:
            return None
        self._requests[message_id] = _Request(
            id=message_id,
            requester=requester,
            seq=seq,
            sent_at=sent_at,
            text=text,
            readers=list(readers) if readers is not None else None,
        )
        return SupportRequested(room_id=self.room, request=self.view(message_id))

    def claim(
        self,
        *,
        supporter: MemberId,
        role: Role | None,
        request_id: MessageId,
        invite: SupportInvite | None,
    ) -> SupportClaimed | None:
        """A ``support.claim`` read in room order; None if it does not count.

        ``invite`` is the opened buddy-chat invite if we are the requester (the
        caller checked it names this claim and its sender).
        """
        request = self._requests.get(request_id)
        if request is None and role == "supporter" and not self.adopted:
            self._settled.setdefault(request_id, f"claim:{supporter}")
        if (
            request is None
            or role != "supporter"
            or request.status != "waiting"
            or supporter == request.requester
        ):
            if supporter == self.me and request_id in self.pending:
                self.lost[request_id] = self.pending.pop(request_id)
            return None
        request.status = "claimed"
        request.supporter = supporter
        if supporter == self.me and request_id in self.pending:
            request.buddy_room = self.pending.pop(request_id)
        elif request.requester == self.me and invite is not None:
            request.buddy_room = invite.buddy_room
            request.buddy_owner = invite.buddy_owner
            request.link = invite.link
        return SupportClaimed(
            room_id=self.room,
            request_id=request_id,
            requester=MemberId(request.requester),
            supporter=supporter,
            buddy_room_id=RoomId(request.buddy_room) if request.buddy_room else None,
        )

    def member_gone(self, member: MemberId) -> list[SupportWithdrawn]:
        """``member`` left the program or was removed: their requests no longer wait."""
        gone = [
            r for r in self._requests.values() if r.requester == member and r.status == "waiting"
        ]
        for r in gone:
            r.status = "withdrawn"
        return [
            SupportWithdrawn(room_id=self.room, request_id=MessageId(r.id), requester=member)
            for r in gone
        ]

    def resealed(
        self, *, sender: MemberId, request_id: MessageId, text: str | None
    ) -> SupportRequested | None:
        """A ``support.reseal`` read in room order: a request we could not read, now can."""
        request = self._requests.get(request_id)
        if (
            request is None
            or request.requester != sender
            or request.status != "waiting"
            or text is None
            or request.text is not None
        ):
            return None
        request.text = text
        return SupportRequested(room_id=self.room, request=self.view(request_id))

    def reseal_due(
        self, supporters: Iterable[MemberId]
    ) -> list[tuple[MessageId, str, list[MemberId]]]:
        """Our waiting requests that some current supporter cannot read yet.

        Returns (request, text, supporters to seal to) and counts them as sealed,
        so one change of supporters leads to one reseal.
        """
        supporters = list(supporters)  # walked once per request: a generator would run dry
        due = []
        for r in self._requests.values():
            if r.requester != self.me or r.status != "waiting" or r.text is None:
                continue
            if r.readers is None:
                continue
            missing = sorted(m for m in supporters if m not in r.readers and m != self.me)
            if missing:
                r.readers += missing
                due.append((MessageId(r.id), r.text, missing))
        return due

    def withdraw(self, *, sender: MemberId, request_id: MessageId) -> SupportWithdrawn | None:
        """A ``support.withdraw`` read in room order; None if it does not count."""
        request = self._requests.get(request_id)
        if request is None and not self.adopted:
            self._settled.setdefault(request_id, f"withdraw:{sender}")
        if request is None or request.requester != sender or request.status != "waiting":
            return None
        request.status = "withdrawn"
        return SupportWithdrawn(room_id=self.room, request_id=request_id, requester=sender)

    def status(
        self, *, member: MemberId, role: Role | None, body: SupporterStatusBody
    ) -> list[SupporterStatusChanged | SupportRequested]:
        """A ``supporter.status`` read in room order; no events if it does not count."""
        if role != "supporter":
            return []
        events: list[SupporterStatusChanged | SupportRequested] = []
        if body.queue is not None and not self.adopted:
            self.adopted = True
            unknown = [
                e
                for e in body.queue
                if e.request not in self._requests and not self._was_settled(e)
            ]
            self._settled.clear()
            for i, entry in enumerate(unknown):
                # Before anything we read: negative positions in room order.
                self._requests[entry.request] = _Request(
                    id=entry.request,
                    requester=entry.requester,
                    seq=i - len(unknown),
                    sent_at=None,
                    text=None,
                )
            events += [
                SupportRequested(room_id=self.room, request=self.view(e.request)) for e in unknown
            ]
        new = _Status(available=body.available, max_open=body.max_open)
        if self._statuses.get(member) != new:  # a re-sent status changes nothing here
            self._statuses[member] = new
            events.append(
                SupporterStatusChanged(
                    room_id=self.room,
                    member=member,
                    available=body.available,
                    max_open=body.max_open,
                )
            )
        return events

    def _was_settled(self, entry: SupportQueueEntry) -> bool:
        """A claim or withdrawal of ``entry`` that would have counted came before."""
        what = self._settled.get(entry.request)
        if what is None:
            return False
        kind, member = what.split(":", 1)
        return (kind == "claim") == (member != entry.requester)

    # -- views ------------------------------------------------------------------------

    def requester_of(self, request_id: MessageId) -> MemberId | None:
        request = self._requests.get(request_id)
        return MemberId(request.requester) if request else None

    def queue(self) -> list[MessageId]:
        """Waiting requests in room order."""
        waiting = [r for r in self._requests.values() if r.status == "waiting"]
        return [MessageId(r.id) for r in sorted(waiting, key=lambda r: r.seq)]

    def position(self, request_id: MessageId) -> int | None:
        queue = self.queue()
        return queue.index(request_id) + 1 if request_id in queue else None

    def has(self, request_id: MessageId) -> bool:
        return request_id in self._requests

    def view(self, request_id: MessageId) -> SupportRequest:
        """The app's view of one request.

        Raises:
            KeyError: No such request in this room (as far as we can see).
        """
        r = self._requests[request_id]
        status: RequestStatus = r.status  # type: ignore[assignment]  # written from one
        return SupportRequest(
            id=request_id,
            room_id=self.room,
            requester=MemberId(r.requester),
            text=r.text,
            status=status,
            position=self.position(request_id),
            supporter=MemberId(r.supporter) if r.supporter else None,
            buddy_room_id=RoomId(r.buddy_room) if r.buddy_room else None,
            sent_at=None
            if r.sent_at is None
            else datetime.fromtimestamp(min(max(r.sent_at, 0), _MAX_MS) / 1000, tz=UTC),
            mine=r.requester == self.me,
        )

    def requests(self) -> list[SupportRequest]:
        """Every request we can see, in room order."""
        ordered = sorted(self._requests.values(), key=lambda r: r.seq)
        return [self.view(MessageId(r.id)) for r in ordered]

    def invite(self, request_id: MessageId) -> tuple[str, RoomId, MemberId] | None:
        """The buddy chat's link, room and owner for our own claimed request."""
        r = self._requests.get(request_id)
        if r is None or r.link is None or r.buddy_room is None or r.buddy_owner is None:
            return None
        return r.link, RoomId(r.buddy_room), MemberId(r.buddy_owner)

    def claim_of(self, buddy_room: RoomId) -> SupportRequest | None:
        """The request we claimed (and won) whose buddy chat is ``buddy_room``, if any."""
        for r in self._requests.values():
            if r.supporter == self.me and r.buddy_room == buddy_room:
                return self.view(MessageId(r.id))
        return None

    def claimed_by_me(self) -> list[RoomId]:
        """The buddy rooms of requests we claimed (and won)."""
        return [
            RoomId(r.buddy_room)
            for r in self._requests.values()
            if r.supporter == self.me and r.buddy_room is not None
        ]

    def supporters(self, roles: Mapping[MemberId, Role]) -> list[SupporterInfo]:
        """Every current supporter with the availability they published (away if none)."""
        out = []
        for member, role in sorted(roles.items()):
            if role != "supporter":
                continue
            s = self._statuses.get(member)
            out.append(
                SupporterInfo(
                    member=member,
                    available=s.available if s else False,
                    max_open=s.max_open if s else None,
                )
            )
        return out

    def queue_snapshot(self) -> list[SupportQueueEntry]:
        """The waiting requests in room order, for a newcomer (``supporter.status.queue``)."""
        return [
            SupportQueueEntry(request=r, requester=MemberId(self._requests[r].requester))
            for r in self.queue()
        ]

    def my_status(self) -> SupporterStatusBody | None:
        s = self._statuses.get(self.me)
        return SupporterStatusBody(available=s.available, max_open=s.max_open) if s else None

    def note_status(self, body: SupporterStatusBody) -> None:
        """Apply our own status at once (the echo changes nothing)."""
        self._statuses[self.me] = _Status(available=body.available, max_open=body.max_open)


# -- the directed parts: sealed to chosen members' X25519 keys ----------------------------


def seal_request(
    keys: RoomKeys,
    *,
    text: str,
    supporters: Mapping[MemberId, bytes],
    at: int,
    rng: crypto.Rng = crypto.random_bytes,
) -> SupportRequestBody:
    """A ``support.request`` readable by ``supporters`` (member to X25519 key) and us."""
    also = {keys.member: keys.box_public}
    seals, ciphertext = _seal(keys, text=text, to=supporters, also=also, at=at, rng=rng)
    return SupportRequestBody(seals=seals, ciphertext=ciphertext)


def seal_reseal(
    keys: RoomKeys,
    *,
    request: MessageId,
    text: str,
    supporters: Mapping[MemberId, bytes],
    at: int,
    rng: crypto.Rng = crypto.random_bytes,
) -> SupportResealBody:
    """A ``support.reseal`` of our request ``request`` for ``supporters`` only."""
    seals, ciphertext = _seal(keys, text=text, to=supporters, also={}, at=at, rng=rng)
    return SupportResealBody(request=request, seals=seals, ciphertext=ciphertext)


def _seal(
    keys: RoomKeys,
    *,
    text: str,
    to: Mapping[MemberId, bytes],
    also: Mapping[MemberId, bytes],
    at: int,
    rng: crypto.Rng,
) -> tuple[list[ReportSeal], bytes]:
    content = SupportRequestContent(
        room=keys.room, requester=keys.member, text=text, recipients=sorted(to), at=at
    )
    readers = dict(sorted({**to, **also}.items()))
    return seal_directed(keys, content, readers, rng=rng)


def open_request(
    keys: RoomKeys, sender: MemberId, body: SupportRequestBody | SupportResealBody
) -> str | None:
    """The request's text if it is sealed to us (None if not ours to read)."""
    content = open_request_content(keys, sender, body)
    return content.text if content else None


def open_request_content(
    keys: RoomKeys, sender: MemberId, body: SupportRequestBody | SupportResealBody
) -> SupportRequestContent | None:
    """The signed content of a request (or reseal) sealed to us, None if not ours to read.

    Raises:
        CryptoError, DecodeError, EnvelopeError: Sealed to us but does not open,
            is not signed by its sender, or names another room or recipients.
    """
    return open_directed(keys, sender, body)


def seal_invite(requester_box: bytes, invite: SupportInvite) -> bytes:
    """A claim's ``invite``: ``crypto_box_seal`` of the invite to the requester."""
    return crypto.seal(requester_box, canonical(invite))


def open_invite(keys: RoomKeys, sender: MemberId, body: SupportClaimBody) -> SupportInvite:
    """Open the invite of a claim of our request, and check it belongs to this claim.

    Raises:
        CryptoError, DecodeError, EnvelopeError: It does not open, or names
            another room, request or supporter than the claim carrying it.
    """
    invite = from_msgpack(crypto.unseal(keys.box, body.invite), SupportInvite)
    if invite.room != keys.room or invite.request != body.request or invite.supporter != sender:
        raise EnvelopeError("support invite belongs to another claim", code="msg.bad_room")
    return invite
