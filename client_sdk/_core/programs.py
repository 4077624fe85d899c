"""A community program room's support queue, as the room core folds it.

Support messages (requests, reseals, claims, withdrawals, supporter statuses)
count only in a program room and only read forward, in room order: the sender's
role is the one the log had at that point of the event sequence
(``Ledger.seq_index``), not our current log, so every member decides alike. The
queue itself is ``client_sdk._support.SupportBook``; this module opens what is
sealed to us, raises ``bad_message`` for what does not open (a request still takes
its place in the queue), and asks the driver for the work a program needs
(``followups.py``): re-sending our status to a newcomer, resealing our waiting
request to supporters who arrived, joining the buddy chat a claim names, leaving
the one a lost claim opened.
"""

from __future__ import annotations

from typing import Final, final

from client_sdk._core.alarms import Alarms
from client_sdk._core.followups import Abandon, JoinBuddy, Reseal, Restatus
from client_sdk._core.ledger import Ledger
from client_sdk._core.step import Step
from client_sdk._support import SupportBook, open_invite, open_request, open_request_content
from client_sdk.events import Event
from protocol.errors import CryptoError, DecodeError, EnvelopeError
from protocol.ids import MemberId, MessageId
from protocol.keys import RoomKeys
from protocol.messages import (
    Body,
    Plaintext,
    SupportClaimBody,
    SupporterStatusBody,
    SupportInvite,
    SupportRequestBody,
    SupportResealBody,
    SupportWithdrawBody,
)
from protocol.ops import AddOp, BanOp, JoinOp, LeaveOp, RemoveOp, Role, RoleOp, SignedOp

__all__ = ["SUPPORT_BODIES", "Programs"]

SUPPORT_BODIES: Final = (
    SupportRequestBody,
    SupportResealBody,
    SupportClaimBody,
    SupportWithdrawBody,
    SupporterStatusBody,
)
"""The bodies of a program's support queue (read forward, in program rooms only)."""


@final
class Programs:
    """A program room's support queue and the work it asks for. See the module docstring."""

    def __init__(self, keys: RoomKeys, ledger: Ledger, alarms: Alarms) -> None:
        self.keys = keys
        self.ledger = ledger
        self.alarms = alarms
        self.book = SupportBook(keys.room, keys.member)
        """A program room's support queue (empty in other rooms)."""

    def _in_program(self) -> bool:
        return self.ledger.log.policy.kind == "program"

    def member_gone(self, step: Step, op: SignedOp) -> None:
        """A requester who left or was removed no longer waits (in room order)."""
        c = op.content
        gone = (
            c.body.member
            if isinstance(c.body, RemoveOp | BanOp)
            else c.author
            if isinstance(c.body, LeaveOp)
            else None
        )
        if gone is not None and self._in_program():
            step.items += self.book.member_gone(gone)

    def after_op(self, step: Step, body: object, *, active: bool) -> None:
        """What a new member or supporter asks of this member in a program room."""
        if isinstance(body, JoinOp | AddOp) and self.should_restatus(active=active):
            step.follow(Restatus())
        if isinstance(body, RoleOp) and body.role == "supporter":
            self._reseal(step, active=active)

    def _reseal(self, step: Step, *, active: bool) -> None:
        if not active or not self._in_program():
            return
        log = self.ledger.log
        due = self.book.reseal_due(m.id for m in log.members.values() if m.role == "supporter")
        for request, text, to in due:
            step.follow(Reseal(request, text, to))

    def should_restatus(self, *, active: bool) -> bool:
        # Newcomers cannot read earlier statuses and requests (they joined under a
        # new epoch): supporters tell them, with the queue as they see it.
        return (
            active
            and self._in_program()
            and self.ledger.log.role_of(self.keys.member) == "supporter"
            and (self.book.my_status() is not None or bool(self.book.queue()))
        )

    def note_sent(self, body: Body) -> None:
        """Our own supporter status, applied at once."""
        if not isinstance(body, SupporterStatusBody):
            return
        if self._in_program() and self.ledger.log.role_of(self.keys.member) == "supporter":
            self.book.note_status(body)

    def fold(
        self,
        step: Step,
        sender: MemberId,
        plaintext: Plaintext,
        message_id: MessageId,
        seq: int,
        *,
        active: bool,
    ) -> None:
        """Fold a support message, in room order (see ``_support.py``).

        The sender's role is the one the log had at this point of the event
        sequence (``seq_index``), not our current log, which our own and
        caught-up operations may have moved ahead: every member decides alike.
        """
        body = plaintext.body
        book = self.book
        me = self.keys.member
        supporters = self.ledger.standings[self.ledger.seq_index].supporters
        role: Role | None = "supporter" if sender in supporters else None
        event: Event | None = None
        if isinstance(body, SupportRequestBody):
            text: str | None = None
            readers: list[MemberId] | None = None
            try:
                if sender == me:
                    content = open_request_content(self.keys, sender, body)
                    if content is not None:
                        text, readers = content.text, list(content.recipients)
                else:
                    text = open_request(self.keys, sender, body)
            except (CryptoError, DecodeError, EnvelopeError) as exc:
                # It still takes its place in the queue: every member counts it.
                self.alarms.raise_(
                    step, "bad_message", f"support request {message_id}: {exc.message}", exc.code
                )
            event = book.request(
                message_id=message_id,
                requester=sender,
                seq=seq,
                sent_at=plaintext.sent_at,
                text=text,
                readers=readers,
            )
        elif isinstance(body, SupportResealBody):
            try:
                text = open_request(self.keys, sender, body)
            except (CryptoError, DecodeError, EnvelopeError) as exc:
                detail = f"support reseal {message_id}: {exc.message}"
                self.alarms.raise_(step, "bad_message", detail, exc.code)
                text = None
            event = book.resealed(sender=sender, request_id=body.request, text=text)
        elif isinstance(body, SupportClaimBody):
            invite: SupportInvite | None = None
            if book.requester_of(body.request) == me and role == "supporter":
                try:
                    invite = open_invite(self.keys, sender, body)
                except (CryptoError, DecodeError, EnvelopeError) as exc:
                    self.alarms.raise_(
                        step, "bad_message", f"support claim {message_id}: {exc.message}", exc.code
                    )
            claimed = book.claim(
                supporter=sender, role=role, request_id=body.request, invite=invite
            )
            if sender == me and body.request in book.lost:
                step.follow(Abandon(body.request))
            if claimed is not None and claimed.requester == me and invite is not None:
                step.follow(JoinBuddy(body.request))
            event = claimed
        elif isinstance(body, SupportWithdrawBody):
            event = book.withdraw(sender=sender, request_id=body.request)
        elif isinstance(body, SupporterStatusBody):
            step.items += book.status(member=sender, role=role, body=body)
            if body.queue is not None and role == "supporter":
                self._reseal(step, active=active)  # sent for a newcomer: it may be a supporter
        if event is not None:
            step.items.append(event)
