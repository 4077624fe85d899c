"""Push on a real relay: registration, content-free delivery, coalescing, failures.

The relay runs in-process (its lifespan starts the notifier) over SQLite and
PostgreSQL; pushes go over real sockets to :mod:`tests.pushsink` on loopback. The
relay resolves push hosts through a resolver the test controls (``FakeDNS``): the
name ``push.test`` exists nowhere else, so a push that arrives proves the relay
connected to the address it checked, not to a second lookup of its own.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from protocol import SYSTEM_CLOCK, ManualClock
from protocol.api import MessageEvent
from protocol.ids import MemberId
from server.app import create_app, default_storage
from server.errors import RelayError
from server.presence import TTL_S, Presence
from server.push import BODY, Notifier, Schedule
from server.storage import PostgresStorage, PushTarget, Storage
from tests.pushsink import push_sink
from tests.server.backends import postgres_schema
from tests.server.conftest import Relay, lifespan, live_server, make_config
from tests.server.helpers import Room, create, error, join, send
from tests.server.test_storage import Opener, open_storage
from tests.server.test_stream import open_stream

__all__ = ["open_storage"]  # the fixture, imported for the storage tests below

PUSH = {
    "push_allowlist": ("push.test",),
    "push_allow_http": True,
    "push_allow_private": True,
    "push_delay": 0.0,
    "push_window": 3600.0,
}


class FakeDNS:
    """What each name resolves to, changeable mid-test; records every lookup."""

    def __init__(self, **answers: list[str]) -> None:
        self.answers = {k.replace("_", "."): v for k, v in answers.items()}
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.lookups.append(host)
        if host not in self.answers:
            raise OSError("no such name")
        return self.answers[host]


@asynccontextmanager
async def push_relay(
    tmp_path: Path, backend: dict[str, Any], clock: ManualClock, dns: FakeDNS, **changes: Any
) -> AsyncIterator[Relay]:
    config = make_config(tmp_path, **{**backend, **PUSH, **changes})
    storage = default_storage(config)
    app = create_app(config, storage, clock=clock, resolver=dns)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with (
        lifespan(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http,
    ):
        yield Relay(app, storage, http)


async def register(relay: Relay, room: Room, token: str, device: str, url: str) -> httpx.Response:
    return await relay.http.put(
        f"/v1/rooms/{room.room}/push/{device}",
        content=b'{"endpoint": "' + url.encode() + b'"}',
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


async def until(condition: Callable[[], Any], timeout: float = 15) -> None:
    """Poll a condition (bounded): for state the relay changes in the background."""
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.01)


async def group(relay: Relay, clock: ManualClock) -> tuple[Room, str, str]:
    """A room of owner and bob: (room, owner's token, bob's token)."""
    room, owner = await create(relay, clock)
    bob = await join(relay, room, owner, "bob")
    return room, owner, bob


# -- registration --------------------------------------------------------------


async def test_registration_is_checked(
    tmp_path: Path, backend: dict[str, Any], clock: ManualClock
) -> None:
    dns = FakeDNS(push_test=["127.0.0.1"])
    async with push_relay(tmp_path, backend, clock, dns, push_allowlist=()) as relay:
        room, _, bob = await group(relay, clock)
        r = await register(relay, room, bob, "phone", "https://push.test/b")
        assert (r.status_code, error(r).code) == (403, "push.disabled")
    changes = {"push_allow_private": False, "push_allow_http": False, "push_max_endpoints": 2}
    async with push_relay(tmp_path, backend, clock, dns, **changes) as relay:
        room, owner, bob = await group(relay, clock)
        bob_id = room.keys("bob").member

        async def refused(device: str, url: str, status: int, code: str) -> None:
            r = await register(relay, room, bob, device, url)
            assert (r.status_code, error(r).code) == (status, code), r.text

        await refused("phone", "https://push.test/b", 403, "push.endpoint_forbidden")  # loopback
        dns.answers["push.test"] = ["93.184.216.34", "::ffff:192.168.0.1"]
        await refused("phone", "https://push.test/b", 403, "push.endpoint_forbidden")
        dns.answers["push.test"] = ["93.184.216.34"]
        await refused("phone", "http://push.test/b", 403, "push.endpoint_forbidden")
        await refused("phone", "https://other.test/b", 403, "push.endpoint_forbidden")
        await refused("phone", "https://push.test/b#x", 400, "push.endpoint_invalid")
        await refused("bad.device", "https://push.test/b", 400, "request.invalid")
        await refused("d" * 65, "https://push.test/b", 400, "request.invalid")
        assert await relay.storage.push_targets([bob_id]) == []

        assert (await register(relay, room, bob, "phone", "https://push.test/1")).status_code == 204
        assert (
            await register(relay, room, bob, "tablet", "https://push.test/2")
        ).status_code == 204
        await refused("laptop", "https://push.test/3", 409, "push.too_many")
        # Replacing a device's endpoint is no new registration.
        assert (await register(relay, room, bob, "phone", "https://push.test/4")).status_code == 204
        targets = await relay.storage.push_targets([bob_id])
        assert [(t.device, t.endpoint) for t in targets] == [
            ("phone", "https://push.test/4"),
            ("tablet", "https://push.test/2"),
        ]
        headers = {"Authorization": f"Bearer {bob}"}
        for _ in range(2):  # idempotent
            r = await relay.http.delete(f"/v1/rooms/{room.room}/push/tablet", headers=headers)
            assert r.status_code == 204
        assert (
            await register(relay, room, bob, "laptop", "https://push.test/3")
        ).status_code == 204

        # Only a member registers under a room; a stranger learns nothing.
        other, stranger = await create(relay, clock)
        r = await register(relay, other, bob, "phone", "https://push.test/b")
        assert (r.status_code, error(r).code) == (404, "room.not_found")
        r = await relay.http.put(
            f"/v1/rooms/{room.room}/push/phone",
            content=b"{}",
            headers={"Authorization": f"Bearer {bob}", "Content-Type": "application/json"},
        )
        assert (r.status_code, error(r).code) == (400, "wire.malformed")
        del owner, stranger


# -- delivery ------------------------------------------------------------------


async def test_a_push_names_nothing_and_a_burst_is_one_push(
    tmp_path: Path, backend: dict[str, Any], clock: ManualClock
) -> None:
    dns = FakeDNS(push_test=["127.0.0.1"])
    async with push_sink() as sink, push_relay(tmp_path, backend, clock, dns) as relay:
        room, owner, bob = await group(relay, clock)
        url = sink.url("/b", host="push.test")
        assert (await register(relay, room, bob, "phone", url)).status_code == 204
        ack = await send(relay, room, "owner", owner, "a secret about my week")
        (push,) = await sink.wait_for("/b")
        assert (push.method, push.body) == ("POST", BODY)
        assert push.headers["host"] == f"push.test:{sink.port}"
        stored = await relay.storage.events_after(room.room, ack.seq - 1, 1)
        assert isinstance(stored[0], MessageEvent)
        ciphertext = stored[0].envelope.ciphertext
        for secret in (
            room.room,
            room.keys("owner").member,
            room.keys("bob").member,
            ack.id,
            base64.b64encode(ciphertext).decode(),
            base64.urlsafe_b64encode(ciphertext).decode().rstrip("="),
            "hearth",
            "phone",
        ):
            assert secret.encode().lower() not in push.raw.lower(), secret

        # A burst inside the window: coalesced into one push at the window's end.
        notifier = relay.app.state.notifier
        for i in range(3):
            await send(relay, room, "owner", owner, f"more {i}")

        async def coalesced() -> bool:
            return notifier.schedule.state(url)[0] is not None

        await until(coalesced)
        assert len(sink.at("/b")) == 1


async def test_keys_with_a_live_stream_are_not_woken(
    tmp_path: Path, backend: dict[str, Any], clock: ManualClock
) -> None:
    dns = FakeDNS(push_test=["127.0.0.1"])
    async with push_sink() as sink, push_relay(tmp_path, backend, clock, dns) as relay:
        room, _, bob = await group(relay, clock)
        bob_id = room.keys("bob").member
        url = sink.url("/b", host="push.test")
        assert (await register(relay, room, bob, "phone", url)).status_code == 204
        notifier = relay.app.state.notifier
        targets = await relay.storage.push_targets([bob_id])
        # Another instance holds a stream of bob's key.
        await relay.storage.set_presence("elsewhere", [bob_id], expires_at=clock.now_ms() + 60_000)
        assert await notifier.deliver(url, targets) == "skipped"
        assert sink.received == []
        clock.advance(61)  # that instance died without clearing: its record expires
        assert await notifier.deliver(url, targets) == "sent"
        await relay.storage.set_presence("elsewhere", [bob_id], expires_at=clock.now_ms() + 60_000)
        await relay.storage.clear_presence("elsewhere", [bob_id])
        assert await notifier.deliver(url, targets) == "sent"
        assert len(sink.at("/b")) == 2


@pytest.mark.parametrize("status", [404, 410])
async def test_a_gone_endpoint_is_dropped(
    tmp_path: Path, backend: dict[str, Any], clock: ManualClock, status: int
) -> None:
    dns = FakeDNS(push_test=["127.0.0.1"])
    async with push_sink() as sink, push_relay(tmp_path, backend, clock, dns) as relay:
        room, owner, bob = await group(relay, clock)
        bob_id = room.keys("bob").member
        sink.status["/b"] = status
        assert (
            await register(relay, room, bob, "phone", sink.url("/b", "push.test"))
        ).status_code == 204
        await send(relay, room, "owner", owner)
        await sink.wait_for("/b")

        async def dropped() -> bool:
            return await relay.storage.push_targets([bob_id]) == []

        await until(dropped)


async def test_failures_back_off_and_drop_the_endpoint(
    tmp_path: Path, backend: dict[str, Any], clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="hearth")
    dns = FakeDNS(push_test=["127.0.0.1"])
    changes = {"push_max_failures": 3, "push_retry_max": 0.05}
    async with push_sink() as sink, push_relay(tmp_path, backend, clock, dns, **changes) as relay:
        room, owner, bob = await group(relay, clock)
        bob_id = room.keys("bob").member
        sink.status["/b"] = 503
        assert (
            await register(relay, room, bob, "phone", sink.url("/b", "push.test"))
        ).status_code == 204
        await send(relay, room, "owner", owner)

        async def dropped() -> bool:
            return await relay.storage.push_targets([bob_id]) == []

        await until(dropped)
        assert len(sink.at("/b")) == 3  # the first try and two retries, then dropped
        # The logs say what happened, never where: an endpoint URL is a capability.
        assert "dropped a push endpoint (failing)" in caplog.text
        assert "refused: HTTP 503" in caplog.text
        for part in ("push.test", str(sink.port), "/b"):
            assert part not in caplog.text


async def test_redirects_are_not_followed(
    tmp_path: Path, backend: dict[str, Any], clock: ManualClock
) -> None:
    dns = FakeDNS(push_test=["127.0.0.1"])
    async with push_sink() as sink, push_relay(tmp_path, backend, clock, dns) as relay:
        room, _, bob = await group(relay, clock)
        sink.status["/b"] = 307
        sink.headers["/b"] = {"location": sink.url("/elsewhere")}
        url = sink.url("/b", "push.test")
        assert (await register(relay, room, bob, "phone", url)).status_code == 204
        targets = await relay.storage.push_targets([room.keys("bob").member])
        assert await relay.app.state.notifier.deliver(url, targets) == "failed"
        assert [p.path for p in sink.received] == ["/b"]


async def test_dns_rebinding_at_send_time_is_refused(
    tmp_path: Path, backend: dict[str, Any], clock: ManualClock
) -> None:
    """The name passed at registration, then turns to loopback: no connection is made."""
    dns = FakeDNS(push_test=["93.184.216.34"])
    async with (
        push_sink() as sink,
        push_relay(tmp_path, backend, clock, dns, push_allow_private=False) as relay,
    ):
        room, _, bob = await group(relay, clock)
        url = sink.url("/b", "push.test")
        assert (await register(relay, room, bob, "phone", url)).status_code == 204
        dns.answers["push.test"] = ["127.0.0.1"]
        targets = await relay.storage.push_targets([room.keys("bob").member])
        lookups = len(dns.lookups)
        with pytest.raises(RelayError) as info:
            await relay.app.state.notifier.deliver(url, targets)
        assert info.value.code == "push.endpoint_forbidden"
        assert len(dns.lookups) == lookups + 1  # looked up once, at send time
        assert sink.received == []


async def test_a_slow_endpoint_does_not_slow_sending(
    tmp_path: Path, backend: dict[str, Any], clock: ManualClock
) -> None:
    dns = FakeDNS(push_test=["127.0.0.1"])
    changes = {"push_timeout": 120.0, "push_window": 0.01}
    async with push_sink() as sink, push_relay(tmp_path, backend, clock, dns, **changes) as relay:
        room, owner, bob = await group(relay, clock)
        sink.hold.add("/b")
        assert (
            await register(relay, room, bob, "phone", sink.url("/b", "push.test"))
        ).status_code == 204
        await send(relay, room, "owner", owner)
        await sink.wait_for("/b")  # the push service now holds its answer
        async with asyncio.timeout(30):
            for i in range(10):
                await send(relay, room, "owner", owner, f"while the push hangs {i}")
        # One request in flight per endpoint: the hanging one is still the only one.
        assert len(sink.at("/b")) == 1
        sink.release.set()
        await sink.wait_for("/b", 2)  # what came meanwhile is pushed once it answered


def self_signed(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A certificate for ``name`` alone: (the server's context, a client trusting it)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "1", "-subj", f"/CN={name}", "-addext",
            f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


async def test_tls_names_the_host_while_connecting_to_the_checked_address(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Over https the relay dials the checked IP, yet TLS verifies the endpoint's name.

    The certificate is for ``push.test`` only: were the name missing from SNI and
    the certificate check (or the IP used there), verification would fail.
    """
    server_tls, client_tls = self_signed(tmp_path, "push.test")
    dns = FakeDNS(push_test=["127.0.0.1"])
    config = make_config(tmp_path, **{**PUSH, "push_allow_http": False})
    storage = default_storage(config)
    await storage.open()
    notifier = Notifier(
        config,
        storage,
        Presence(storage, enabled=True),
        lambda room: asyncio.sleep(0, result=[]),
        resolver=dns,
        transport=httpx.AsyncHTTPTransport(verify=client_tls),
    )
    notifier.start()
    try:
        async with push_sink(tls=server_tls) as sink:
            url = f"https://push.test:{sink.port}/b"
            target = PushTarget(MemberId("m" * 43), "phone", url)
            assert await notifier.deliver(url, [target]) == "sent"
            (push,) = sink.at("/b")
            assert push.headers["host"] == f"push.test:{sink.port}"
            assert push.body == BODY
            # The same endpoint by address: the certificate does not name it.
            by_ip = f"https://127.0.0.1:{sink.port}/b"
            config_ip = make_config(tmp_path, **{**PUSH, "push_allowlist": ("127.0.0.1",)})
            strict = Notifier(
                config_ip,
                storage,
                Presence(storage, enabled=True),
                lambda room: asyncio.sleep(0, result=[]),
                resolver=dns,
                transport=httpx.AsyncHTTPTransport(verify=client_tls),
            )
            strict.start()
            try:
                assert await strict.deliver(by_ip, [target]) == "failed"
            finally:
                await strict.stop()
            assert len(sink.at("/b")) == 1
    finally:
        await notifier.stop()
        await storage.close()


async def test_presence_is_shared_between_instances(open_storage: Opener) -> None:
    """One instance holds a stream of a key; another instance's notifier sees it."""
    here = await open_storage()
    there = await open_storage() if isinstance(here, PostgresStorage) else here
    member = MemberId("m" * 43)
    a, b = Presence(here, enabled=True), Presence(there, enabled=True)
    a.connected([member])
    a.connected([member])  # two streams of one key on one instance
    await a.flush()
    assert await there.present([member], now=SYSTEM_CLOCK.now_ms()) == {member}
    a.disconnected([member])
    await a.flush()
    assert await there.present([member], now=SYSTEM_CLOCK.now_ms()) == {member}  # one stream left
    b.connected([member])
    await b.flush()
    a.disconnected([member])
    await a.flush()
    assert await here.present([member], now=SYSTEM_CLOCK.now_ms()) == {member}  # still on b
    b.disconnected([member])
    await b.flush()
    assert await here.present([member], now=SYSTEM_CLOCK.now_ms()) == set()
    off = Presence(here, enabled=False)  # push off: nothing is tracked
    off.connected([member])
    await off.flush()
    assert await here.present([member], now=SYSTEM_CLOCK.now_ms()) == set()


# -- the schedule, without I/O ---------------------------------------------------


def target(member: str = "m1", device: str = "d", url: str = "https://p/1") -> PushTarget:
    return PushTarget(MemberId(member), device, url)


def schedule(**changes: Any) -> Schedule:
    settings: dict[str, Any] = {
        "delay": 1.0,
        "window": 30.0,
        "retry_max": 100.0,
        "max_failures": 4,
        "cap": 10,
        "rng": lambda: 1.0,
    }
    return Schedule(**{**settings, **changes})


def test_schedule_coalesces_a_burst_and_keeps_the_window() -> None:
    s = schedule()
    for t in (0.0, 0.2, 0.5):
        assert s.want(target(), t)
    assert s.want(target("m2"), 0.6)  # another key on the same endpoint shares the push
    assert s.next_due() == 1.0
    assert s.take_due(0.9) == []
    ((url, targets),) = s.take_due(1.0)
    assert (url, {t.member for t in targets}) == ("https://p/1", {"m1", "m2"})
    s.want(target(), 1.5)  # news while the push is in flight
    assert s.next_due() is None
    assert not s.done(url, "sent", 2.0)
    assert s.next_due() == 32.0  # the next push waits for the window
    s.want(target(), 3.0)
    assert s.next_due() == 32.0
    assert len(s.take_due(32.0)) == 1
    s.done(url, "sent", 32.5)
    assert s.next_due() is None  # nothing new: nothing scheduled


def test_schedule_skipped_pushes_do_not_use_the_window() -> None:
    s = schedule()
    s.want(target(), 0.0)
    s.take_due(1.0)
    s.done("https://p/1", "skipped", 1.0)
    s.want(target(), 2.0)
    assert s.next_due() == 3.0


def test_schedule_backs_off_exponentially_with_jitter_then_drops() -> None:
    draws = iter([1.0, 1.0, 0.5])
    s = schedule(rng=lambda: next(draws), retry_max=15.0)
    url = "https://p/1"
    s.want(target(), 0.0)
    now = 1.0
    expected_ceilings = [5.0, 10.0, 15.0]  # 5, 10, then capped at retry_max
    factors = [1.0, 1.0, 0.5]
    for ceiling, factor in zip(expected_ceilings, factors, strict=True):
        ((_, targets),) = s.take_due(now)
        assert not s.done(url, "failed", now, targets)
        due = s.next_due()
        assert due == now + ceiling * factor  # retried: the device still needs waking
        now = due
    ((_, targets),) = s.take_due(now)
    assert s.done(url, "failed", now, targets)  # the fourth failure in a row drops it
    assert len(s) == 0


def test_schedule_success_resets_failures_and_gone_drops() -> None:
    s = schedule()
    url = "https://p/1"
    s.want(target(), 0.0)
    ((_, targets),) = s.take_due(1.0)
    s.done(url, "failed", 1.0, targets)
    assert s.state(url)[1] == 1
    ((_, targets),) = s.take_due(s.next_due() or 0)
    s.done(url, "sent", 10.0)
    assert s.state(url)[1] == 0
    s.want(target(), 50.0)
    s.take_due(51.0)
    assert s.done(url, "gone", 51.0)
    assert len(s) == 0


def test_schedule_defers_without_counting_a_failure() -> None:
    s = schedule()
    url = "https://p/1"
    s.want(target(), 0.0)
    ((_, targets),) = s.take_due(1.0)
    assert not s.done(url, "deferred", 1.0, targets)  # the relay's storage failed
    assert s.state(url) == (6.0, 0)
    ((_, again),) = s.take_due(6.0)
    assert again == targets


def test_schedule_is_bounded() -> None:
    s = schedule(cap=2)
    assert s.want(target(url="https://p/1"), 0)
    assert s.want(target(url="https://p/2"), 0)
    assert s.want(target("m9", url="https://p/2"), 0)  # an endpoint already waiting
    assert not s.want(target(url="https://p/3"), 0)
    assert s.dropped == 1


# -- storage, on both backends ------------------------------------------------------


async def test_storage_keeps_registrations_and_presence(open_storage: Opener) -> None:
    a = await open_storage()
    m1, m2 = MemberId("m" * 43), MemberId("n" * 43)
    await a.put_push(m1, "phone", "https://p/1", ts=1, limit=2)
    await a.put_push(m1, "tablet", "https://p/2", ts=1, limit=2)
    await a.put_push(m2, "phone", "https://p/1", ts=1, limit=2)
    with pytest.raises(RelayError) as info:
        await a.put_push(m1, "laptop", "https://p/3", ts=1, limit=2)
    assert info.value.code == "push.too_many"
    await a.put_push(m1, "phone", "https://p/9", ts=2, limit=2)  # replaced, not added
    assert [(t.member, t.device, t.endpoint) for t in await a.push_targets([m1, m2, m1])] == [
        (m1, "phone", "https://p/9"),
        (m1, "tablet", "https://p/2"),
        (m2, "phone", "https://p/1"),
    ]
    # A drop names the endpoint it judged: a registration moved meanwhile stays.
    stale = [PushTarget(m1, "phone", "https://p/1"), PushTarget(m2, "phone", "https://p/1")]
    assert await a.drop_push("https://p/1", stale) == 1
    assert len(await a.push_targets([m1, m2])) == 2
    await a.delete_push(m1, "tablet")
    await a.delete_push(m1, "tablet")
    assert [t.device for t in await a.push_targets([m1])] == ["phone"]
    await a.forget_member(m1)
    assert await a.push_targets([m1]) == []

    await a.set_presence("i1", [m1, m2], expires_at=100)
    await a.set_presence("i2", [m1], expires_at=200)
    assert await a.present([m1, m2], now=50) == {m1, m2}
    assert await a.present([m1, m2], now=150) == {m1}
    await a.clear_presence("i2", [m1])
    assert await a.present([m1, m2], now=150) == set()
    assert await a.present([], now=0) == set()


async def test_many_members_are_looked_up(open_storage: Opener) -> None:
    a: Storage = await open_storage()
    members = [MemberId(f"{i:043d}") for i in range(1200)]
    for m in members[::100]:
        await a.put_push(m, "d", "https://p/" + m[-4:], ts=1, limit=5)
    assert len(await a.push_targets(members)) == 12


# -- two instances ----------------------------------------------------------------


async def test_a_stream_on_one_instance_silences_the_pushes_of_another(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Bob's stream is on instance A; owner writes through B, whose notifier sends."""
    async with postgres_schema() as (url, schema), AsyncExitStack() as stack:
        changes = {
            **PUSH,
            "push_allowlist": ("127.0.0.1",),  # an address: no lookup, the real resolver
            "database_url": url,
            "pubsub": "memory",
            "pubsub_channel": schema,
        }
        a, b = [
            await stack.enter_async_context(
                live_server(make_config(tmp_path / name, **changes), clock)
            )
            for name in ("a", "b")
        ]
        sink = await stack.enter_async_context(push_sink())
        room, owner = await create(a, clock)
        bob = await join(a, room, owner, "bob")
        carol = await join(a, room, owner, "carol")
        bob_id = room.keys("bob").member
        assert (await register(a, room, bob, "phone", sink.url("/b"))).status_code == 204
        assert (await register(a, room, carol, "phone", sink.url("/c"))).status_code == 204

        async def present() -> bool:
            return await b.storage.present([bob_id], now=clock.now_ms()) == {bob_id}

        async def absent() -> bool:
            return not await present()

        ws = await open_stream(a, bob)
        await until(present)  # A wrote it down where B looks
        await send(b, room, "owner", owner, "one")
        await sink.wait_for("/c")  # carol, offline, is woken by B ...
        with pytest.raises(TimeoutError):  # ... and bob, online on A, is not
            await sink.wait_for("/b", 1, timeout=1.0)
        await ws.close()
        await until(absent)
        await send(b, room, "owner", owner, "two")
        await sink.wait_for("/b")
        assert len(sink.at("/c")) == 1  # inside carol's window


async def test_presence_records_of_an_instance_share_one_expiry(open_storage: Opener) -> None:
    """Keys whose streams opened at different moments carry the same expiry: a record
    stamped with its own moment would group the keys one stream authenticated."""
    storage = await open_storage()
    clock = ManualClock()
    presence = Presence(storage, enabled=True, clock=clock)
    first = [MemberId("a" * 43), MemberId("b" * 43)]
    later = [MemberId("c" * 43), MemberId("d" * 43)]
    presence.connected(first)
    await presence.flush()
    clock.advance(7.5)  # another person's stream, seconds later
    presence.connected(later)
    await presence.flush()
    until = clock.now_ms() + int((TTL_S - 7.5) * 1000)
    assert await storage.present([*first, *later], now=until - 1) == {*first, *later}
    assert await storage.present([*first, *later], now=until) == set()  # all at once
