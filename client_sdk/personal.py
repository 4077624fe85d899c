"""A person's own data, synced between their devices: notes, settings, blocked keys.

:class:`PersonalData` (``client.personal``) is the entry point. Everything here is
encrypted on the device under a key derived from the root and stored on the relay
as versioned ciphertext under the personal-store key, which nothing links to a
room key. Every method works offline: a change is kept in the local store and
reaches the relay (and the person's other devices) at the next sync or reconnect;
concurrent changes on two devices merge without losing either (docs/sdk.md,
"Devices, personal sync and push").
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Final, final

import msgspec

from client_sdk._personal import PersonalSync
from protocol import crypto
from protocol.encoding import canonical, from_msgpack
from protocol.errors import DecodeError
from protocol.ids import MemberId, b64url_encode

__all__ = ["BlockedKeys", "Note", "Notes", "PersonalData", "SettingValue", "Settings"]

SettingValue = str | int | float | bool | None
"""What a setting may hold."""

_MAX_TEXT: Final = 20_000


class _NoteValue(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    title: str
    text: str
    created_at: int


@final
@dataclass(frozen=True, slots=True, kw_only=True)
class Note:
    """One private note (a journal entry, a mood check-in, a safety plan...)."""

    id: str
    kind: str
    """The app's own label: ``"note"``, ``"mood"``, ``"safety_plan"``..."""
    title: str
    text: str
    created_at: int
    """Milliseconds since the Unix epoch, on the device that wrote it first."""
    updated_at: int
    conflict_of: str | None = None
    """Set on a copy kept because two devices edited note ``conflict_of`` at once."""


def _check_text(text: str, what: str) -> None:
    if len(text) > _MAX_TEXT:
        raise ValueError(f"a note's {what} is at most {_MAX_TEXT} characters")


@final
class Notes:
    """Private notes, kept per entry: two devices editing different notes both win,
    and of two devices editing the same note at once neither edit is lost."""

    __slots__ = ("_sync",)

    def __init__(self, sync: PersonalSync) -> None:
        self._sync = sync

    async def add(self, text: str, *, kind: str = "note", title: str = "") -> str:
        """Write a new note; returns its id.

        Raises:
            ValueError: ``text`` or ``title`` is longer than 20,000 characters.
            RelayError: ``personal.quota`` if the relay's store is full.
        """
        _check_text(text, "text")
        _check_text(title, "title")
        note_id = b64url_encode(crypto.random_bytes(16))
        value = _NoteValue(kind=kind, title=title, text=text, created_at=self._sync.clock.now_ms())
        await self._sync.change("notes", {note_id: canonical(value)})
        return note_id

    async def edit(
        self, note_id: str, *, text: str | None = None, title: str | None = None
    ) -> None:
        """Change a note's text and/or title.

        Raises:
            KeyError: There is no such note (or it was removed).
        """
        note = await self.get(note_id)
        value = _NoteValue(
            kind=note.kind,
            title=note.title if title is None else title,
            text=note.text if text is None else text,
            created_at=note.created_at,
        )
        _check_text(value.text, "text")
        _check_text(value.title, "title")
        await self._sync.change("notes", {note_id: canonical(value)})

    async def remove(self, note_id: str) -> None:
        """Delete a note on every device (a concurrent edit elsewhere keeps it).

        Raises:
            KeyError: There is no such note.
        """
        await self.get(note_id)
        await self._sync.change("notes", {note_id: None})

    async def get(self, note_id: str) -> Note:
        """One note.

        Raises:
            KeyError: There is no such note.
        """
        for note in await self.list():
            if note.id == note_id:
                return note
        raise KeyError(note_id)

    async def list(self, *, kind: str | None = None) -> builtins.list[Note]:
        """Every note (of ``kind``, if given), oldest first."""
        doc = await self._sync.document("notes")
        notes: builtins.list[Note] = []
        for key, entry in doc.entries.items():
            if entry.value is None:
                continue
            try:
                value = from_msgpack(entry.value, _NoteValue)
            except DecodeError:
                continue  # written by a newer SDK in a shape this one cannot read
            if kind is not None and value.kind != kind:
                continue
            origin = key.split("~", 1)[0] if "~" in key else None
            notes.append(
                Note(
                    id=key,
                    kind=value.kind,
                    title=value.title,
                    text=value.text,
                    created_at=value.created_at,
                    updated_at=entry.at,
                    conflict_of=origin,
                )
            )
        notes.sort(key=lambda n: (n.created_at, n.id))
        return notes


@final
class Settings:
    """Small app settings shared by the person's devices; the later change of a key wins."""

    __slots__ = ("_sync",)

    def __init__(self, sync: PersonalSync) -> None:
        self._sync = sync

    async def get(self, key: str, default: SettingValue = None) -> SettingValue:
        """A setting's value, or ``default``."""
        return (await self.all()).get(key, default)

    async def set(self, key: str, value: SettingValue) -> None:
        """Set a setting (``None`` is a value; use :meth:`remove` to delete)."""
        if not isinstance(value, str | int | float | bool | None):
            raise TypeError("a setting is a str, int, float, bool or None")
        await self._sync.change("settings", {key: msgspec.json.encode(value)})

    async def remove(self, key: str) -> None:
        """Delete a setting on every device."""
        await self._sync.change("settings", {key: None})

    async def all(self) -> dict[str, SettingValue]:
        """Every setting."""
        doc = await self._sync.document("settings")
        out: dict[str, SettingValue] = {}
        for key, entry in doc.entries.items():
            if entry.value is not None:
                out[key] = msgspec.json.decode(entry.value)
        return out


@final
class BlockedKeys:
    """Member keys this person blocked, the same on all their devices."""

    __slots__ = ("_sync",)

    def __init__(self, sync: PersonalSync) -> None:
        self._sync = sync

    async def add(self, member: MemberId | str) -> None:
        """Block a key."""
        await self._sync.change("blocked", {str(member): b""})

    async def remove(self, member: MemberId | str) -> None:
        """Unblock a key."""
        await self._sync.change("blocked", {str(member): None})

    async def list(self) -> builtins.list[MemberId]:
        """Every blocked key, sorted."""
        doc = await self._sync.document("blocked")
        return sorted(MemberId(k) for k, e in doc.entries.items() if e.value is not None)


@final
class PersonalData:
    """This person's synced personal data: :attr:`notes`, :attr:`settings`, :attr:`blocked`."""

    __slots__ = ("_sync", "blocked", "notes", "settings")

    def __init__(self, sync: PersonalSync) -> None:
        self._sync = sync
        self.notes = Notes(sync)
        """Private notes."""
        self.settings = Settings(sync)
        """Settings."""
        self.blocked = BlockedKeys(sync)
        """Blocked member keys."""

    async def sync(self) -> None:
        """Fetch what other devices changed and push this device's changes now.

        Raises:
            RelayUnavailable: The relay cannot be reached (changes stay queued).
        """
        await self._sync.sync()
