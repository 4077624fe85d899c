"""A program's path for a member at imminent risk, as the room core reads it.

Two bodies, each judged at the message's place in room order
(``ledger.Ledger.role_at``, the lowest role held over the span), so every reader
decides alike and a role gained later grants nothing before:

- ``support.risk`` (:class:`RiskHelpBody`) counts only in a buddy chat and only
  from its owner, the supporter whose claim opened it: both buddies' devices
  announce :class:`RiskHelpShown`. Anyone else's is ignored (the other buddy
  cannot dress their own words up as the program's help lines).
- ``support.alert`` (:class:`RiskAlertBody`) counts only in a program room and
  only from a member whose role there is supporter, moderator or owner. It is
  directed (``protocol.directed``): only the owners and moderators it is sealed
  to (and the sender's own devices) open it and announce
  :class:`RiskAlertReceived`. Anyone else's is ignored unopened, with no alarm;
  one from a supporter that is sealed to us but does not open, or whose signed
  content is not the sender's, raises ``bad_message`` as a report would.

The program's plan itself (``program.risk_plan``) is a room body like the rules
(``bodies.py``). Nothing here does I/O; raising an alert is ``client_sdk._risk``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from client_sdk._core.alarms import Alarms
from client_sdk._core.ledger import Ledger
from client_sdk._core.step import Step
from client_sdk.events import RiskAlertReceived, RiskHelpShown
from protocol.directed import open_directed
from protocol.errors import CryptoError, DecodeError, EnvelopeError
from protocol.ids import MemberId, MessageId
from protocol.keys import RoomKeys
from protocol.messages import Body, RiskAlertBody, RiskHelpBody
from protocol.ops import ROLE_RANK

__all__ = ["RISK_BODIES", "read_risk"]

RISK_BODIES: Final = (RiskHelpBody, RiskAlertBody)
"""The bodies of the risk path (the plan is a room body, ``bodies.py``)."""

_SUPPORTER: Final = ROLE_RANK["supporter"]
_MAX_MS: Final = 253_402_300_799_999


def read_risk(
    step: Step,
    alarms: Alarms,
    keys: RoomKeys,
    ledger: Ledger,
    *,
    sender: MemberId,
    body: Body,
    message_id: MessageId,
    place: tuple[int, int],
) -> None:
    """Announce a risk body in ``step`` if it counts here and is ours to read."""
    kind = ledger.log.policy.kind
    role = ledger.role_at(sender, place, lowest=True)
    if isinstance(body, RiskHelpBody):
        if kind == "buddy" and role == "owner":
            step.items.append(
                RiskHelpShown(
                    room_id=keys.room,
                    message_id=message_id,
                    text=body.text,
                    lines=tuple(body.lines),
                    by=sender,
                )
            )
        return
    if not isinstance(body, RiskAlertBody) or kind != "program":
        return
    if role is None or ROLE_RANK[role] < _SUPPORTER:
        return  # a plain member's alert counts for nothing, on every reader
    try:
        alert = open_directed(keys, sender, body)
    except (CryptoError, DecodeError, EnvelopeError) as exc:
        alarms.raise_(step, "bad_message", f"risk alert {message_id}: {exc.message}", exc.code)
        return
    if alert is None:
        return  # not ours to read
    step.items.append(
        RiskAlertReceived(
            room_id=keys.room,
            alert_id=message_id,
            supporter=sender,
            member=alert.member,
            request_id=alert.request,
            buddy_room_id=alert.buddy_room,
            note=alert.note,
            at=datetime.fromtimestamp(min(alert.at, _MAX_MS) / 1000, tz=UTC),
        )
    )
