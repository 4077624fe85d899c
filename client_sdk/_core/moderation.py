"""Moderation as one member can verify it: mutes, and the record of who did what.

Mutes, moderators' deletions and the reasons given for bans come from signed
``moderation`` messages, each judged at its place in room order
(``ledger.Ledger.role_at``): a moderator demoted later keeps what they decided
before; nobody mutes or bans their equal or better. Bans themselves are log
operations (``room.ban``): the log alone says who is banned, and a ``ban`` or
``unban`` message only gives the reason for its author's operation.
:meth:`Moderation.history` merges the record with the log's removals, role
changes and bans.
"""

from __future__ import annotations

from typing import Final, Literal, final

import msgspec

from client_sdk._core.ledger import Ledger
from client_sdk._core.step import Step
from client_sdk.events import MemberModerated
from client_sdk.message import ModerationEntry
from protocol.ids import MemberId, MessageId, RoomId
from protocol.messages import ModerationBody
from protocol.ops import ROLE_RANK, BanOp, RemoveOp, RoleOp, UnbanOp

__all__ = ["Mod", "Moderation"]

_MODERATOR: Final = ROLE_RANK["moderator"]


class Mod(msgspec.Struct, frozen=True, array_like=True):
    """One moderation step read from a message (its persisted form too)."""

    action: str
    member: str | None
    by: str
    at: int
    reason: str
    message_id: str | None


@final
class Moderation:
    """Who is muted, and every moderation step read from messages. See the module docstring."""

    def __init__(self, room: RoomId, ledger: Ledger) -> None:
        self.room = room
        self.ledger = ledger
        self.muted: set[MemberId] = set()
        self.records: list[Mod] = []
        """Moderation read from messages (mutes, deletions, the reasons given for bans);
        log operations are added on read."""

    def note_deletion(self, by: MemberId, at: int, target: MessageId, sender: MemberId) -> None:
        """A moderator's verified deletion of ``target``, which ``sender`` wrote."""
        self.records.append(Mod("delete", sender, by, at, "", target))

    def fold(
        self,
        step: Step,
        sender: MemberId,
        body: ModerationBody,
        *,
        at: int,
        message_id: MessageId,
        place: tuple[int, int],
    ) -> None:
        """A ``moderation`` message read in room order; announced if it counts."""
        if self.apply(sender, body, at, message_id, place):
            step.items.append(
                MemberModerated(
                    room_id=self.room,
                    action=body.action,
                    member=body.member,
                    by=sender,
                    reason=body.reason,
                )
            )

    def apply(
        self,
        sender: MemberId,
        body: ModerationBody,
        at: int,
        message_id: MessageId,
        place: tuple[int, int],
    ) -> bool:
        """Fold a moderation message judged at ``place``; True if it is announced.

        ``ban`` and ``unban`` messages only give the reason for the ``room.ban`` or
        ``room.unban`` operation of the same author: the log alone says who is banned.
        """
        if any(m.message_id == message_id for m in self.records):
            return False  # our own, applied when sent
        role = self.ledger.role_at(sender, place, lowest=True)
        if role is None or ROLE_RANK[role] < _MODERATOR:
            return False
        target = self.ledger.role_at(body.member, place, lowest=False)
        if target is not None and ROLE_RANK[target] >= ROLE_RANK[role]:
            return False  # nobody mutes or bans their equal or better
        if body.action == "mute":
            self.muted.add(body.member)
        elif body.action == "unmute":
            self.muted.discard(body.member)
        self.records.append(Mod(body.action, body.member, sender, at, body.reason, message_id))
        return body.action not in ("ban", "unban")

    def reason(self, action: str, member: MemberId, by: MemberId) -> str:
        """The reason ``by`` gave in a ``moderation`` message for a ban or unban of ``member``."""
        for m in reversed(self.records):
            if (m.action, m.member, m.by) == (action, member, by):
                return m.reason
        return ""

    def history(self) -> list[ModerationEntry]:
        """Every moderation step this member can verify, oldest first.

        Removals and role changes come from the signed log (complete, for every
        member); mutes, bans and moderators' deletions from signed messages this
        member could read (from its join on).
        """
        entries = [
            ModerationEntry(
                action=m.action,  # type: ignore[arg-type]  # written from a ModerationKind
                member=MemberId(m.member) if m.member else None,
                by=MemberId(m.by),
                at=m.at,
                reason=m.reason,
                message_id=MessageId(m.message_id) if m.message_id else None,
            )
            for m in self.records
            if m.action not in ("ban", "unban")  # reasons: shown with the log operation
        ]
        for op in self.ledger.log.ops:
            c = op.content
            if isinstance(c.body, RemoveOp):
                entries.append(
                    ModerationEntry(action="remove", member=c.body.member, by=c.author, at=c.at)
                )
            elif isinstance(c.body, RoleOp):
                entries.append(
                    ModerationEntry(
                        action="role", member=c.body.member, by=c.author, at=c.at, role=c.body.role
                    )
                )
            elif isinstance(c.body, BanOp | UnbanOp):
                action: Literal["ban", "unban"] = "ban" if isinstance(c.body, BanOp) else "unban"
                entries.append(
                    ModerationEntry(
                        action=action,
                        member=c.body.member,
                        by=c.author,
                        at=c.at,
                        reason=self.reason(action, c.body.member, c.author),
                    )
                )
        entries.sort(key=lambda e: e.at)
        return entries
