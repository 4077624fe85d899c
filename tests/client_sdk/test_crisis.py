"""Crisis resources and the on-device draft check (issue 7, item 9).

The relay runs with an operator's ``[[crisis]]`` list from a real TOML file; the
SDK fetches it by region. The draft check is opt-in, and a test proves it sends
nothing: every way out of the process (sockets, name lookups, the SDK's HTTP
client) is made to fail while it runs, and it still answers.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from client_sdk import (
    CRISIS_PHRASES,
    HearthClient,
    Identity,
    RelayError,
    check_draft,
)
from tests.client_sdk.conftest import RelayProcess

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


async def test_the_sdk_lists_the_operators_resources_by_region(
    crisis_relay: RelayProcess, tmp_path: Path
) -> None:
    async with HearthClient(
        crisis_relay.url, Identity.generate(), store_path=tmp_path / "me.db", live=False
    ) as client:
        gb = await client.crisis_resources(region="gb")
        assert [r.name for r in gb] == ["Samaritans", "Befrienders Worldwide"]
        assert (gb[0].phone, gb[0].hours) == ("116 123", "24/7")
        us = await client.crisis_resources(region="US")
        assert [r.name for r in us] == ["988 Suicide & Crisis Lifeline", "Befrienders Worldwide"]
        assert us[0].sms == "988"
        fr = await client.crisis_resources(region="FR")
        assert [r.url for r in fr] == ["https://befrienders.org"]
        assert len(await client.crisis_resources()) == 3
        with pytest.raises(RelayError) as bad:
            await client.crisis_resources(region="France")
        assert (bad.value.code, bad.value.status) == ("crisis.bad_region", 400)


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
    raise AssertionError("the draft check tried to reach the network")


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
            for name in ("connect", "connect_ex", "sendto", "sendall", "send"):
                cut.setattr(socket.socket, name, _refuse)
            cut.setattr(socket, "create_connection", _refuse)
            cut.setattr(socket, "getaddrinfo", _refuse)
            cut.setattr(httpx.AsyncClient, "send", _refuse)
            result = client.check_draft(draft)
            assert result.suggest
            assert result.matches == ("better off without me",)
            assert not client.check_draft("see you all on Thursday").suggest
            # The cut is real: the SDK's own request fails while it is in place.
            with pytest.raises(AssertionError, match="network"):
                await client.crisis_resources(region="GB")
        assert [r.name for r in resources] == ["Samaritans", "Befrienders Worldwide"]

    # The opt-in is this device's choice, kept in its store.
    async with HearthClient(
        crisis_relay.url, me, store_path=tmp_path / "me.db", live=False
    ) as again:
        assert again.draft_check
        await again.set_draft_check(False)
        assert not again.check_draft(draft).suggest
