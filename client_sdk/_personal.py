"""The personal store's driver: documents kept locally, synced by compare-and-swap.

Each document (``rooms``, ``settings``, ``blocked``, ``notes``) lives in the local
store twice: ``base``, the version last read from the relay, and ``local``, what
this device has, ``dirty`` until the relay took it. A change is applied to
``local`` and saved first, so an edit made offline survives a restart; then it is
pushed: ``PUT`` with the base's version as ``expected``. On ``personal.conflict``
the relay's newer version is fetched, merged three-way (``protocol.personal.merge``:
``keep`` for notes, ``lww`` for the rest) into ``local``, and the push is retried.
A newer version announced by the relay (a ``personal`` frame on this store's own
websocket, or the index at sync) is fetched and merged the same way.

The store authenticates with its own key and its own HTTP pool and websocket, so
no request, connection or session of it is shared with a room key's: the relay
cannot tie the store to rooms through them (see docs/security.md for what timing
and addresses still tell).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Final, Protocol, TypeVar, final

from client_sdk._sessions import SignInPacer, sign_in
from client_sdk._store import Store
from client_sdk._transport import Transport
from client_sdk.errors import RelayError, RelayUnavailable
from client_sdk.events import Event, PersonalDataChanged
from protocol import crypto
from protocol.api import (
    AuthFrame,
    PersonalFrame,
    PersonalSubscribeFrame,
    PersonalWrite,
    ReadyFrame,
    Session,
)
from protocol.backoff import Backoff, Rng
from protocol.clock import SYSTEM_CLOCK, Clock
from protocol.encoding import canonical, from_msgpack
from protocol.errors import CryptoError, DecodeError, HearthError
from protocol.personal import (
    Document,
    Entry,
    MergeRule,
    PersonalKeys,
    merge,
    open_document,
    seal_document,
)

__all__ = ["DOCUMENTS", "PersonalHost", "PersonalSync"]

_log = logging.getLogger("client_sdk.personal")

T = TypeVar("T")

DOCUMENTS: Final[Mapping[str, MergeRule]] = {
    "rooms": "lww",
    "settings": "lww",
    "blocked": "lww",
    "notes": "keep",
}
"""Every personal document and its merge rule."""

_MAX_RETRIES: Final = 8
_MARGIN_MS: Final = 60_000


class PersonalHost(Protocol):
    """What the driver needs from the client."""

    def emit(self, event: Event) -> None:
        """Queue an event for the app."""
        ...

    def rooms_listed(self) -> None:
        """The ``rooms`` document changed: take up rooms it lists that we do not follow."""
        ...


def _decode(data: bytes) -> Document:
    return from_msgpack(data, Document) if data else Document()


@final
class PersonalSync:
    """One identity's personal store on one relay.

    ``clock`` stamps entries and judges the session's expiry; ``rng`` draws the
    reconnect delays (``reconnect_delay`` is the :class:`protocol.Backoff` bounds).
    """

    def __init__(
        self,
        keys: PersonalKeys,
        store: Store,
        transport: Transport,
        host: PersonalHost,
        *,
        timeout: float,
        reconnect_delay: tuple[float, float],
        pacer: SignInPacer | None = None,
        clock: Clock = SYSTEM_CLOCK,
        rng: Rng = random.random,
    ) -> None:
        self.keys = keys
        self.clock = clock
        """Where this store's stamps come from (notes stamp their creation by it too)."""
        self._pacer = pacer if pacer is not None else SignInPacer(clock=clock)
        self._store = store
        # The tie-breaking id this device stamps on its entries: derived, so the
        # device secret behind its per-room ids never leaves the device.
        self._device = crypto.kdf(
            store.device, b"personal", person=crypto.PERSON_ROOM_DEVICE, size=16
        )
        self._transport = transport
        self._host = host
        self._timeout = timeout
        self._reconnect_delay = reconnect_delay
        self._rng = rng
        self._session: Session | None = None
        self._lock = asyncio.Lock()
        self._ids = {keys.document_id(name): name for name in DOCUMENTS}

    # -- local reads and changes ---------------------------------------------------

    async def _state(self, name: str) -> tuple[int, Document, Document, bool]:
        found = await self._store.personal_load(name)
        if found is None:
            return 0, Document(), Document(), False
        version, base, local, dirty = found
        try:
            return version, _decode(base), _decode(local), dirty
        except DecodeError:
            # Only a damaged store gets here; start over from the relay's copy.
            return 0, Document(), Document(), False

    async def _save(
        self, name: str, version: int, base: Document, local: Document, dirty: bool
    ) -> None:
        await self._store.personal_save(
            name, version=version, base=canonical(base), local=canonical(local), dirty=dirty
        )

    async def document(self, name: str) -> Document:
        """This device's view of a document (including changes not yet pushed)."""
        _, _, local, _ = await self._state(name)
        return local

    async def change(self, name: str, values: Mapping[str, bytes | None]) -> None:
        """Set entries (``None`` removes one), save, and push if the relay answers.

        Offline, the change waits in the local store and is pushed at the next
        sync or reconnect.

        Raises:
            RelayError: The relay refused the document (``personal.quota``).
        """
        now = self.clock.now_ms()
        async with self._lock:
            version, base, local, _ = await self._state(name)
            entries = dict(local.entries)
            for key, value in values.items():
                old = entries.get(key)
                # A clock that went backwards must not lose a change to an older stamp.
                at = max(now, old.at + 1) if old is not None else now
                entries[key] = Entry(value=value, at=at, device=self._device)
            await self._save(name, version, base, Document(entries=entries), True)
        try:
            await self.push(name)
        except RelayUnavailable:
            pass  # offline: the change waits in the local store
        except RelayError as exc:
            if not exc.retryable:
                raise  # personal.quota: the app must know, the change stays local
            _log.info("personal change queued: %s", exc.code)

    # -- talking to the relay --------------------------------------------------------

    async def _token(self) -> str:
        session = self._session
        if session is not None and session.expires_at - self.clock.now_ms() > _MARGIN_MS:
            return session.token
        async with self._pacer.turn():
            session = self._session
            if session is not None and session.expires_at - self.clock.now_ms() > _MARGIN_MS:
                return session.token  # signed in while this call waited its turn
            self._session = await sign_in(self._transport, self.keys)
            return self._session.token

    async def authed(self, call: Callable[[str], Awaitable[T]]) -> T:
        """Run ``call`` with the store's token; sign in again once if it is refused."""
        try:
            return await call(await self._token())
        except RelayError as exc:
            if exc.code not in ("auth.invalid", "auth.expired"):
                raise
        self._session = None
        return await call(await self._token())

    async def push(self, name: str) -> None:
        """Write a dirty document, merging and retrying on ``personal.conflict``."""
        doc_id = self.keys.document_id(name)
        changed = False
        async with self._lock:
            for _ in range(_MAX_RETRIES):
                version, _, local, dirty = await self._state(name)
                if not dirty:
                    break
                box = seal_document(self.keys, doc_id, version + 1, local)
                write = PersonalWrite(expected=version, box=box)
                try:
                    info = await self.authed(
                        partial(self._transport.personal_put, doc=doc_id, write=write)
                    )
                except RelayError as exc:
                    if exc.code != "personal.conflict":
                        raise
                    changed |= await self._pull_locked(name)
                    continue
                await self._save(name, info.version, local, local, False)
                break
            else:
                raise RelayError("the document kept changing; try again", code="personal.conflict")
        self._announce(name, changed)

    async def pull(self, name: str) -> None:
        """Fetch a document if the relay holds a newer version, and merge it in."""
        async with self._lock:
            changed = await self._pull_locked(name)
        self._announce(name, changed)

    def _announce(self, name: str, changed: bool) -> None:
        if not changed:
            return
        self._host.emit(PersonalDataChanged(document=name))
        if name == "rooms":
            self._host.rooms_listed()

    async def _pull_locked(self, name: str) -> bool:
        """Merge the relay's current version in; True if this device's view changed."""
        doc_id = self.keys.document_id(name)
        try:
            remote = await self.authed(lambda t: self._transport.personal_get(t, doc_id))
        except RelayError as exc:
            if exc.code == "personal.not_found":
                return False
            raise
        version, base, local, dirty = await self._state(name)
        if remote.version <= version:
            if remote.version < version:
                _log.warning("the relay served an older version of a personal document")
            return False
        try:
            theirs = open_document(self.keys, doc_id, remote.version, remote.box)
        except CryptoError as exc:
            raise RelayError(
                "a personal document from the relay does not decrypt", code="relay.bad_answer"
            ) from exc
        merged = merge(base, local, theirs, rule=DOCUMENTS[name]) if dirty else theirs
        await self._save(name, remote.version, theirs, merged, merged != theirs)
        return merged != local

    async def sync(self) -> None:
        """Fetch every document the relay has newer, then push every local change."""
        index = await self.authed(self._transport.personal_index)
        for info in index.docs:
            name = self._ids.get(info.id)
            if name is None:
                continue  # a document of a newer SDK
            version, _, _, _ = await self._state(name)
            if info.version > version:
                await self.pull(name)
        for name in DOCUMENTS:
            _, _, _, dirty = await self._state(name)
            if dirty:
                await self.push(name)

    # -- live ----------------------------------------------------------------------

    async def follow(self) -> None:
        """Keep this store's websocket open: sync on connect, then fetch what changes."""
        backoff = Backoff(*self._reconnect_delay, rng=self._rng)
        while True:
            hint: float | None = None
            try:
                token = await self._token()
                ws = await self._transport.open_stream()
                try:
                    await ws.send(AuthFrame(tokens=[token]))
                    async with asyncio.timeout(self._timeout):
                        ready = await ws.recv()
                    if not isinstance(ready, ReadyFrame):
                        raise RelayError("the stream did not authenticate", code="auth.invalid")
                    await ws.send(PersonalSubscribeFrame(owner=self.keys.member))
                    backoff.reset()
                    await self._quietly(self.sync())
                    while True:
                        frame = await ws.recv()
                        if isinstance(frame, PersonalFrame):
                            await self._quietly(self._announced(frame))
                finally:
                    await ws.close()
            except asyncio.CancelledError:
                raise
            except HearthError as exc:
                _log.info("personal stream ended: %s", exc.code)
                if exc.code.startswith("auth."):
                    self._session = None
                if isinstance(exc, RelayError) and exc.code == "stream.shutdown":
                    hint = exc.retry_after  # the relay's restart: come back when it said
            except Exception:  # a bug must not end the reconnecting for good
                _log.exception("personal stream failed")
            await asyncio.sleep(backoff.next_delay(hint))

    @staticmethod
    async def _quietly(work: Awaitable[None]) -> None:
        """Run a sync step; a refusal of one document must not drop the stream.

        A refused write (``personal.quota``) stays local and is retried at the next
        change or reconnect; losing the relay ends the connection as usual.
        """
        try:
            await work
        except RelayError as exc:
            if exc.code.startswith("auth."):
                raise
            _log.info("personal sync refused: %s", exc.code)

    async def _announced(self, frame: PersonalFrame) -> None:
        name = self._ids.get(frame.id)
        if name is None or frame.owner != self.keys.member:
            return
        version, _, _, dirty = await self._state(name)
        if frame.version > version:
            await self.pull(name)
            _, _, _, dirty = await self._state(name)
        if dirty:
            await self.push(name)
