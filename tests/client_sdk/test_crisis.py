"""Crisis lines (issue 7, item 9; issue 19, item 2) and the on-device draft check.

The relay runs with an operator's ``[[crisis]]`` list from a real TOML file, as
``hearth serve`` in its own process. The SDK's :class:`CrisisDirectory` shows its
built-in lines before any network, fetches the relay's list whole (a recording
proxy in front of the real relay shows the region is never sent), keeps it in a
file and reads it back after the relay stops; a damaged file falls back to the
built-in lines. The draft check is opt-in, and a test proves it sends nothing:
every way out of the process (sockets, name lookups, the SDK's HTTP client) is
made to fail while it runs, and it still answers.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from client_sdk import (
    CRISIS_PHRASES,
    DEFAULT_CRISIS_RESOURCES,
    EMERGENCY_ADVICE,
    CrisisDirectory,
    CrisisResource,
    HearthClient,
    Identity,
    RelayError,
    RelayUnavailable,
    StoreError,
    check_draft,
    fetch_crisis_directory,
    normalise_region,
)
from tests.client_sdk.conftest import RelayProcess, free_port
from tests.security.proxy import HostileProxy

CRISIS_TOML = """
[[crisis]]
name = "Samaritans"
regions = ["GB", "IE"]
phone = "116 123"
hours = "24/7"

[[crisis]]
name = "988 Suicide & Crisis Lifeline"
regions = ["US"]
phone = "988"
sms = "988"

[[crisis]]
name = "Befrienders Worldwide"
regions = ["*"]
url = "https://befrienders.org"
description = "Find a helpline in your country."
"""


@pytest.fixture
def crisis_relay(tmp_path: Path) -> Iterator[RelayProcess]:
    data = tmp_path / "relay-data"
    data.mkdir()
    config = tmp_path / "hearth.toml"
    config.write_text(CRISIS_TOML)
    process = RelayProcess(data, HEARTH_CONFIG=str(config))
    process.start()
    try:
        yield process
    finally:
        process.stop()


class Proxied:
    """The crisis relay behind a recording proxy: what reaches the relay is in ``requests``."""

    def __init__(self, relay: RelayProcess, proxy: HostileProxy) -> None:
        self.relay = relay
        self.proxy = proxy
        self.url = proxy.url


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[Proxied]:
    data = tmp_path / "relay-data"
    data.mkdir()
    config = tmp_path / "hearth.toml"
    config.write_text(CRISIS_TOML)
    proxy = HostileProxy()
    process = RelayProcess(data, HEARTH_CONFIG=str(config), HEARTH_ORIGIN=proxy.url)
    process.start()
    proxy.upstream = process.url
    await proxy.start()
    try:
        yield Proxied(process, proxy)
    finally:
        await proxy.stop()
        process.stop()


def _names(resources: list[CrisisResource]) -> list[str]:
    return [r.name for r in resources]


async def test_the_client_lists_the_operators_lines_then_the_sdks_by_region(
    crisis_relay: RelayProcess, tmp_path: Path
) -> None:
    async with HearthClient(
        crisis_relay.url, Identity.generate(), store_path=tmp_path / "me.db", live=False
    ) as client:
        gb = await client.crisis_resources(region="gb")
        # The operator's lines first; the SDK's Samaritans and Befrienders are the
        # operator's too (same name and number), so they appear once.
        assert _names(gb) == [
            "Samaritans",
            "Befrienders Worldwide",
            "Emergency services",
            "Find A Helpline",
        ]
        assert (gb[0].phone, gb[0].hours, gb[0].url) == ("116 123", "24/7", None)
        us = await client.crisis_resources(region="US")
        assert _names(us) == [
            "988 Suicide & Crisis Lifeline",
            "Befrienders Worldwide",
            "Emergency services",
            "Find A Helpline",
        ]
        assert us[0].sms == "988"
        fr = await client.crisis_resources(region="FR")
        assert [r.url for r in fr] == [
            "https://befrienders.org",
            None,
            "https://findahelpline.com",
        ]
        everything = await client.crisis_resources()
        assert len(everything) == 3 + len(DEFAULT_CRISIS_RESOURCES) - 3
        assert {"9-8-8: Suicide Crisis Helpline", "Lifeline Australia"} <= set(_names(everything))
        # A malformed region is refused on the device, before any request.
        with pytest.raises(ValueError, match="alpha-2"):
            await client.crisis_resources(region="France")


def test_before_any_network_the_built_in_lines_and_the_emergency_advice_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as cut:
        _cut_the_network(cut)
        directory = CrisisDirectory.load(tmp_path / "never-written.json")
        assert directory.relay_resources == ()
        assert directory.fetched_at is None
        gb = directory.for_region("gb")
        assert EMERGENCY_ADVICE in gb
        samaritans = next(r for r in gb if r.name == "Samaritans")
        assert (samaritans.phone, directory.regions_of(samaritans)) == ("116 123", ("GB", "IE"))
        us = directory.for_region("US")
        lifeline = next(r for r in us if r.phone == "988")
        assert (lifeline.name, lifeline.sms) == ("988 Suicide & Crisis Lifeline", "988")
        assert next(r for r in directory.for_region("ca") if r.phone == "988").url == (
            "https://988.ca"
        )
        assert next(r for r in directory.for_region("AU") if r.phone).phone == "13 11 14"
        # Somewhere the SDK knows no national line: the international ones and the advice.
        assert directory.for_region("FR") == [
            r for r in DEFAULT_CRISIS_RESOURCES if "*" in r.regions
        ]
        assert EMERGENCY_ADVICE.regions == ["*"]
        for number in ("112", "911", "999", "000"):
            assert number in EMERGENCY_ADVICE.description
        assert not any(directory.from_relay(r) for r in directory.resources)


async def test_an_unreachable_relay_raises_and_the_built_in_lines_stay(tmp_path: Path) -> None:
    cache = tmp_path / "crisis.json"
    with pytest.raises(RelayUnavailable):
        await fetch_crisis_directory(f"http://127.0.0.1:{free_port()}", cache=cache, timeout=5)
    assert not cache.exists()
    assert CrisisDirectory.load(cache).resources == DEFAULT_CRISIS_RESOURCES


async def test_the_list_is_fetched_whole_cached_and_used_offline_and_the_region_never_leaves(
    proxied: Proxied, tmp_path: Path
) -> None:
    cache = tmp_path / "app" / "crisis.json"
    cache.parent.mkdir()
    directory = await fetch_crisis_directory(proxied.url, cache=cache)
    # Whole: every line of the operator's, whatever the person's region will be.
    assert _names(list(directory.relay_resources)) == [
        "Samaritans",
        "988 Suicide & Crisis Lifeline",
        "Befrienders Worldwide",
    ]
    assert directory.relay_origin == proxied.url
    assert directory.fetched_at is not None
    assert all(directory.from_relay(r) for r in directory.relay_resources)
    assert _names(directory.for_region("US"))[:2] == [
        "988 Suicide & Crisis Lifeline",
        "Befrienders Worldwide",
    ]
    # The open client fetches the same way and filters on the device too.
    async with HearthClient(
        proxied.url, Identity.generate(), store_path=tmp_path / "me.db", live=False
    ) as client:
        assert _names(await client.crisis_resources(region="GB"))[0] == "Samaritans"
        assert _names(await client.crisis_resources(region="us"))[0] == (
            "988 Suicide & Crisis Lifeline"
        )
    # Three fetches reached the relay, each with an empty query string, and no
    # request of any kind named a region.
    crisis_requests = [r for r in proxied.proxy.requests if "/v1/crisis" in r]
    assert crisis_requests == ["GET /v1/crisis?"] * 3, proxied.proxy.requests
    for request in proxied.proxy.requests:
        assert "region" not in request.lower(), request

    # The relay stops: fetching fails, the saved list is still there, offline.
    await proxied.proxy.stop()
    proxied.relay.stop()
    with pytest.raises(RelayUnavailable):
        await fetch_crisis_directory(proxied.url, cache=cache, timeout=5)
    offline = CrisisDirectory.load(cache, relay_url=proxied.url)
    assert offline.relay_resources == directory.relay_resources
    assert offline.fetched_at == directory.fetched_at
    assert offline.for_region("gb") == directory.for_region("GB")
    assert [p.name for p in cache.parent.iterdir()] == ["crisis.json"]  # no temp file left
    # Saved for another relay: that relay's operator did not list these lines.
    elsewhere = CrisisDirectory.load(cache, relay_url="https://other-relay.example")
    assert elsewhere.resources == DEFAULT_CRISIS_RESOURCES


async def test_bad_relay_answers_raise_typed_errors_and_keep_the_saved_list(
    proxied: Proxied, tmp_path: Path
) -> None:
    cache = tmp_path / "crisis.json"
    await fetch_crisis_directory(proxied.url, cache=cache)
    saved = cache.read_bytes()

    async def garbage(method: str, path: str, status: int, body: bytes) -> bytes:
        return b'[{"name": "x", "regions": []}]'

    proxied.proxy.on_response = garbage
    with pytest.raises(RelayError) as bad:
        await fetch_crisis_directory(proxied.url, cache=cache)
    assert bad.value.code == "relay.bad_answer"

    async def refuse(method: str, path: str, body: bytes) -> tuple[int, bytes]:
        return 503, b'{"code": "internal", "message": "down for maintenance"}'

    proxied.proxy.reset()
    proxied.proxy.on_request = refuse
    with pytest.raises(RelayError) as down:
        await fetch_crisis_directory(proxied.url, cache=cache)
    assert (down.value.code, down.value.status) == ("internal", 503)
    assert cache.read_bytes() == saved
    assert len(CrisisDirectory.load(cache).relay_resources) == 3


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x00\xff\xfe not json",
        b'{"format": "hearth-crisis-cache", "version": 1, "relay": "http://x", "fetch',
        b"[]",
        b'{"format": "something-else", "version": 1, "relay": "", "fetched_at": 0,'
        b' "resources": []}',
        b'{"format": "hearth-crisis-cache", "version": 99, "relay": "", "fetched_at": 0,'
        b' "resources": []}',
        b'{"format": "hearth-crisis-cache", "version": 1, "relay": "", "fetched_at": 0,'
        b' "resources": [{"name": "x", "regions": ["GBR"], "phone": "1"}]}',
    ],
    ids=["empty", "binary", "truncated", "other-json", "other-format", "other-version", "invalid"],
)
def test_a_damaged_cache_falls_back_to_the_built_in_lines(tmp_path: Path, content: bytes) -> None:
    cache = tmp_path / "crisis.json"
    cache.write_bytes(content)
    directory = CrisisDirectory.load(cache)
    assert directory.relay_resources == ()
    assert directory.resources == DEFAULT_CRISIS_RESOURCES
    assert EMERGENCY_ADVICE in directory.for_region("NZ")


def test_an_unreadable_cache_or_an_unusable_relay_url_falls_back_too(tmp_path: Path) -> None:
    assert CrisisDirectory.load(tmp_path).resources == DEFAULT_CRISIS_RESOURCES  # a directory
    cache = tmp_path / "crisis.json"
    line = CrisisResource(name="Line", regions=["GB"], phone="1")
    CrisisDirectory([line], relay_origin="https://relay.example", fetched_at=1.0).save(cache)
    assert CrisisDirectory.load(cache).relay_resources == (line,)
    assert CrisisDirectory.load(cache, relay_url="not a url").resources == (
        DEFAULT_CRISIS_RESOURCES
    )


def test_each_lines_regions_are_exposed_and_duplicates_merge() -> None:
    relay = [
        CrisisResource(name="  samaritans ", regions=["gb", "GB", "ie"], phone="116123"),
        CrisisResource(name="Regional line", regions=["de", "AT"], phone="555 0100"),
        CrisisResource(name="Regional line", regions=["CH"], phone="555 0199"),
    ]
    directory = CrisisDirectory(relay, relay_origin="https://relay.example")
    # The operator's Samaritans replaces the SDK's (same name and number, however
    # written); two lines of one name and different numbers both stay.
    assert [r.name for r in directory.resources if "amaritans" in r.name] == ["  samaritans "]
    assert len(directory.resources) == 3 + len(DEFAULT_CRISIS_RESOURCES) - 1
    assert [directory.regions_of(r) for r in relay] == [("GB", "IE"), ("DE", "AT"), ("CH",)]
    assert directory.regions_of(EMERGENCY_ADVICE) == ("*",)
    assert directory.regions == ("AT", "AU", "CA", "CH", "DE", "GB", "IE", "US")
    assert [r.phone for r in directory.for_region("at") if r.phone] == ["555 0100"]
    assert directory.for_region("ie")[0] is relay[0]
    assert directory.from_relay(relay[0])
    assert not directory.from_relay(DEFAULT_CRISIS_RESOURCES[-1])
    assert directory.for_region(None) == list(directory.resources)


@pytest.mark.parametrize("region", ["", "G", "GBR", "*", "G1", "\u00c9S", " gb"])
def test_a_region_is_two_ascii_letters(region: str) -> None:
    with pytest.raises(ValueError, match="alpha-2"):
        normalise_region(region)
    with pytest.raises(ValueError, match="alpha-2"):
        CrisisDirectory().for_region(region)
    assert normalise_region("gB") == "GB"
    assert normalise_region(None) is None


def test_saving_is_atomic_and_a_failed_save_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "crisis.json"
    first = CrisisDirectory(
        [CrisisResource(name="Line one", regions=["GB"], phone="1")],
        relay_origin="https://relay.example",
        fetched_at=1.0,
    )
    first.save(cache)
    second = CrisisDirectory(
        [CrisisResource(name="Line two", regions=["GB"], phone="2")],
        relay_origin="https://relay.example",
        fetched_at=2.0,
    )

    def fail(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as broken:
        broken.setattr(os, "replace", fail)
        with pytest.raises(StoreError) as failed:
            second.save(cache)
    assert failed.value.code == "store.io"
    assert os.listdir(tmp_path) == ["crisis.json"]  # the temp file is gone
    assert _names(list(CrisisDirectory.load(cache).relay_resources)) == ["Line one"]
    with pytest.raises(StoreError):
        second.save(tmp_path / "missing-folder" / "crisis.json")
    second.save(cache)
    loaded = CrisisDirectory.load(cache, relay_url="https://relay.example/")
    assert (_names(list(loaded.relay_resources)), loaded.fetched_at) == (["Line two"], 2.0)
    CrisisDirectory().save(cache)  # nothing fetched yet: it says so when read back
    empty = CrisisDirectory.load(cache)
    assert (empty.relay_resources, empty.relay_origin, empty.fetched_at) == ((), None, None)


def test_the_phrase_list_matches_whole_words_after_normalising() -> None:
    assert check_draft("I want to KILL MYSELF tonight").matches == ("kill myself",)
    assert check_draft("I can\u2019t go on like this").matches == ("cant go on",)
    assert check_draft("thinking about self-harm again").suggest
    found = check_draft("I don't want to be here anymore, I want to die")
    assert found.matches == ("want to die", "dont want to be here anymore")
    assert not check_draft("That film killed me, I laughed so much").suggest
    assert not check_draft("The overdosed plant needs less water").suggest
    assert not check_draft("").suggest
    assert all(p == " ".join(p.split()) and p == p.lower() for p in CRISIS_PHRASES)


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the code under test tried to reach the network")


def _cut_the_network(cut: pytest.MonkeyPatch) -> None:
    for name in ("connect", "connect_ex", "sendto", "sendall", "send"):
        cut.setattr(socket.socket, name, _refuse)
    cut.setattr(socket, "create_connection", _refuse)
    cut.setattr(socket, "getaddrinfo", _refuse)
    cut.setattr(httpx.AsyncClient, "send", _refuse)


async def test_the_draft_check_is_opt_in_and_sends_nothing(
    crisis_relay: RelayProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = Identity.generate()
    draft = "honestly everyone would be better off without me"
    async with HearthClient(
        crisis_relay.url, me, store_path=tmp_path / "me.db", live=False
    ) as client:
        assert not client.draft_check  # off by default
        assert not client.check_draft(draft).suggest
        await client.set_draft_check(True)
        # Fetch the resources while online, before anything is typed.
        resources = await client.crisis_resources(region="GB")

        with monkeypatch.context() as cut:
            _cut_the_network(cut)
            result = client.check_draft(draft)
            assert result.suggest
            assert result.matches == ("better off without me",)
            assert not client.check_draft("see you all on Thursday").suggest
            # The cut is real: the SDK's own request fails while it is in place.
            with pytest.raises(AssertionError, match="network"):
                await client.crisis_resources(region="GB")
        assert _names(resources)[:2] == ["Samaritans", "Befrienders Worldwide"]

    # The opt-in is this device's choice, kept in its store.
    async with HearthClient(
        crisis_relay.url, me, store_path=tmp_path / "me.db", live=False
    ) as again:
        assert again.draft_check
        await again.set_draft_check(False)
        assert not again.check_draft(draft).suggest


async def test_the_chosen_region_is_kept_on_the_device_encrypted_and_never_sent(
    crisis_relay: RelayProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = Identity.generate()
    async with HearthClient(
        crisis_relay.url, me, store_path=tmp_path / "me.db", live=False
    ) as client:
        assert client.crisis_region is None  # every region until the person chooses
        with pytest.raises(ValueError, match="alpha-2"):
            await client.set_crisis_region("GBR")
        with monkeypatch.context() as cut:
            # Choosing it sends nothing: the SDK's one way out (no stream: live=False)
            # refuses. Not the sockets: the store's thread wakes the loop through one.
            cut.setattr(httpx.AsyncClient, "send", _refuse)
            await client.set_crisis_region("gb")
        assert client.crisis_region == "GB"

    async with HearthClient(
        crisis_relay.url, me, store_path=tmp_path / "me.db", live=False
    ) as again:
        assert again.crisis_region == "GB"
        await again.set_crisis_region(None)
    async with HearthClient(
        crisis_relay.url, me, store_path=tmp_path / "me.db", live=False
    ) as third:
        assert third.crisis_region is None
