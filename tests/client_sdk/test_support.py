"""The support queue's folding rules, without sockets (``client_sdk/_support.py``).

Every member feeds the same messages in room order to a :class:`SupportBook`
and must reach the same queue and the same winner of every claim, whatever
they can read.
"""

from __future__ import annotations

import msgspec
import pytest

from client_sdk import Identity, SupportRequested
from client_sdk._support import (
    SupportBook,
    SupportSnapshot,
    open_invite,
    open_request,
    seal_invite,
    seal_request,
    seal_reseal,
)
from protocol.encoding import canonical, from_msgpack
from protocol.errors import CryptoError, EnvelopeError
from protocol.ids import MemberId, MessageId, RoomId, new_message_id
from protocol.messages import (
    SupportClaimBody,
    SupporterStatusBody,
    SupportInvite,
    SupportQueueEntry,
    SupportRequestBody,
    SupportWithdrawBody,
)
from protocol.ops import Role
from tests.protocol.builders import some_room_id

ROOM = some_room_id()
ANA, BEN, CLEO, SAM, SUE = (Identity.generate().room_keys(ROOM) for _ in range(5))
ROLES: dict[MemberId, Role] = {
    ANA.member: "member",
    BEN.member: "member",
    CLEO.member: "owner",
    SAM.member: "supporter",
    SUE.member: "supporter",
}


def books() -> list[SupportBook]:
    return [SupportBook(ROOM, k.member) for k in (ANA, BEN, CLEO, SAM, SUE)]


def feed_request(
    all_books: list[SupportBook], rid: MessageId, requester: MemberId, seq: int
) -> None:
    for book in all_books:
        readable = book.me in {requester, SAM.member, SUE.member}
        book.request(
            message_id=rid,
            requester=requester,
            seq=seq,
            sent_at=seq,
            text="help" if readable else None,
        )


def feed_claim(all_books: list[SupportBook], rid: MessageId, supporter: MemberId) -> None:
    for book in all_books:
        book.claim(supporter=supporter, role=ROLES[supporter], request_id=rid, invite=None)


def test_every_member_folds_the_same_queue_and_the_first_claim_wins() -> None:
    all_books = books()
    first, second, third = new_message_id(), new_message_id(), new_message_id()
    feed_request(all_books, first, ANA.member, 10)
    feed_request(all_books, second, BEN.member, 12)
    feed_request(all_books, third, ANA.member, 15)
    assert {tuple(b.queue()) for b in all_books} == {(first, second, third)}
    assert [b.view(second).position for b in all_books] == [2] * 5
    assert [b.view(first).text for b in all_books] == ["help", None, None, "help", "help"]

    # Sam's claim comes first in room order, Sue's second: Sam wins everywhere.
    all_books[3].pending[second] = RoomId(some_room_id())
    all_books[4].pending[second] = lost_room = RoomId(some_room_id())
    feed_claim(all_books, second, SAM.member)
    feed_claim(all_books, second, SUE.member)
    for book in all_books:
        view = book.view(second)
        assert (view.status, view.supporter, view.position) == ("claimed", SAM.member, None)
        assert book.queue() == [first, third]
        assert book.position(third) == 2
    assert all_books[3].claimed_by_me() != []
    assert all_books[4].claimed_by_me() == []
    assert all_books[4].lost == {second: lost_room}
    assert all_books[4].pending == {}


def test_claims_and_withdrawals_that_do_not_count_change_nothing() -> None:
    all_books = books()
    rid = new_message_id()
    feed_request(all_books, rid, ANA.member, 3)
    for book in all_books:
        # Not a supporter (owner, member), the requester themself, an unknown request.
        assert book.claim(supporter=CLEO.member, role="owner", request_id=rid, invite=None) is None
        assert book.claim(supporter=BEN.member, role="member", request_id=rid, invite=None) is None
        assert (
            book.claim(supporter=ANA.member, role="supporter", request_id=rid, invite=None) is None
        )
        unknown = new_message_id()
        assert (
            book.claim(supporter=SAM.member, role="supporter", request_id=unknown, invite=None)
            is None
        )
        assert book.withdraw(sender=BEN.member, request_id=rid) is None
        assert book.view(rid).status == "waiting"
        assert (
            book.status(member=BEN.member, role="member", body=SupporterStatusBody(available=True))
            == []
        )
    # A withdrawal by the requester counts; a later claim does not.
    for book in all_books:
        assert book.withdraw(sender=ANA.member, request_id=rid) is not None
        assert (
            book.claim(supporter=SAM.member, role="supporter", request_id=rid, invite=None) is None
        )
        assert book.view(rid).status == "withdrawn"
        assert book.queue() == []


def test_availability_is_away_until_said_and_the_newest_status_wins() -> None:
    book = SupportBook(ROOM, ANA.member)
    assert [(s.member, s.available) for s in book.supporters(ROLES)] == sorted(
        [(SAM.member, False), (SUE.member, False)]
    )
    assert book.status(
        member=SAM.member, role="supporter", body=SupporterStatusBody(available=True, max_open=2)
    )
    # Re-sent for a newcomer: no second event.
    assert (
        book.status(
            member=SAM.member,
            role="supporter",
            body=SupporterStatusBody(available=True, max_open=2),
        )
        == []
    )
    assert book.status(
        member=SAM.member, role="supporter", body=SupporterStatusBody(available=False)
    )
    info = {s.member: (s.available, s.max_open) for s in book.supporters(ROLES)}
    assert info == {SAM.member: (False, None), SUE.member: (False, None)}
    # A supporter demoted to member no longer shows.
    assert [s.member for s in book.supporters({**ROLES, SAM.member: "member"})] == [SUE.member]


def test_the_book_survives_a_snapshot() -> None:
    book = SupportBook(ROOM, SAM.member)
    rid = new_message_id()
    book.request(message_id=rid, requester=ANA.member, seq=4, sent_at=1, text="help")
    book.pending[rid] = RoomId(some_room_id())
    book.note_status(SupporterStatusBody(available=True, max_open=3))
    snapshot = from_msgpack(canonical(book.snapshot()), SupportSnapshot)
    again = SupportBook.restore(ROOM, SAM.member, snapshot)
    assert again.view(rid) == book.view(rid)
    assert again.pending == book.pending
    assert again.my_status() == SupporterStatusBody(available=True, max_open=3)


def test_a_request_opens_only_for_its_supporters_and_its_requester() -> None:
    body = seal_request(ANA, text="I relapsed", supporters={SAM.member: SAM.box_public}, at=1)
    wire = msgspec.msgpack.decode(canonical(body))
    assert next(iter(wire.items())) == ("type", "support.request")
    assert open_request(SAM, ANA.member, body) == "I relapsed"
    assert open_request(ANA, ANA.member, body) == "I relapsed"
    assert open_request(BEN, ANA.member, body) is None
    assert b"relapsed" not in canonical(body)
    # Copied into someone else's message, it names another requester: refused.
    with pytest.raises(EnvelopeError):
        open_request(SAM, BEN.member, body)
    # A seal addressed to Sam but made for another key does not open.
    swapped = msgspec.structs.replace(
        body,
        seals=[
            msgspec.structs.replace(s, member=SAM.member)
            for s in body.seals
            if s.member == ANA.member
        ],
    )
    with pytest.raises(CryptoError):
        open_request(SAM, ANA.member, swapped)


def test_a_claims_invite_opens_only_for_the_requester_and_only_in_its_claim() -> None:
    rid = new_message_id()
    invite = SupportInvite(
        room=ROOM,
        request=rid,
        supporter=SAM.member,
        buddy_room=some_room_id(),
        buddy_owner=SAM.member,
        link="http://relay/join/x#y",
    )
    body = SupportClaimBody(request=rid, invite=seal_invite(ANA.box_public, invite))
    assert open_invite(ANA, SAM.member, body) == invite
    with pytest.raises(CryptoError):
        open_invite(BEN, SAM.member, body)
    with pytest.raises(EnvelopeError):  # Sue re-sends Sam's sealed invite as hers
        open_invite(ANA, SUE.member, body)
    with pytest.raises(EnvelopeError):  # or for another request
        open_invite(ANA, SAM.member, msgspec.structs.replace(body, request=new_message_id()))


@pytest.mark.parametrize(
    ("body", "tag"),
    [
        (SupportClaimBody(request="A" * 22, invite=b""), "support.claim"),
        (SupportWithdrawBody(request="A" * 22), "support.withdraw"),
        (SupporterStatusBody(available=True), "supporter.status"),
        (SupportRequestBody(seals=[], ciphertext=b""), "support.request"),
    ],
)
def test_the_tags_are_stable(body: object, tag: str) -> None:
    decoded = msgspec.msgpack.decode(canonical(body))
    assert decoded["type"] == tag


def test_a_newcomer_places_the_requests_it_could_not_read_from_a_supporters_snapshot() -> None:
    newcomer = SupportBook(ROOM, BEN.member)
    claimed, withdrawn, older, oldest = (new_message_id() for _ in range(4))
    # Read after the join, about requests from before it (never seen here).
    assert (
        newcomer.claim(supporter=SUE.member, role="supporter", request_id=claimed, invite=None)
        is None
    )
    assert newcomer.withdraw(sender=ANA.member, request_id=withdrawn) is None
    mine = new_message_id()
    newcomer.request(message_id=mine, requester=BEN.member, seq=50, sent_at=9, text="me")
    assert newcomer.position(mine) == 1

    # A member's "snapshot" counts for nothing.
    fake = SupportQueueEntry(request=new_message_id(), requester=ANA.member)
    assert (
        newcomer.status(
            member=ANA.member, role="member", body=SupporterStatusBody(available=True, queue=[fake])
        )
        == []
    )
    snapshot = [
        SupportQueueEntry(request=oldest, requester=CLEO.member),
        SupportQueueEntry(request=claimed, requester=ANA.member),
        SupportQueueEntry(request=withdrawn, requester=ANA.member),
        SupportQueueEntry(request=older, requester=ANA.member),
        SupportQueueEntry(request=mine, requester=BEN.member),
    ]
    events = newcomer.status(
        member=SAM.member,
        role="supporter",
        body=SupporterStatusBody(available=True, queue=snapshot),
    )
    assert [e.request.id for e in events if isinstance(e, SupportRequested)] == [oldest, older]
    assert newcomer.queue() == [oldest, older, mine]
    assert newcomer.position(mine) == 3
    assert newcomer.view(oldest).text is None
    assert newcomer.view(oldest).sent_at is None

    # Only the first snapshot counts; later claims apply as usual.
    later = SupportQueueEntry(request=new_message_id(), requester=ANA.member)
    newcomer.status(
        member=SUE.member, role="supporter", body=SupporterStatusBody(available=True, queue=[later])
    )
    assert newcomer.queue() == [oldest, older, mine]
    newcomer.claim(supporter=SUE.member, role="supporter", request_id=oldest, invite=None)
    assert newcomer.position(mine) == 2
    again = SupportBook.restore(
        ROOM, BEN.member, from_msgpack(canonical(newcomer.snapshot()), SupportSnapshot)
    )
    assert again.queue() == [older, mine]
    assert again.adopted


def test_a_member_who_saw_everything_gains_nothing_from_a_snapshot() -> None:
    old = SupportBook(ROOM, ANA.member)
    rid = new_message_id()
    old.request(message_id=rid, requester=ANA.member, seq=3, sent_at=1, text="x")
    old.claim(supporter=SAM.member, role="supporter", request_id=rid, invite=None)
    stale = [SupportQueueEntry(request=rid, requester=ANA.member)]
    old.status(
        member=SUE.member, role="supporter", body=SupporterStatusBody(available=False, queue=stale)
    )
    assert old.queue() == []
    assert old.view(rid).status == "claimed"


def test_a_reseal_lets_a_later_supporter_read_and_changes_nothing_else() -> None:
    mine = SupportBook(ROOM, ANA.member)
    rid = new_message_id()
    mine.request(
        message_id=rid, requester=ANA.member, seq=1, sent_at=1, text="help", readers=[SAM.member]
    )
    assert mine.reseal_due([SAM.member]) == []
    assert mine.reseal_due([SAM.member, SUE.member]) == [(rid, "help", [SUE.member])]
    assert mine.reseal_due([SAM.member, SUE.member]) == []  # one reseal per newcomer

    body = seal_reseal(ANA, request=rid, text="help", supporters={SUE.member: SUE.box_public}, at=2)
    assert msgspec.msgpack.decode(canonical(body))["type"] == "support.reseal"
    assert open_request(SUE, ANA.member, body) == "help"
    assert open_request(SAM, ANA.member, body) is None
    assert open_request(ANA, ANA.member, body) is None  # not sealed to the requester again

    sue = SupportBook(ROOM, SUE.member)
    sue.request(message_id=rid, requester=ANA.member, seq=1, sent_at=1, text=None)
    assert sue.resealed(sender=BEN.member, request_id=rid, text="forged") is None
    assert sue.resealed(sender=ANA.member, request_id=new_message_id(), text="help") is None
    event = sue.resealed(sender=ANA.member, request_id=rid, text="help")
    assert event is not None
    assert (event.request.text, event.request.position) == ("help", 1)
    assert sue.resealed(sender=ANA.member, request_id=rid, text="changed") is None
    assert sue.view(rid).text == "help"


def test_every_waiting_request_is_resealed_when_the_supporters_come_as_a_generator() -> None:
    # The room core passes the supporters as a generator expression: a reseal that
    # walked it once per request resealed only the first waiting request.
    mine = SupportBook(ROOM, ANA.member)
    first, second = new_message_id(), new_message_id()
    for seq, rid in enumerate((first, second), start=1):
        mine.request(
            message_id=rid,
            requester=ANA.member,
            seq=seq,
            sent_at=seq,
            text="help",
            readers=[SAM.member],
        )
    due = mine.reseal_due(m for m in (SAM.member, SUE.member))
    assert due == [(first, "help", [SUE.member]), (second, "help", [SUE.member])]


def test_a_requester_who_is_gone_no_longer_waits() -> None:
    book = SupportBook(ROOM, SAM.member)
    first, second, third = new_message_id(), new_message_id(), new_message_id()
    book.request(message_id=first, requester=ANA.member, seq=1, sent_at=1, text=None)
    book.request(message_id=second, requester=BEN.member, seq=2, sent_at=1, text=None)
    book.request(message_id=third, requester=ANA.member, seq=3, sent_at=1, text=None)
    book.claim(supporter=SUE.member, role="supporter", request_id=third, invite=None)
    assert [e.request_id for e in book.member_gone(ANA.member)] == [first]
    assert book.queue() == [second]
    assert book.view(third).status == "claimed"
