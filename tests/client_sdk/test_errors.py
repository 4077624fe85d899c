"""Errors at the SDK's boundary: our own types and codes, never httpx's or websockets'."""

from __future__ import annotations

from pathlib import Path

import pytest

from client_sdk import (
    ClientClosed,
    HearthClient,
    Identity,
    InviteError,
    RelayError,
    RelayUnavailable,
)
from client_sdk._invite_links import parse_invite
from protocol import HearthError, b64url_encode
from tests.client_sdk.conftest import free_port
from tests.protocol.builders import some_room_id


async def test_an_unreachable_relay_is_relay_unavailable(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with HearthClient(url, Identity.generate(), store_path=tmp_path / "a.db") as client:
        with pytest.raises(RelayUnavailable) as info:
            await client.create_group("nobody listens")
        assert info.value.code == "net.unavailable"
        with pytest.raises(RelayUnavailable):
            await client.join(f"{url}/join/{some_room_id()}#{b64url_encode(bytes(32))}")
        assert not client.online


async def test_closed_and_unopened_clients_say_so(tmp_path: Path) -> None:
    client = HearthClient("http://127.0.0.1:9", Identity.generate(), store_path=tmp_path / "a.db")
    with pytest.raises(ClientClosed) as info:
        await client.sync()
    assert info.value.code == "client.not_open"
    async with client:
        pass
    with pytest.raises(ClientClosed) as info:
        await client.sync()
    assert info.value.code == "client.closed"
    assert [e async for e in client.events()] == []


def test_a_malformed_relay_url_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="http"):
        HearthClient("relay.example", Identity.generate(), store_path=tmp_path / "a.db")


@pytest.mark.parametrize(
    "link",
    [
        "",
        "https://relay.example/join/short#abc",
        "https://relay.example/rooms/" + "A" * 32 + "#" + "A" * 43,
        "https://relay.example/join/" + "A" * 32,
        "https://relay.example/join/" + "A" * 32 + "#tooshort",
        "https://relay.example/join/" + "A" * 30 + "==#" + "A" * 43,
        "https://relay.example/join/" + "A" * 31 + "#" + "A" * 43,
        "https://relay.example/join/AAAAAAAAAAAAAAAAAAAAAA#tooshort",
    ],
)
def test_malformed_invite_links(link: str) -> None:
    with pytest.raises(InviteError) as info:
        parse_invite(link)
    assert info.value.code == "invite.malformed"


def test_a_link_of_protocol_version_1_is_refused_by_name() -> None:
    # Version 1 room ids were 22 random characters that bound to nothing.
    with pytest.raises(InviteError) as info:
        parse_invite("https://relay.example/join/" + "A" * 22 + "#" + "A" * 43)
    assert info.value.code == "invite.old_version"
    assert "version 1" in info.value.message
    assert "version 2" in info.value.message


def test_an_invite_link_carries_room_and_secret_in_the_fragment() -> None:
    room = some_room_id()
    secret = bytes(range(32))
    parsed_room, invite = parse_invite(f"https://relay.example/join/{room}#{b64url_encode(secret)}")
    assert parsed_room == room
    assert invite.secret == secret


def test_every_sdk_error_is_a_hearth_error() -> None:
    for kind in (ClientClosed, InviteError, RelayError, RelayUnavailable):
        assert issubclass(kind, HearthError)
    assert RelayError("x", code="rate.limited", status=429).retryable
    assert not RelayError("x", code="msg.not_member", status=422).retryable
