"""What the app tells a person: security alarms in plain words, safety-number layout.

Kept apart from the screens so the wording is reviewed in one place. An alarm
explanation says what happened, what it may mean, and what to do; none of them
blames the person.
"""

from __future__ import annotations

from typing import Final

from client_sdk import AlarmKind, RoomFingerprint

__all__ = ["ALARM_TEXT", "format_room_fingerprint", "format_safety_number", "short_id"]

ALARM_TEXT: Final[dict[AlarmKind, tuple[str, str]]] = {
    "fork": (
        "The relay showed two different histories of this room",
        "Someone (most likely the relay) showed you a version of this room that other "
        "members may not see: it could be trying to split the conversation or slip in "
        "a listener. The room will not send until you acknowledge this. Before you "
        "trust it again, compare safety numbers and the room fingerprint with other "
        "members in person or by phone (F5 lists members, their numbers and the room's "
        "fingerprint).",
    ),
    "withheld": (
        "A message was held back",
        "A member sent a message that never reached you, even after a full catch-up. "
        "The relay (or the network) withheld it. What you see may be missing part of "
        "the conversation. Ask the others whether they see a gap.",
    ),
    "log_invalid": (
        "A change to this room failed verification",
        "A change to who is in this room (or to its keys) did not carry a valid "
        "signature or did not follow from the history you verified. Hearth refused it "
        "and froze the room at the last point it could verify. Someone may have tried "
        "to add a hidden member or forge a change. Compare safety numbers before "
        "trusting the room again.",
    ),
    "unknown_epoch": (
        "A message used a key this room never had",
        "A message arrived sealed under a key that the verified history of this room "
        "never started. It was dropped unread. It may be a forgery the relay passed on.",
    ),
    "bad_message": (
        "A message failed verification",
        "A message did not verify: a forged or altered signature, a sender who is not "
        "a member, or a replay of an old message. It was dropped and you never saw it.",
    ),
}


def short_id(member_id: str) -> str:
    """A member key shortened for display (members are pseudonymous keys)."""
    return member_id[:8]


def format_room_fingerprint(fingerprint: RoomFingerprint) -> str:
    """The room fingerprint with the log index it covers, digits laid out as a safety number.

    Two members compare both: the same index and digits mean the same history; at
    different indices the one behind syncs first.
    """
    digits = format_safety_number(fingerprint.digits)  # the same 12 groups of 5
    return f"Room fingerprint at log entry {fingerprint.index}:\n{digits}"


def format_safety_number(number: str) -> str:
    """Sixty digits in twelve groups of five, three rows, as people read them aloud.

    Takes :meth:`client_sdk.Room.safety_number`'s text (the SDK groups it on one
    line already) and keeps only its digits.
    """
    digits = "".join(c for c in number if c.isdigit())
    groups = [digits[i : i + 5] for i in range(0, len(digits), 5)]
    rows = [" ".join(groups[i : i + 4]) for i in range(0, len(groups), 4)]
    return "\n".join(rows)
