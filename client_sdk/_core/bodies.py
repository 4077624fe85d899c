"""The room's own bodies: profile, ground rules, meeting schedule, risk plan, rule acceptance.

Only moderators and owners speak for the room, judged at the message's place in
room order (``ledger.Ledger.role_at``): a ``profile``, ``rules``, ``schedule`` or
``program.risk_plan`` message from anyone else counts for nothing, an invalid
schedule is ignored, and a risk plan counts only in a program room.
Rules only move forward (a higher version replaces a lower one); publishing a
version is accepting it. Every member's acceptance is read from their signed
``rules.accept`` messages; a post (text, edit, reaction) is refused to a muted
member or one who has not accepted the rules in force (:meth:`Bodies.require_may_post`).
"""

from __future__ import annotations

from typing import Final, final

from client_sdk._core.ledger import Ledger
from client_sdk._core.step import Step
from client_sdk._schedule import valid_schedule
from client_sdk.errors import PostingMuted, RulesNotAccepted
from client_sdk.events import (
    ProfileChanged,
    RiskPlanChanged,
    RulesAccepted,
    RulesChanged,
    ScheduleChanged,
)
from protocol.ids import MemberId, RoomId
from protocol.messages import (
    Body,
    EditBody,
    ProfileBody,
    ReactionBody,
    RiskPlanBody,
    RulesAcceptBody,
    RulesBody,
    ScheduleBody,
    TextBody,
)
from protocol.ops import ROLE_RANK, Role

__all__ = ["Bodies", "is_post"]

_MODERATOR: Final = ROLE_RANK["moderator"]


def is_post(body: Body) -> bool:
    """A member's words in the room: what a mute or the rules hold back."""
    return isinstance(body, TextBody | EditBody | ReactionBody)


@final
class Bodies:
    """The room's profile, rules, schedule and risk plan, and who accepted which rules."""

    def __init__(self, room: RoomId, ledger: Ledger) -> None:
        self.room = room
        self.ledger = ledger
        self.profile: ProfileBody | None = None
        self.rules: RulesBody | None = None
        self.schedule: ScheduleBody | None = None
        self.risk_plan: RiskPlanBody | None = None
        """A program's path for a member at imminent risk (``program.risk_plan``)."""
        self.accepted: dict[MemberId, int] = {}
        """The newest rules version each member accepted (or published), from signed messages."""

    def _in_program(self) -> bool:
        return self.ledger.log.policy.kind == "program"

    def note_acceptance(self, member: MemberId, version: int) -> bool:
        """``member`` accepted rules ``version``; True if that is news."""
        if version <= self.accepted.get(member, 0):
            return False
        self.accepted[member] = version
        return True

    def fold(self, step: Step, sender: MemberId, body: Body, place: tuple[int, int]) -> None:
        """A room body read in room order at ``place`` (other bodies pass through)."""
        if isinstance(body, RulesAcceptBody):
            if self.note_acceptance(sender, body.version):
                step.items.append(
                    RulesAccepted(room_id=self.room, member=sender, version=body.version)
                )
            return
        if not isinstance(body, ProfileBody | RulesBody | ScheduleBody | RiskPlanBody):
            return
        role = self.ledger.role_at(sender, place, lowest=True)
        if role is None or ROLE_RANK[role] < _MODERATOR:
            return  # only moderators and owners speak for the room, at the message's place
        if isinstance(body, RiskPlanBody):
            if self._in_program():
                self.risk_plan = body
                step.items.append(
                    RiskPlanChanged(
                        room_id=self.room, text=body.text, lines=tuple(body.lines), by=sender
                    )
                )
            return
        if isinstance(body, ScheduleBody):
            if not valid_schedule(body):
                return
            self.schedule = body
            step.items.append(ScheduleChanged(room_id=self.room, schedule=body, by=sender))
            return
        if isinstance(body, ProfileBody):
            self.profile = body
            step.items.append(
                ProfileChanged(
                    room_id=self.room,
                    name=body.name,
                    topic=body.topic,
                    description=body.description,
                    by=sender,
                )
            )
            return
        # Publishing a version of the rules is accepting it.
        self.note_acceptance(sender, body.version)
        if self.rules is None or body.version > self.rules.version:
            self.rules = body
            step.items.append(
                RulesChanged(room_id=self.room, version=body.version, text=body.text, by=sender)
            )

    def note_sent(self, me: MemberId, body: Body, role: Role | None) -> None:
        """Our own room body, applied at once (``role``: ours in the log now)."""
        if isinstance(body, RulesAcceptBody):
            self.note_acceptance(me, body.version)
            return
        if not isinstance(body, RulesBody | ProfileBody | ScheduleBody | RiskPlanBody):
            return
        if role is None or ROLE_RANK[role] < _MODERATOR:
            return
        if isinstance(body, RiskPlanBody):
            if self._in_program():
                self.risk_plan = body
            return
        if isinstance(body, ScheduleBody):
            self.schedule = body
            return
        if isinstance(body, ProfileBody):
            self.profile = body
            return
        self.note_acceptance(me, body.version)
        if self.rules is None or body.version > self.rules.version:
            self.rules = body

    def require_may_post(self, me: MemberId, body: Body, muted: bool) -> None:
        """Raise unless ``body`` is not a post, or we are unmuted and accepted the rules.

        Raises:
            PostingMuted: ``room.muted``.
            RulesNotAccepted: ``rules.not_accepted``.
        """
        if not is_post(body):
            return
        if muted:
            raise PostingMuted("a moderator muted you in this room", code="room.muted")
        if self.rules is None:
            return
        if self.accepted.get(me, 0) < self.rules.version:
            raise RulesNotAccepted(
                f"accept version {self.rules.version} of the ground rules before posting",
                code="rules.not_accepted",
            )
