"""A profile folder: one person's keystore, local store and exported files on this device.

The folder holds ``identity.key`` (the root secret, encrypted under the
person's passphrase with Argon2id; see docs/sdk.md), ``store.db`` (the SDK's
encrypted local store), ``settings.json`` (the relay URL it was last used with),
``crisis.json`` (the relay's public list of crisis lines, last fetched, in the
SDK's cache format: public information, and never the person's region) and
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

from client_sdk import Identity

__all__ = ["Profile", "Strength"]

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

    def crisis_cache(self) -> Path:
        """The file the relay's crisis list is kept in (the folder is created, 0700).

        Written and read by the SDK (:meth:`client_sdk.CrisisDirectory.save`,
        :meth:`~client_sdk.CrisisDirectory.load`); it holds the relay's public list
        and never the person's region.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        return self.folder / "crisis.json"

    def export_path(self, name: str, suffix: str) -> Path:
        """A file name in ``exports/`` derived from ``name`` (safe characters only)."""
        self.exports.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:60] or "room"
        return self.exports / f"{stem}{suffix}"
