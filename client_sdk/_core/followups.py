"""What the room core asks its driver to do after a step: typed follow-ups.

The core does no I/O, so work a step calls for (sending a message, joining or
leaving a room) comes back as values in :attr:`~client_sdk._core.step.Step.follow_ups`,
in the order the step met them. The driver hands each one to one handler
(``_inbox.InboxHost.follow_up``), which matches over :data:`FollowUp`: adding a
kind means one class here, the line of the core that makes it, and one case in
that handler (the handler's ``assert_never`` makes mypy say when a case is missing).

``Step.need_log`` is not one of these: the inbox consumes it itself, before the
step goes on (it fetches the log and feeds the same event again), so it stays a flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeAlias, final

from protocol.ids import MemberId, MessageId

__all__ = [
    "Abandon",
    "FollowUp",
    "JoinBuddy",
    "Reprofile",
    "Republish",
    "Reseal",
    "Restatus",
]


@final
@dataclass(frozen=True, slots=True)
class Republish:
    """Someone joined with our invite: send them the room's profile and rules again.

    They joined under a new epoch and cannot read the earlier copies (nobody
    added reads what came before), so the inviter re-sends them.
    """

    once: ClassVar[bool] = True
    """One per step: a page of joins asks for one republication."""


@final
@dataclass(frozen=True, slots=True)
class Restatus:
    """Someone joined a program where we are a supporter: re-send our availability."""

    once: ClassVar[bool] = True
    """One per step: a page of joins asks for one status."""


@final
@dataclass(frozen=True, slots=True)
class Reprofile:
    """Someone else joined: send our display name again (``member.profile``).

    Like :class:`Republish`, for what only we say about ourselves: the newcomer
    cannot read the name we sent before it joined.
    """

    once: ClassVar[bool] = True
    """One per step: a page of joins asks for one profile."""


@final
@dataclass(frozen=True, slots=True)
class JoinBuddy:
    """A supporter claimed our support request: join the buddy chat the claim names."""

    once: ClassVar[bool] = False
    request: MessageId


@final
@dataclass(frozen=True, slots=True)
class Reseal:
    """Our waiting request, to seal again for supporters who arrived since."""

    once: ClassVar[bool] = False
    request: MessageId
    text: str
    to: list[MemberId]


@final
@dataclass(frozen=True, slots=True)
class Abandon:
    """A request another supporter claimed before us: leave the chat we opened for it."""

    once: ClassVar[bool] = False
    request: MessageId


FollowUp: TypeAlias = Republish | Reprofile | Restatus | JoinBuddy | Reseal | Abandon
"""Every kind of work the core hands its driver."""
