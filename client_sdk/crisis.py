"""Crisis lines a person can reach at once: before any network, offline, on any relay.

A :class:`CrisisDirectory` is two lists: a built-in one that ships with the SDK
(:data:`DEFAULT_CRISIS_RESOURCES`, international directories, a few national
lines and the emergency-number advice), so that the very first start shows help
before anything was fetched; and the relay operator's list, fetched **whole**
from the public ``GET /v1/crisis`` by :func:`fetch_crisis_directory` (no identity,
no open client, no session token) and kept in a JSON file the app chooses.

The person's region is chosen and applied on this device
(:meth:`CrisisDirectory.for_region`) and never sent: the SDK has no way to pass
``?region=`` to the relay at all, so the relay cannot learn which country an
address asks about. A missing or damaged cache file is not an error: the
directory falls back to the built-in list, because a crisis screen must never
fail to show something.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Final, final

import msgspec

from client_sdk._transport import Transport, origin_of
from client_sdk.errors import StoreError
from protocol.api import CrisisResource
from protocol.clock import SYSTEM_CLOCK, Clock

__all__ = [
    "DEFAULT_CRISIS_RESOURCES",
    "EMERGENCY_ADVICE",
    "CrisisDirectory",
    "fetch_crisis_directory",
    "normalise_region",
]

# Where each fact below comes from (checked when this list was written; a wrong
# crisis number is harmful, so the list is short and holds only lines whose
# operators publish them as national or international services):
#
# - Emergency numbers: 112 is the single European emergency number in every EU
#   member state (Council Decision 91/396/EEC, now Article 109 of the European
#   Electronic Communications Code, Directive (EU) 2018/1972) and GSM/3GPP phones
#   treat it as an emergency number in most countries (3GPP TS 22.101); 911 in
#   the US and Canada (FCC, CRTC); 999 in the UK (Ofcom; 112 works there too);
#   000 in Australia (triplezero.gov.au).
# - Find A Helpline, https://findahelpline.com: ThroughLine's verified directory
#   of free helplines, searchable by country.
# - Befrienders Worldwide, https://befrienders.org: the international network of
#   emotional support centres founded by the Samaritans' founder; lists its
#   centres by country.
# - 988 Suicide & Crisis Lifeline (US), https://988lifeline.org: call or text 988,
#   24/7, since 16 July 2022 (SAMHSA; FCC designated 988 in July 2020).
# - 9-8-8: Suicide Crisis Helpline (Canada), https://988.ca: call or text 988,
#   24/7, English and French, since 30 November 2023 (Public Health Agency of
#   Canada and CAMH; CRTC decision 2022).
# - Samaritans (UK and Republic of Ireland), https://www.samaritans.org: free
#   from landlines and mobiles on 116 123, 24 hours a day, every day.
# - Lifeline Australia, https://www.lifeline.org.au: 13 11 14, 24/7 crisis
#   support and suicide prevention.

EMERGENCY_ADVICE: Final = CrisisResource(
    name="Emergency services",
    regions=["*"],
    description=(
        "If you or someone else is in immediate danger, call your local emergency "
        "number now: 112 across the EU and on most mobile phones, 911 in the US and "
        "Canada, 999 in the UK, 000 in Australia."
    ),
)
"""The emergency-number advice, for every region (no single number is right everywhere)."""

DEFAULT_CRISIS_RESOURCES: Final[tuple[CrisisResource, ...]] = (
    EMERGENCY_ADVICE,
    CrisisResource(
        name="Find A Helpline",
        regions=["*"],
        url="https://findahelpline.com",
        description="Free, confidential helplines in your country, by phone, text or chat.",
    ),
    CrisisResource(
        name="Befrienders Worldwide",
        regions=["*"],
        url="https://befrienders.org",
        description="Emotional support centres around the world: find one in your country.",
    ),
    CrisisResource(
        name="988 Suicide & Crisis Lifeline",
        regions=["US"],
        phone="988",
        sms="988",
        url="https://988lifeline.org",
        hours="24/7",
    ),
    CrisisResource(
        name="9-8-8: Suicide Crisis Helpline",
        regions=["CA"],
        phone="988",
        sms="988",
        url="https://988.ca",
        hours="24/7",
        description="In English and French.",
    ),
    CrisisResource(
        name="Samaritans",
        regions=["GB", "IE"],
        phone="116 123",
        url="https://www.samaritans.org",
        hours="24/7",
        description="Free to call.",
    ),
    CrisisResource(
        name="Lifeline Australia",
        regions=["AU"],
        phone="13 11 14",
        url="https://www.lifeline.org.au",
        hours="24/7",
    ),
)
"""The lines the SDK ships with, shown before (and besides) any relay's list."""

_FORMAT: Final = "hearth-crisis-cache"
_VERSION: Final = 1


class _CacheFile(msgspec.Struct, frozen=True, kw_only=True):
    """The cache file: the relay's list as fetched, and which relay and when."""

    format: str
    version: int
    relay: str | None
    """The relay's canonical origin (``https://relay.example``)."""
    fetched_at: float | None
    """Unix time of the fetch."""
    resources: list[CrisisResource]


def normalise_region(region: str | None) -> str | None:
    """``region`` as an upper-case ISO 3166-1 alpha-2 code, or None for every region.

    Raises:
        ValueError: ``region`` is not two ASCII letters.
    """
    if region is None:
        return None
    if len(region) != 2 or not (region.isascii() and region.isalpha()):
        raise ValueError(f"a region is an ISO 3166-1 alpha-2 code such as GB, not {region!r}")
    return region.upper()


def _key(resource: CrisisResource) -> tuple[str, str]:
    """Two entries for one line: the same name and number, however spaced or cased."""
    phone = "".join(c for c in resource.phone or "" if c.isalnum())
    return (" ".join(resource.name.split()).casefold(), phone)


@final
class CrisisDirectory:
    """The built-in crisis lines and a relay operator's, filtered on the device.

    Args:
        relay: The relay's list as fetched (empty: only the built-in lines).
        relay_origin: The relay it came from (``https://relay.example``), if any.
        fetched_at: Unix time of the fetch, if any.
        builtin: The lines shipped with the SDK (:data:`DEFAULT_CRISIS_RESOURCES`).

    The relay's lines come first, in the operator's order, then the built-in
    ones; a built-in line the operator also lists (same name and phone number,
    ignoring case and spacing) appears once, as the operator wrote it.
    """

    def __init__(
        self,
        relay: Iterable[CrisisResource] = (),
        *,
        relay_origin: str | None = None,
        fetched_at: float | None = None,
        builtin: Iterable[CrisisResource] = DEFAULT_CRISIS_RESOURCES,
    ) -> None:
        self.relay_resources: tuple[CrisisResource, ...] = tuple(relay)
        """The relay operator's lines, as fetched."""
        self.relay_origin = relay_origin
        """The relay they came from, or None."""
        self.fetched_at = fetched_at
        """When they were fetched (Unix time), or None: the built-in lines only."""
        seen: set[tuple[str, str]] = set()
        merged: list[CrisisResource] = []
        for resource in (*self.relay_resources, *builtin):
            key = _key(resource)
            if key not in seen:
                seen.add(key)
                merged.append(resource)
        self._resources = tuple(merged)
        self._from_relay = frozenset(_key(r) for r in self.relay_resources)

    @property
    def resources(self) -> tuple[CrisisResource, ...]:
        """Every line, the relay's first, without duplicates."""
        return self._resources

    @property
    def regions(self) -> tuple[str, ...]:
        """Every region code some line names, upper case and sorted (for a region picker)."""
        codes = {code for r in self._resources for code in self.regions_of(r) if code != "*"}
        return tuple(sorted(codes))

    def for_region(self, region: str | None) -> list[CrisisResource]:
        """The lines for ``region`` and those for everywhere (``"*"``); all of them for None.

        The emergency-number advice is a ``"*"`` line, so it is always there.
        This runs on the device: nothing is sent.

        Raises:
            ValueError: ``region`` is not two ASCII letters.
        """
        wanted = normalise_region(region)
        if wanted is None:
            return list(self._resources)
        return [r for r in self._resources if {wanted, "*"} & set(self.regions_of(r))]

    def alongside(
        self, lines: Iterable[CrisisResource], region: str | None
    ) -> list[CrisisResource]:
        """Someone else's ``lines`` first, then this device's for ``region``, each line once.

        For a program's help lines (:class:`client_sdk.RiskHelpShown`): they are
        shown beside the person's own lines, never instead, so the emergency-number
        advice and the lines for the region chosen on this device are always there.
        A line both lists appears once, as ``lines`` wrote it. Nothing is sent.

        Raises:
            ValueError: ``region`` is not two ASCII letters.
        """
        own = self.for_region(region)
        seen: set[tuple[str, str]] = set()
        out: list[CrisisResource] = []
        for resource in (*lines, *own):
            key = _key(resource)
            if key not in seen:
                seen.add(key)
                out.append(resource)
        return out

    @staticmethod
    def regions_of(resource: CrisisResource) -> tuple[str, ...]:
        """The regions a line serves, for display: upper-case codes, ``"*"`` for everywhere."""
        return tuple(dict.fromkeys(code.upper() for code in resource.regions))

    def from_relay(self, resource: CrisisResource) -> bool:
        """True if the relay's operator lists this line, False if only the SDK does."""
        return _key(resource) in self._from_relay

    # -- the cache file --------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the relay's list to ``path`` (JSON), atomically: a temp file, then a rename.

        A reader sees the old file or the new one, never half of one. Only the
        relay's lines are written: the built-in ones come from the SDK in use.

        Raises:
            StoreError: ``store.io`` if the file cannot be written.
        """
        record = _CacheFile(
            format=_FORMAT,
            version=_VERSION,
            relay=self.relay_origin,
            fetched_at=self.fetched_at,
            resources=list(self.relay_resources),
        )
        target = Path(path)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(msgspec.json.encode(record))
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StoreError(f"cannot write {target}: {exc.strerror}", code="store.io") from exc

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, relay_url: str | None = None) -> CrisisDirectory:
        """The directory saved at ``path``; the built-in lines alone if there is none.

        Never raises: a missing, unreadable or damaged file (or one saved for
        another relay than ``relay_url``, when given) yields the built-in lines,
        so a crisis screen always has something to show, offline and before
        sign-in.
        """
        try:
            record = msgspec.json.decode(Path(path).read_bytes(), type=_CacheFile)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return cls()
        if record.format != _FORMAT or record.version != _VERSION:
            return cls()
        if relay_url is not None:
            try:
                if origin_of(relay_url) != record.relay:
                    return cls()
            except ValueError:
                return cls()
        return cls(record.resources, relay_origin=record.relay, fetched_at=record.fetched_at)


async def fetch_crisis_directory(
    relay_url: str,
    *,
    cache: str | os.PathLike[str] | None = None,
    timeout: float = 15.0,
    clock: Clock = SYSTEM_CLOCK,
) -> CrisisDirectory:
    """Fetch the relay operator's whole crisis list; keep it in ``cache`` if given.

    No identity, sign-in or open :class:`~client_sdk.HearthClient` is needed, and
    no region is sent: the request is ``GET /v1/crisis`` with nothing but the path,
    and the region is applied afterwards with :meth:`CrisisDirectory.for_region`.

    Args:
        relay_url: The relay's base URL (``https://relay.example``).
        cache: A file to write the list to (:meth:`CrisisDirectory.save`), for
            :meth:`CrisisDirectory.load` to read back offline.
        timeout: Seconds for the whole request.
        clock: Where :attr:`CrisisDirectory.fetched_at` is read from.

    Raises:
        RelayUnavailable: The relay cannot be reached.
        RelayError: The relay refused (``rate.limited`` ...) or its answer is not a
            crisis list (``relay.bad_answer``).
        StoreError: ``store.io`` if ``cache`` cannot be written.
        ValueError: ``relay_url`` is not an http(s) URL.
    """
    transport = Transport(relay_url, timeout=timeout)
    try:
        resources = await transport.crisis()
    finally:
        await transport.close()
    directory = CrisisDirectory(
        resources, relay_origin=transport.origin, fetched_at=clock.now_ms() / 1000
    )
    if cache is not None:
        # A thread: the write ends in an fsync, which must not stall the event loop.
        await asyncio.to_thread(directory.save, cache)
    return directory
