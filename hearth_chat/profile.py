"""A profile folder: one person's keystore, local store and exported files on this device.

The folder holds ``identity.key`` (the root secret, encrypted under the
person's passphrase with Argon2id; see docs/sdk.md), ``store.db`` (the SDK's
encrypted local store), ``settings.json`` (the relay URL it was last used with),
``crisis.json`` (the relay's public list of crisis lines, last fetched) and
``exports/`` (calendar files the person exported). Nothing in it is readable
without the passphrase except the relay URL and the exported calendars.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, final

from client_sdk import CrisisResource, Identity

__all__ = ["Profile", "Strength"]

_CRISIS_FIELDS = ("name", "regions", "phone", "sms", "url", "hours", "description")

Strength = Literal["interactive", "moderate", "sensitive"]
"""How hard the keystore's Argon2id is (libsodium's presets)."""


@final
@dataclass(frozen=True, slots=True)
class Profile:
    """Paths inside one profile folder, and the few operations on them.

    Attributes:
        folder: The profile folder (created on first use, mode 0700).
        strength: The Argon2id preset new keystores are written with.
    """

    folder: Path
    strength: Strength = "moderate"

    @property
    def key_path(self) -> Path:
        """The keystore file."""
        return self.folder / "identity.key"

    @property
    def store_path(self) -> Path:
        """The SDK's local store."""
        return self.folder / "store.db"

    @property
    def exports(self) -> Path:
        """Where exported calendar files go."""
        return self.folder / "exports"

    def has_identity(self) -> bool:
        """Whether this profile already holds a keystore (else it is a first run)."""
        return self.key_path.exists()

    def save_identity(self, identity: Identity, passphrase: str) -> None:
        """Write the keystore (atomically, 0600) in a folder only this user can read."""
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        identity.save(self.key_path, passphrase, strength=self.strength)

    def load_identity(self, passphrase: str) -> Identity:
        """Read the keystore. Raises ``KeystoreError`` on a wrong passphrase."""
        return Identity.load(self.key_path, passphrase)

    def remembered_relay(self) -> str | None:
        """The relay URL this profile was last used with, if any."""
        try:
            data = json.loads((self.folder / "settings.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        relay = data.get("relay") if isinstance(data, dict) else None
        return relay if isinstance(relay, str) else None

    def remember_relay(self, relay: str) -> None:
        """Keep the relay URL, so the next ``hearth chat`` needs only ``--profile``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "settings.json").write_text(json.dumps({"relay": relay}), "utf-8")

    def cached_crisis(self) -> list[CrisisResource] | None:
        """The crisis list last fetched from the relay (public data), if any."""
        try:
            data = json.loads((self.folder / "crisis.json").read_text("utf-8"))
            return [CrisisResource(**{k: entry[k] for k in _CRISIS_FIELDS}) for entry in data]
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def cache_crisis(self, resources: list[CrisisResource]) -> None:
        """Keep the crisis list, for the screen to help offline and before unlocking."""
        self.folder.mkdir(parents=True, exist_ok=True)
        data = [{k: getattr(r, k) for k in _CRISIS_FIELDS} for r in resources]
        (self.folder / "crisis.json").write_text(json.dumps(data), "utf-8")

    def export_path(self, name: str, suffix: str) -> Path:
        """A file name in ``exports/`` derived from ``name`` (safe characters only)."""
        self.exports.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:60] or "room"
        return self.exports / f"{stem}{suffix}"
