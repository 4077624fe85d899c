"""Members' display names in one room, and the labels that tell look-alikes apart.

A member's name is the newest ``member.profile`` message it sent that
``protocol.names.member_name`` accepts (any member may name itself, and only
itself: the envelope's sender is whom the name is for). Roles never come from
here: they are the verified log's.

Labels: a member who chose no name is shown by its short key. Members whose names
have the same skeleton (``protocol.names.name_skeleton``), or a name that looks like
another member's short key, are all shown with a short key beside the name
(``"Sam ·JyTA"``), long enough to tell them apart. Everyone with a name counts,
members who left included, so that a newcomer cannot pass for someone whose old
messages are still on screen.

Newcomers cannot read what was said before they joined: when someone else joins,
a member that has a name asks its driver to send it again (:class:`Reprofile`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from functools import lru_cache
from typing import Final, TypeVar, final

from client_sdk._core.followups import Reprofile
from client_sdk._core.ledger import Ledger
from client_sdk._core.step import Accepted, Deletion, Step
from client_sdk.events import (
    Event,
    MemberJoined,
    MemberLeft,
    MemberModerated,
    MemberRemoved,
    MemberRenamed,
    MessageDeleted,
    RoleChanged,
)
from client_sdk.message import RoomMember, short_key
from protocol.ids import MemberId, RoomId
from protocol.messages import MemberProfileBody
from protocol.names import member_name, name_skeleton

__all__ = ["Names"]

_E = TypeVar("_E", bound=Event)

_SUFFIX: Final = 4
"""Characters of the key shown beside a look-alike name (more if two share them)."""

_skeleton = lru_cache(maxsize=4096)(name_skeleton)
"""Labels are recomputed as members come and go: each name's skeleton once."""


@final
class Names:
    """Who calls themselves what in this room. See the module docstring."""

    def __init__(self, room: RoomId, me: MemberId, ledger: Ledger) -> None:
        self.room = room
        self.me = me
        self.ledger = ledger
        self.chosen: dict[MemberId, str] = {}
        """Each member's accepted display name (NFC), from its newest profile."""
        self._shown: dict[MemberId, str] = {}
        """The name each member's last :class:`MemberRenamed` announced."""
        self._labels: dict[MemberId, str] | None = None
        self._labels_at = -1
        """The log index the labels were computed at: members come and go with it."""

    def restore(self, chosen: dict[MemberId, str]) -> None:
        """Names from a snapshot (already announced)."""
        self.chosen = dict(chosen)
        self._shown = dict(chosen)
        self._labels = None

    @property
    def mine(self) -> str | None:
        """The name this member chose here, if any."""
        return self.chosen.get(self.me)

    def fold(self, step: Step, sender: MemberId, body: MemberProfileBody) -> None:
        """A verified ``member.profile`` from ``sender``: its name, if acceptable."""
        try:
            name = member_name(body.name)
        except ValueError:
            return  # refused by every reader alike (protocol.md 8.12)
        old = self._shown.get(sender)
        self._set(sender, name)
        if old == name:
            return
        before = self._label_with(sender, old)
        self._shown[sender] = name
        step.items.append(
            MemberRenamed(
                room_id=self.room,
                member=sender,
                old=before,
                new=self.label(sender),
                role=self.ledger.log.role_of(sender),
            )
        )

    def note_sent(self, body: MemberProfileBody) -> None:
        """Our own new name, applied at once; its echo announces the rename."""
        try:
            self._set(self.me, member_name(body.name))
        except ValueError:
            return  # others refuse it too: it names nobody

    def _set(self, member: MemberId, name: str) -> None:
        if self.chosen.get(member) != name:
            self.chosen[member] = name
            self._labels = None

    def after_join(self, step: Step, newcomer: MemberId, *, active: bool) -> None:
        """Someone else joined: send our name again, they cannot read the old one."""
        if active and newcomer != self.me and self.mine is not None:
            step.follow(Reprofile())

    # -- labels ----------------------------------------------------------------------

    def _compute(self, names: dict[MemberId, str]) -> dict[MemberId, str]:
        people = set(self.ledger.log.members) | set(names)
        looks: dict[str, list[MemberId]] = {}
        for member in people:
            shown = names.get(member)
            looks.setdefault(_skeleton(shown or short_key(member)), []).append(member)
        labels: dict[MemberId, str] = {}
        for group in looks.values():
            named = [m for m in group if m in names]
            if len(group) == 1 or not named:
                labels.update({m: names.get(m) or short_key(m) for m in group})
                continue
            width = _SUFFIX
            while len({m[:width] for m in group}) < len(group):
                width += 2
            for m in group:
                # A nameless member is its short key already; the named ones that
                # look like it (or like each other) carry theirs.
                labels[m] = f"{names[m]} ·{m[:width]}" if m in names else short_key(m)
        return labels

    def labels(self) -> dict[MemberId, str]:
        """Every member's label (members now, and everyone who chose a name)."""
        if self._labels is None or self._labels_at != self.ledger.log.index:
            self._labels = self._compute(self.chosen)
            self._labels_at = self.ledger.log.index
        return self._labels

    def label(self, member: MemberId) -> str:
        """How to show ``member`` now (its short key if unknown here)."""
        return self.labels().get(member) or short_key(member)

    def _label_with(self, member: MemberId, name: str | None) -> str:
        names = dict(self.chosen)
        if name is None:
            names.pop(member, None)
        else:
            names[member] = name
        return self._compute(names).get(member) or short_key(member)

    def member(self, member: MemberId) -> RoomMember:
        """``member`` as a front end shows it."""
        return RoomMember(
            id=member,
            name=self.chosen.get(member),
            label=self.label(member),
            role=self.ledger.log.role_of(member),
            is_me=member == self.me,
        )

    def members(self) -> list[RoomMember]:
        """The current members, owners first, then by label."""
        rank = {"owner": 0, "moderator": 1, "supporter": 2, "member": 3}
        found = [self.member(m) for m in self.ledger.log.members]
        return sorted(found, key=lambda m: (rank.get(m.role or "", 4), m.label.casefold(), m.id))

    # -- what events say about members ----------------------------------------------

    def describe(
        self, items: Iterable[Event | Accepted | Deletion]
    ) -> list[Event | Accepted | Deletion]:
        """``items`` with the names (and roles) of the members each event is about."""
        return [self.named(i) if not isinstance(i, Accepted | Deletion) else i for i in items]

    def named(self, event: _E) -> _E:
        """``event`` with its members' labels (and ``by``'s role) filled in where empty."""
        role_of = self.ledger.log.role_of
        if isinstance(event, MemberJoined):
            by = event.by
            return replace(
                event,
                name=event.name or self.label(event.member),
                by_name=event.by_name or ("" if by is None else self.label(by)),
            )
        if isinstance(event, MemberLeft):
            return replace(event, name=event.name or self.label(event.member))
        if isinstance(event, MemberRemoved | MemberModerated | RoleChanged):
            event = replace(
                event,
                name=event.name or self.label(event.member),
                by_name=event.by_name or self.label(event.by),
                by_role=event.by_role or role_of(event.by),
            )
            if isinstance(event, MemberModerated) and event.role is None:
                event = replace(event, role=role_of(event.member))
            return event
        if isinstance(event, MessageDeleted) and event.by is not None:
            return replace(
                event,
                by_name=event.by_name or self.label(event.by),
                by_role=event.by_role or role_of(event.by),
            )
        return event
