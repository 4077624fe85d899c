"""Linking a device: sealed offers filed under a rendezvous id, each claimed once.

Any authenticated key may file a sealed offer under a rendezvous id (the SDK uses its
personal-store key); at most ``link_max_pending`` wait per key, each for ``link_ttl``
seconds. Claiming needs no session (the new device has no key yet): it is single-use
in storage. The relay never sees the code, only the id derived from it. The HTTP
handlers (``server/handlers/personal.py``) parse, charge rate limits and call here.
"""

from __future__ import annotations

from typing import final

from protocol.clock import SYSTEM_CLOCK, Clock
from protocol.ids import MemberId
from server.config import Config
from server.errors import RelayError
from server.storage import Storage

__all__ = ["DeviceLinks", "check_id"]


def check_id(text: str, code: str) -> str:
    """A 16-byte base64url id (22 characters), else the error ``code`` (a lookup's)."""
    if len(text) != 22 or not text.isascii() or not all(c.isalnum() or c in "-_" for c in text):
        raise RelayError("no such id", code=code)
    return text


@final
class DeviceLinks:
    """The relay's device-link offers: file one, claim one once."""

    def __init__(self, config: Config, storage: Storage, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._config = config
        self._storage = storage
        self._clock = clock

    async def offer(self, owner: MemberId, rendezvous: str, box: bytes) -> int:
        """File ``box`` under ``rendezvous`` for ``link_ttl`` seconds; return its expiry (ms).

        Raises:
            RelayError: ``link.exists``, ``link.too_many`` (see ``Storage.put_link``).
        """
        now = self._clock.now_ms()
        expires_at = now + self._config.link_ttl * 1000
        await self._storage.put_link(
            rendezvous,
            owner=owner,
            data=box,
            now=now,
            expires_at=expires_at,
            max_pending=self._config.link_max_pending,
        )
        return expires_at

    async def claim(self, rendezvous: str) -> bytes:
        """Hand out an offer's ciphertext once.

        Raises:
            RelayError: ``link.not_found``, ``link.used``, ``link.expired``.
        """
        return await self._storage.claim_link(
            check_id(rendezvous, "link.not_found"), now=self._clock.now_ms()
        )
