"""The driver of a program's risk path: publishing the plan, raising an alert.

What a message means is decided in the room core (``_core/bodies.py`` for the
plan, ``_core/risk.py`` for help and alerts); what is here does the I/O around
it for :class:`~client_sdk.room.Room`:

- ``set_risk_plan``: a program's moderator or owner publishes
  ``program.risk_plan`` (the room's encrypted state, re-sent to newcomers with
  the profile and rules, ``RoomDriver.republish``);
- ``raise_risk_alert``: from the buddy chat of a request this device claimed,
  the supporter first shows both buddies the program's help (``support.risk``
  in the buddy chat: the person's safety before anything else), then alerts
  the program's owners and moderators with a directed ``support.alert``
  (``protocol.directed.seal_directed``, as a report is sealed), and reads both
  rooms back so both sides' events follow.

Without a published plan the alert still goes out and the help message carries
no lines: each device shows its own built-in lines (``CrisisDirectory``), so
there is always something to call. No relay support is needed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from client_sdk.errors import RelayUnavailable, SupportError
from client_sdk.support import RiskAlert, SupportRequest
from protocol.directed import seal_directed
from protocol.ids import MemberId, RoomId
from protocol.messages import (
    CrisisResource,
    RiskAlertBody,
    RiskAlertContent,
    RiskHelpBody,
    RiskPlanBody,
)

if TYPE_CHECKING:
    from client_sdk._driver import RoomDriver
    from client_sdk._host import RoomHost

__all__ = ["raise_risk_alert", "set_risk_plan"]

_MAX_LINES: Final = 50
_MAX_READERS: Final = 255  # the alert's seals hold at most 256, ours included
_ALERTERS: Final = frozenset({"supporter", "moderator", "owner"})
_ALERTED: Final = frozenset({"moderator", "owner"})


async def set_risk_plan(
    host: RoomHost, room: RoomId, text: str, lines: Iterable[CrisisResource]
) -> None:
    driver = host.driver(room)
    state = driver.state
    state.require_sendable()
    if state.policy.kind != "program":
        raise SupportError("a risk plan is for program rooms", code="support.not_program")
    if state.log.role_of(state.me) not in _ALERTED:
        raise SupportError(
            "only the program's moderators and owners publish its risk plan",
            code="support.not_moderator",
        )
    chosen = list(lines)
    if len(chosen) > _MAX_LINES:
        raise SupportError(f"a risk plan lists at most {_MAX_LINES} lines", code="support.bad_plan")
    await driver.send(RiskPlanBody(text=text, lines=chosen))


def _claim_of(host: RoomHost, buddy: RoomId) -> tuple[RoomDriver, SupportRequest]:
    """The program, and our claimed request there, whose buddy chat is ``buddy``."""
    for driver in host.rooms.values():
        state = driver.state
        if state.policy.kind != "program" or state.support.empty:
            continue
        view = state.support.claim_of(buddy)
        if view is not None:
            return driver, view
    raise SupportError(
        "a risk alert is raised from the buddy chat of a request you claimed",
        code="support.not_buddy_chat",
    )


async def raise_risk_alert(host: RoomHost, room: RoomId, note: str) -> RiskAlert:
    chat = host.driver(room)
    chat.state.require_sendable()
    if chat.state.policy.kind != "buddy":
        raise SupportError("this is not a buddy chat", code="support.not_buddy_chat")
    program, view = _claim_of(host, room)
    state = program.state
    state.require_sendable()
    if state.log.role_of(state.me) not in _ALERTERS:
        raise SupportError(
            "only the program's supporters raise a risk alert", code="support.not_supporter"
        )
    plan = state.risk_plan
    help_body = RiskHelpBody(text=plan.text, lines=plan.lines) if plan else RiskHelpBody()
    # The person sees the help first: nothing below may hold it back.
    help_id = await chat.send(help_body)

    moderators = {
        m.id: m.box_key
        for m in state.log.members.values()
        if m.role in _ALERTED and m.id != state.me
    }
    if not moderators:
        raise SupportError(
            "the help is shown; this program has no owner or moderator but you to alert",
            code="support.no_moderators",
        )
    if len(moderators) > _MAX_READERS:
        # The seals hold no more: an alert reaching 255 moderators beats none at all.
        moderators = dict(sorted(moderators.items())[:_MAX_READERS])
    content = RiskAlertContent(
        room=program.room,
        supporter=state.me,
        member=view.requester,
        request=view.id,
        buddy_room=room,
        note=note,
        recipients=sorted(moderators),
        at=program.clock.now_ms(),
    )
    readers: dict[MemberId, bytes] = dict(
        sorted({**moderators, state.me: state.keys.box_public}.items())
    )
    seals, ciphertext = seal_directed(state.keys, content, readers)
    alert_id = await program.send(RiskAlertBody(seals=seals, ciphertext=ciphertext))
    with contextlib.suppress(RelayUnavailable):  # both wait in the outbox; events tell
        await host.sync()
    return RiskAlert(
        buddy_room_id=room,
        help_id=help_id,
        program_id=program.room,
        alert_id=alert_id,
        request_id=view.id,
        member=view.requester,
        moderators=tuple(sorted(moderators)),
        planned=plan is not None,
        text=help_body.text,
        lines=tuple(help_body.lines),
    )
