"""Content-free push: wake a member's offline devices when their room has news.

When an event lands in a room, the relay that accepted it calls
:meth:`Notifier.notify` (a dictionary insert: the ingest path never waits for
push). A background task then finds the push registrations of the room's members
(``server.storage``), and :class:`Schedule` (plain state, no I/O) decides when
each endpoint gets its POST:

- Coalescing: an endpoint's first event waits ``push_delay`` seconds, so a burst
  becomes one push; after a push, the next goes out no sooner than ``push_window``
  seconds later, and then only if events arrived meanwhile. Pushes are per
  endpoint URL: keys that registered the same URL share it.
- Presence: right before sending, keys with a live stream on any instance
  (``server.presence``) are left out; if none is left, nothing is sent.
- Failures: a refused or failed delivery is retried after an exponential back-off
  with full jitter (capped at ``push_retry_max``); after ``push_max_failures``
  failures in a row, or at once on 404 or 410, the registrations are dropped.
- Bounds: at most ``push_queue_cap`` rooms and endpoints wait; past that new work
  is dropped (and counted in the log), never queued without bound.

The POST names nothing: its body is always :data:`BODY`, its headers fixed, no room,
member, sender or ciphertext. A Web Push endpoint (a browser's subscription,
registered with ``web_push``) gets :data:`WEB_PUSH_HEADERS` and an empty body
instead, with a VAPID token (:mod:`server.vapid`) whose claims are the endpoint's
origin, an expiry and the operator's contact: an empty body needs no RFC 8291
encryption and carries nothing. It goes to the address :mod:`server.pushurl` just
checked (``Host`` and TLS SNI carry the name), without following redirects, within
``push_timeout``, and the answer's body is never read. Logs never carry an
endpoint URL: it is a capability for waking someone's phone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import random
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Final, Literal, final

import httpx

from protocol.backoff import full_jitter
from protocol.clock import SYSTEM_CLOCK, Clock
from protocol.errors import HearthError
from protocol.ids import MemberId, RoomId
from server.config import Config
from server.errors import RelayError, StorageError
from server.presence import Presence
from server.pushurl import Resolver, parse_endpoint, resolve_checked, system_resolver
from server.storage import PushTarget, Storage
from server.vapid import Vapid, b64url_decode, new_private_key

__all__ = [
    "BODY",
    "HEADERS",
    "MAX_DEVICE_CHARS",
    "WEB_PUSH_HEADERS",
    "Notifier",
    "Outcome",
    "Schedule",
    "check_device",
]

BODY: Final = b'{"v":1}'
"""What every push carries: a fixed, opaque wake-up. The app then syncs."""

HEADERS: Final = {
    "content-type": "application/json",
    "ttl": "86400",
    "urgency": "normal",
    "topic": "sync",
    "user-agent": "push-sender",
}
"""Fixed headers (``TTL``, ``Urgency`` and ``Topic`` as in RFC 8030: a push
service keeps one pending wake-up per topic instead of a pile)."""

WEB_PUSH_HEADERS: Final = {
    "ttl": "86400",
    "urgency": "normal",
    "topic": "sync",
    "user-agent": "push-sender",
}
"""A Web Push's fixed headers: no body, so no content type or encoding; the relay
adds ``Authorization: vapid t=..., k=...`` (the same token for an hour)."""

MAX_DEVICE_CHARS: Final = 64

_BASE_RETRY_S: Final = 5.0
_CONCURRENCY: Final = 16

Outcome = Literal["sent", "gone", "failed", "skipped", "deferred"]
"""A delivery: delivered (2xx); gone (404/410, drop); failed (retry later, counts
towards dropping); skipped (every key had a live stream, nothing sent); deferred
(the relay's own storage failed: retry later, not the endpoint's fault)."""

_log = logging.getLogger("hearth.push")


@dataclass(slots=True)
class _Endpoint:
    waiting: dict[tuple[MemberId, str], PushTarget] = field(default_factory=dict)
    due: float | None = None
    in_flight: bool = False
    last_sent: float = -math.inf
    failures: int = 0
    retry_at: float = -math.inf


@final
class Schedule:
    """When each endpoint gets its next push: coalescing and back-off, without I/O.

    Times are seconds on any monotonic clock, passed in.
    """

    def __init__(
        self,
        *,
        delay: float,
        window: float,
        retry_max: float,
        max_failures: int,
        cap: int,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._delay = delay
        self._window = window
        self._retry_max = retry_max
        self._max_failures = max_failures
        self._cap = cap
        self._rng = rng
        self._endpoints: dict[str, _Endpoint] = {}
        self.dropped = 0
        """Wake-ups refused because the schedule was full."""

    def __len__(self) -> int:
        return len(self._endpoints)

    def state(self, url: str) -> tuple[float | None, int]:
        """An endpoint's (due time, failures in a row), for tests and diagnostics."""
        e = self._endpoints.get(url)
        return (e.due, e.failures) if e else (None, 0)

    def want(self, target: PushTarget, now: float) -> bool:
        """A registration's room has news; False if the schedule is full."""
        e = self._endpoints.get(target.endpoint)
        if e is None:
            if len(self._endpoints) >= self._cap:
                self.dropped += 1
                return False
            e = self._endpoints[target.endpoint] = _Endpoint()
        e.waiting[(target.member, target.device)] = target
        if e.due is None and not e.in_flight:
            e.due = self._next(e, now)
        return True

    def _next(self, e: _Endpoint, now: float) -> float:
        return max(now + self._delay, e.last_sent + self._window, e.retry_at)

    def next_due(self) -> float | None:
        """The earliest due time, if any push is scheduled."""
        return min((e.due for e in self._endpoints.values() if e.due is not None), default=None)

    def take_due(self, now: float) -> list[tuple[str, list[PushTarget]]]:
        """Endpoints whose time has come, with the registrations waiting on each."""
        out: list[tuple[str, list[PushTarget]]] = []
        for url, e in self._endpoints.items():
            if e.due is not None and e.due <= now:
                out.append((url, list(e.waiting.values())))
                e.waiting = {}
                e.due = None
                e.in_flight = True
        return out

    def done(
        self, url: str, outcome: Outcome, now: float, targets: Collection[PushTarget] = ()
    ) -> bool:
        """Record a delivery's outcome; True if the endpoint should be dropped."""
        e = self._endpoints.get(url)
        if e is None:
            return outcome == "gone"
        e.in_flight = False
        if outcome == "sent":
            e.last_sent = now
            e.failures = 0
            e.retry_at = -math.inf
        elif outcome == "failed":
            e.failures += 1
            if e.failures >= self._max_failures:
                del self._endpoints[url]
                return True
            # Full jitter: retries of many endpoints failing together spread out. The
            # attempt count is the endpoint's own, kept here across deliveries.
            e.retry_at = now + full_jitter(
                e.failures - 1, low=_BASE_RETRY_S, high=self._retry_max, rng=self._rng
            )
            for target in targets:  # the device still needs waking
                e.waiting.setdefault((target.member, target.device), target)
        elif outcome == "gone":
            del self._endpoints[url]
            return True
        elif outcome == "deferred":
            e.retry_at = max(e.retry_at, now + _BASE_RETRY_S)
            for target in targets:
                e.waiting.setdefault((target.member, target.device), target)
        if e.waiting:
            e.due = self._next(e, now)
        elif e.failures == 0 and e.last_sent + self._window <= now:
            del self._endpoints[url]  # nothing to remember
        return False

    def forget_idle(self, now: float) -> None:
        """Drop the memory of endpoints with nothing scheduled and a window long past."""
        for url in [
            u
            for u, e in self._endpoints.items()
            if e.due is None
            and not e.in_flight
            and not e.waiting
            and e.last_sent + self._window <= now
            and e.retry_at <= now
        ]:
            del self._endpoints[url]


MembersOf = Callable[[RoomId], Awaitable[Collection[MemberId]]]
"""A room's members now, per its verified log (empty if there is no such room)."""


@final
class Notifier:
    """Sends content-free pushes in the background; :meth:`notify` never waits."""

    def __init__(
        self,
        config: Config,
        storage: Storage,
        presence: Presence,
        members_of: MembersOf,
        *,
        resolver: Resolver = system_resolver,
        clock: Clock = SYSTEM_CLOCK,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._config = config
        self._storage = storage
        self._presence = presence
        self._members_of = members_of
        self._resolver = resolver
        self._clock = clock
        self._transport = transport
        self.schedule = Schedule(
            delay=config.push_delay,
            window=config.push_window,
            retry_max=config.push_retry_max,
            max_failures=config.push_max_failures,
            cap=config.push_queue_cap,
            rng=rng,
        )
        self._rooms: dict[RoomId, None] = {}
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(_CONCURRENCY)
        self._http: httpx.AsyncClient | None = None
        self._vapid: Vapid | None = None
        self._vapid_lock = asyncio.Lock()
        self.rooms_dropped = 0
        """Rooms whose news was not looked at because the queue was full."""

    @property
    def enabled(self) -> bool:
        """Whether the operator turned push on (a non-empty allowlist)."""
        return self._config.push_enabled

    def notify(self, room: RoomId) -> None:
        """An event landed in ``room``. Returns at once, never raises."""
        if self._task is None or room in self._rooms:
            return
        if len(self._rooms) >= self._config.push_queue_cap:
            self.rooms_dropped += 1
            return
        self._rooms[room] = None
        self._wake.set()

    # -- registrations ---------------------------------------------------------

    async def vapid(self) -> Vapid:
        """The VAPID signer: the configured key, else the storage's (made once).

        Raises:
            RelayError: ``push.disabled``.
            StorageError: the storage failed.
        """
        if not self.enabled:
            raise RelayError("this relay does not send push notifications", code="push.disabled")
        if self._vapid is None:
            async with self._vapid_lock:
                if self._vapid is None:
                    configured = self._config.push_vapid_key
                    key = (
                        b64url_decode(configured)
                        if configured
                        else await self._storage.vapid_secret(new_private_key())
                    )
                    # The ``sub`` claim: the operator's contact, else the relay's origin.
                    subject = self._config.push_contact or self._config.public_origin
                    self._vapid = Vapid(key, subject, clock=self._clock)
        return self._vapid

    async def register(
        self, member: MemberId, device: str, url: str, *, web_push: bool = False
    ) -> None:
        """Check an endpoint (form, allowlist, every address) and store it for ``device``.

        Raises:
            RelayError: ``push.disabled``, ``push.endpoint_invalid``,
                ``push.endpoint_forbidden``, ``push.too_many``, ``request.invalid``
                (a malformed device id).
        """
        config = self._config
        if not self.enabled:
            raise RelayError("this relay does not send push notifications", code="push.disabled")
        check_device(device)
        endpoint = parse_endpoint(
            url, allowlist=config.push_allowlist, allow_http=config.push_allow_http
        )
        await resolve_checked(
            endpoint,
            resolver=self._resolver,
            allow_private=config.push_allow_private,
            timeout=config.push_timeout,
        )
        await self._storage.put_push(
            member,
            device,
            url,
            ts=self._clock.now_ms(),
            limit=config.push_max_endpoints,
            web_push=web_push,
        )

    async def unregister(self, member: MemberId, device: str) -> None:
        """Remove ``device``'s endpoint (idempotent)."""
        check_device(device)
        await self._storage.delete_push(member, device)

    # -- the background task -------------------------------------------------

    def start(self) -> None:
        """Start the background task (idempotent; nothing runs while push is off)."""
        if not self.enabled or self._task is not None:
            return
        self._stopping.clear()
        # Never a proxy from the environment: it would connect where we did not check.
        self._http = httpx.AsyncClient(
            transport=self._transport,
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(self._config.push_timeout),
            limits=httpx.Limits(max_keepalive_connections=0),
        )
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="push")

    async def stop(self) -> None:
        """Stop: deliveries in flight are cancelled, scheduled ones forgotten."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self._wake.set()
        sends = list(self._sends)
        for send in sends:
            send.cancel()
        await asyncio.wait([task, *sends], timeout=5)
        if not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=5)
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        dropped = (0, 0)
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                await self._look_at_rooms(loop.time)
            except StorageError as exc:
                if exc.closed:
                    return
                _log.warning("push: rooms not looked at yet: %s", exc.message)
                with contextlib.suppress(TimeoutError):  # the room waits; try again soon
                    async with asyncio.timeout(_BASE_RETRY_S):
                        await self._stopping.wait()
            for url, targets in self.schedule.take_due(loop.time()):
                send = loop.create_task(self._deliver(url, targets), name="push-send")
                self._sends.add(send)
                send.add_done_callback(self._sends.discard)
            self.schedule.forget_idle(loop.time())
            if (self.rooms_dropped, self.schedule.dropped) != dropped:
                dropped = (self.rooms_dropped, self.schedule.dropped)
                _log.warning("push queue full: %d rooms, %d wake-ups dropped so far", *dropped)
            due = self.schedule.next_due()
            timeout = None if due is None else max(0.0, due - loop.time())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def _look_at_rooms(self, now: Callable[[], float]) -> None:
        while self._rooms and not self._stopping.is_set():
            room = next(iter(self._rooms))
            members = await self._members_of(room)
            targets = await self._storage.push_targets(sorted(members)) if members else []
            del self._rooms[room]  # only now: a storage failure above leaves it queued
            for target in targets:
                self.schedule.want(target, now())

    # -- one delivery ----------------------------------------------------------

    async def _deliver(self, url: str, targets: list[PushTarget]) -> None:
        loop = asyncio.get_running_loop()
        outcome: Outcome = "failed"
        try:
            async with self._slots:
                outcome = await self.deliver(url, targets)
        except asyncio.CancelledError:
            raise
        except StorageError as exc:
            outcome = "deferred"
            _log.warning("push delivery deferred: %s", exc.message)
        except HearthError as exc:
            _log.warning("push delivery failed: %s", exc.code)
        except Exception as exc:  # never let one delivery end the notifier
            _log.error("push delivery failed: %s", type(exc).__name__)
        finally:
            if not self._stopping.is_set():
                drop = self.schedule.done(url, outcome, loop.time(), targets)
                if drop:
                    await self._drop(url, targets, outcome)
                self._wake.set()

    async def _drop(self, url: str, targets: list[PushTarget], outcome: Outcome) -> None:
        try:
            await self._storage.drop_push(url, targets)
        except StorageError as exc:
            _log.warning("push endpoint not dropped: %s", exc.message)
            return
        reason = "gone" if outcome == "gone" else "failing"
        _log.info("dropped a push endpoint (%s) for %d registrations", reason, len(targets))

    async def deliver(self, url: str, targets: Collection[PushTarget]) -> Outcome:
        """Send one push to ``url`` for ``targets`` now, unless every key is online.

        Raises:
            RelayError: ``push.endpoint_forbidden`` / ``push.endpoint_invalid`` if the
                endpoint no longer passes the checks (the operator changed the
                allowlist, or its name now resolves to a forbidden address).
        """
        members = sorted({t.member for t in targets})
        online = await self._storage.present(members, now=self._clock.now_ms())
        if all(m in online for m in members):
            return "skipped"
        config = self._config
        endpoint = parse_endpoint(
            url, allowlist=config.push_allowlist, allow_http=config.push_allow_http
        )
        address = await resolve_checked(
            endpoint,
            resolver=self._resolver,
            allow_private=config.push_allow_private,
            timeout=config.push_timeout,
        )
        http = self._http
        if http is None:
            raise RelayError("push is stopped", code="internal")
        # Connect to the address just checked, naming the host in Host and SNI: a
        # second lookup (by the HTTP client) could answer something else.
        request_url = httpx.URL(url).copy_with(host=address)
        host_header = _host_header(endpoint.host, endpoint.port, endpoint.scheme)
        body, headers = BODY, {**HEADERS, "host": host_header}
        if any(t.web_push for t in targets):
            # A browser's push service refuses a body that is not RFC 8291-encrypted,
            # and needs the token of the key the browser subscribed with.
            vapid = await self.vapid()
            body = b""
            headers = {
                **WEB_PUSH_HEADERS,
                "host": host_header,
                "authorization": vapid.authorization(url),
            }
        try:
            async with asyncio.timeout(config.push_timeout):
                async with http.stream(
                    "POST",
                    request_url,
                    content=body,
                    headers=headers,
                    extensions={"sni_hostname": endpoint.host},
                ) as response:
                    status = response.status_code  # the body is never read
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            _log.info("push delivery failed: %s", type(exc).__name__)
            return "failed"
        if 200 <= status < 300:
            return "sent"
        if status in (404, 410):
            return "gone"
        _log.info("push delivery refused: HTTP %d", status)
        return "failed"


def check_device(device: str) -> None:
    """A device id is 1 to 64 characters of the base64url alphabet."""
    if not (
        0 < len(device) <= MAX_DEVICE_CHARS
        and device.isascii()
        and all(c.isalnum() or c in "-_" for c in device)
    ):
        raise RelayError(
            f"a device id is 1 to {MAX_DEVICE_CHARS} characters of A-Z a-z 0-9 - _",
            code="request.invalid",
        )


def _host_header(host: str, port: int, scheme: str) -> str:
    try:
        shown = f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        shown = host
    default = 443 if scheme == "https" else 80
    return shown if port == default else f"{shown}:{port}"
