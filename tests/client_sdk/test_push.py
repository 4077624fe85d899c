"""Push end to end: SDK clients, a ``hearth serve`` process, a real endpoint on loopback.

The relay runs as an operator would run it, with push turned on for loopback (the
operator's ``push_allow_private`` and ``push_allow_http``, which a test needs and
production does not). A device registers, goes offline, someone else writes: the
endpoint gets one POST per burst, and nothing in it says who, where or what.
While a device's stream is connected, no push is sent to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from client_sdk import HearthClient, MessageReceived, RelayError
from protocol.ids import b64url_encode
from tests.client_sdk.conftest import RelayProcess
from tests.client_sdk.test_client import OpenClient, group_of_three, open_client
from tests.pushsink import Push, PushSink, push_sink

__all__ = ["open_client"]  # the fixture, over the push-enabled relay below

BODY = b'{"v":1}'


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayProcess]:
    data = tmp_path / "relay-data"
    data.mkdir()
    process = RelayProcess(
        data,
        HEARTH_PUSH_ALLOWLIST="127.0.0.1",
        HEARTH_PUSH_ALLOW_PRIVATE="true",
        HEARTH_PUSH_ALLOW_HTTP="true",
        HEARTH_PUSH_DELAY="0.2",
        HEARTH_PUSH_WINDOW="3600",
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def first_push(
    sink: PushSink, path: str, send: Callable[[], Awaitable[object]], attempts: int = 10
) -> Push:
    """Send (``send()``) until ``path`` is pushed: the relay learns of a closed stream
    a moment after the client closed it, and only a stream it knows is gone counts."""
    for _ in range(attempts):
        await send()
        try:
            return (await sink.wait_for(path, 1, timeout=2))[0]
        except TimeoutError:
            continue
    raise AssertionError(f"no push at {path}")


async def no_push(sink: PushSink, path: str) -> None:
    """``path`` got nothing, and gets nothing in the next second.

    Called right after another endpoint's push for the same event arrived: the relay
    decides every device of one event at the same moment and sends them together,
    so a push to ``path`` would have landed within milliseconds of it.
    """
    with pytest.raises(TimeoutError):
        await sink.wait_for(path, 1, timeout=1.0)


def assert_content_free(push: Push, secrets: list[str]) -> None:
    assert (push.method, push.body) == ("POST", BODY)
    raw = push.raw.lower()
    for secret in secrets:
        assert secret.encode().lower() not in raw, secret


async def test_offline_devices_get_one_content_free_push_per_burst(
    open_client: OpenClient, relay: RelayProcess, tmp_path: Path
) -> None:
    (_, b, c), (ra, rb, rc), (_, wb, _) = await group_of_three(open_client)
    async with push_sink() as sink:
        with pytest.raises(RelayError) as refused:
            await rb.register_push("https://push.elsewhere.example/up")
        assert refused.value.code == "push.endpoint_forbidden"
        await rb.register_push(sink.url("/b"))
        await rc.register_push(sink.url("/c"))
        secrets = [ra.id, ra.me, rb.me, rc.me, "Anxiety circle", "evenings", "hearth"]
        await c.close()  # c is offline from now on; b stays connected

        texts: list[str] = []

        async def say() -> None:
            texts.append(f"a hard evening, part {len(texts)}")
            await ra.send(texts[-1])

        await first_push(sink, "/c", say)
        for text in texts:  # b was connected all along: it got the messages live ...
            await wb.wait(MessageReceived, lambda e, t=text: e.message.text == t)
        await no_push(sink, "/b")  # ... and no push

        await b.close()
        await first_push(sink, "/b", say)
        for _ in range(3):  # a burst: inside the window, no second push
            await say()
        assert len(sink.at("/b")) == 1
        assert len(sink.at("/c")) == 1
        for push in sink.received:
            assert_content_free(push, [*secrets, "hard evening", *texts])

    # Woken, the app syncs: everything said meanwhile is there.
    async with HearthClient(
        relay.url, b.identity, store_path=tmp_path / "b.db", live=False
    ) as woken:
        await woken.sync()
        got = [m.text for m in await woken.room(ra.id).messages(limit=100)]
        assert all(t in got for t in texts)


async def test_unregistered_devices_are_not_pushed(open_client: OpenClient) -> None:
    (_, b, c), (ra, rb, rc), _ = await group_of_three(open_client)
    async with push_sink() as sink:
        await b.register_push(lambda room: sink.url(f"/b/{room.id[:4]}"))
        await rc.register_push(sink.url("/c"))
        await rb.unregister_push()
        await b.close()
        await c.close()
        # c's push is the sign the relay handled the message (both would have been
        # sent together); b's registration is gone.
        await first_push(sink, "/c", lambda: ra.send("are you there?"))
        await no_push(sink, f"/b/{ra.id[:4]}")
        assert [p.path for p in sink.received] == ["/c"]


async def test_a_browser_subscription_gets_an_empty_push_signed_with_the_relay_key(
    open_client: OpenClient, relay: RelayProcess, tmp_path: Path
) -> None:
    (_, b, c), (ra, rb, rc), _ = await group_of_three(open_client)
    async with push_sink() as sink:
        key = await b.web_push_key()
        assert (len(key), key[0]) == (65, 4)
        await rb.register_push(sink.url("/browser"), web_push=True)
        await rc.register_push(sink.url("/phone"))
        secrets = [ra.id, ra.me, rb.me, rc.me]
        await b.close()
        await c.close()
        push = await first_push(sink, "/browser", lambda: ra.send("only for the group"))
        wake = (await sink.wait_for("/phone"))[0]
        assert (push.method, push.body) == ("POST", b"")
        scheme, _, params = push.headers["authorization"].partition(" ")
        assert scheme == "vapid"
        assert dict(p.strip().split("=", 1) for p in params.split(","))["k"] == (b64url_encode(key))
        assert_content_free(wake, secrets)
        for secret in (*secrets, "only for the group"):
            assert secret.encode() not in push.raw, secret
