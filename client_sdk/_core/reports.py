"""Reports: a member's signed report of a message, sealed to the room's moderators.

A ``report`` body is directed (``protocol.directed``): only its recipients open it,
and everyone else reads nothing. It carries the reported message's own envelope as
evidence, which must verify and be the message the report names in this room; its
text is shown when this member holds that epoch's secret. A report that does not
open or whose evidence does not hold raises a ``bad_message`` alarm.
"""

from __future__ import annotations

from collections.abc import Mapping

from client_sdk._core.alarms import Alarms
from client_sdk._core.step import Step
from client_sdk.events import ReportReceived
from protocol.directed import open_directed
from protocol.envelope import open_message, verify_signature
from protocol.errors import CryptoError, DecodeError, EnvelopeError
from protocol.ids import MemberId, MessageId
from protocol.keys import RoomKeys
from protocol.messages import ReportBody, TextBody

__all__ = ["read_report"]


def read_report(
    step: Step,
    alarms: Alarms,
    keys: RoomKeys,
    secrets: Mapping[int, bytes],
    *,
    sender: MemberId,
    body: ReportBody,
    report_id: MessageId,
) -> None:
    """Announce the report in ``step`` if it is ours to read and holds; else alarm or pass."""
    try:
        c = open_directed(keys, sender, body)
        if c is None:
            return  # not ours to read
        evidence = c.evidence
        verify_signature(evidence)
        if evidence.header.room != keys.room or evidence.header.id != c.target:
            raise EnvelopeError("report evidence is another message", code="msg.bad_room")
        text: str | None = None
        secret = secrets.get(evidence.header.epoch)
        if secret is not None:
            reported = open_message(evidence, epoch_secret=secret).body
            if isinstance(reported, TextBody):
                text = reported.text
    except (CryptoError, DecodeError, EnvelopeError) as exc:
        alarms.raise_(step, "bad_message", f"report {report_id}: {exc.message}", exc.code)
        return
    step.items.append(
        ReportReceived(
            room_id=keys.room,
            report_id=report_id,
            reporter=sender,
            message_id=c.target,
            sender=evidence.header.sender,
            reason=c.reason,
            text=text,
            recipients=tuple(c.recipients),
            evidence=evidence,
        )
    )
