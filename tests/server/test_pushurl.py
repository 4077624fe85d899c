"""Push endpoint checks: URL form, the operator's allowlist, and every resolved address."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from server.config import Config, ConfigError, load_config
from server.errors import RelayError
from server.pushurl import (
    Endpoint,
    address_allowed,
    host_allowed,
    parse_endpoint,
    resolve_checked,
)

ALLOW = ("push.example", "*.up.example")


def code_of(url: str, *, allow_http: bool = False) -> str:
    with pytest.raises(RelayError) as info:
        parse_endpoint(url, allowlist=ALLOW, allow_http=allow_http)
    return info.value.code


def test_a_well_formed_allowed_endpoint_parses() -> None:
    e = parse_endpoint("https://push.example/up/AbC?x=1", allowlist=ALLOW, allow_http=False)
    assert (e.scheme, e.host, e.port) == ("https", "push.example", 443)
    e = parse_endpoint("https://a.b.UP.example:8443/t", allowlist=ALLOW, allow_http=False)
    assert (e.host, e.port) == ("a.b.up.example", 8443)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://push.example/x", "push.endpoint_forbidden"),  # https only by default
        ("https://evil.example/x", "push.endpoint_forbidden"),  # not on the allowlist
        ("https://up.example/x", "push.endpoint_forbidden"),  # '*.up.example' is below only
        ("https://push.example.evil.example/x", "push.endpoint_forbidden"),
        ("https://xpush.example/x", "push.endpoint_forbidden"),
        ("https://127.0.0.1/x", "push.endpoint_forbidden"),
        ("ftp://push.example/x", "push.endpoint_invalid"),
        ("push.example/x", "push.endpoint_invalid"),
        ("https://user:pw@push.example/x", "push.endpoint_invalid"),
        ("https://push.example@evil.example/x", "push.endpoint_invalid"),
        ("https://push.example/x#frag", "push.endpoint_invalid"),
        ("https://push.example:99999/x", "push.endpoint_invalid"),
        ("https://push.example/ x", "push.endpoint_invalid"),
        ("https://push.example/\u00e9", "push.endpoint_invalid"),
        ("https://push.example/" + "a" * 2048, "push.endpoint_invalid"),
        ("https://[::1/x", "push.endpoint_invalid"),
    ],
)
def test_bad_endpoints_are_refused_with_a_code(url: str, code: str) -> None:
    assert code_of(url) == code


def test_http_only_where_the_operator_allows_it() -> None:
    e = parse_endpoint("http://push.example:8080/x", allowlist=ALLOW, allow_http=True)
    assert (e.scheme, e.port) == ("http", 8080)


def test_host_patterns() -> None:
    assert host_allowed("push.example.", ["PUSH.example"])
    assert host_allowed("x.up.example", ["*.up.example"])
    assert not host_allowed("up.example", ["*.up.example"])
    assert not host_allowed("push.example", [])


FORBIDDEN = [
    "127.0.0.1",
    "127.255.0.9",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # shared address space (CGNAT)
    "0.0.0.0",
    "224.0.0.1",
    "224.0.1.1",  # multicast that ipaddress calls global
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.10",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "ff0e::1",  # global-scope multicast
    "2001:db8::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "not an address",
]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_private_and_special_addresses_are_forbidden(address: str) -> None:
    assert not address_allowed(address, allow_private=False)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_allowed(address, allow_private=False)


def test_allow_private_allows_loopback() -> None:
    assert address_allowed("127.0.0.1", allow_private=True)
    assert address_allowed("::ffff:10.0.0.1", allow_private=True)


def resolver_of(answers: dict[str, list[str]], calls: list[str]) -> object:
    async def resolve(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        if host not in answers:
            raise OSError("no such name")
        return answers[host]

    return resolve


ENDPOINT = Endpoint(url="https://push.example/x", scheme="https", host="push.example", port=443)


async def check(answers: list[str] | None, *, allow_private: bool = False) -> str:
    calls: list[str] = []
    table = {} if answers is None else {"push.example": answers}
    return await resolve_checked(
        ENDPOINT,
        resolver=resolver_of(table, calls),  # type: ignore[arg-type]
        allow_private=allow_private,
        timeout=5,
    )


async def test_every_resolved_address_must_be_public() -> None:
    assert await check(["93.184.216.34", "2606:4700::1111"]) == "93.184.216.34"
    for mixed in (["93.184.216.34", "127.0.0.1"], ["10.0.0.1", "93.184.216.34"]):
        with pytest.raises(RelayError) as info:
            await check(mixed)
        assert info.value.code == "push.endpoint_forbidden"
    assert await check(["127.0.0.1"], allow_private=True) == "127.0.0.1"


async def test_a_name_that_does_not_resolve_is_invalid() -> None:
    for answers in (None, []):
        with pytest.raises(RelayError) as info:
            await check(answers)
        assert info.value.code == "push.endpoint_invalid"


async def test_an_address_literal_is_not_looked_up() -> None:
    calls: list[str] = []
    literal = Endpoint(url="https://[::1]/x", scheme="https", host="::1", port=443)
    with pytest.raises(RelayError) as info:
        await resolve_checked(
            literal,
            resolver=resolver_of({}, calls),  # type: ignore[arg-type]
            allow_private=False,
            timeout=5,
        )
    assert info.value.code == "push.endpoint_forbidden"
    assert calls == []


def test_config_reads_the_push_settings() -> None:
    config = load_config(
        env={
            "HEARTH_PUSH_ALLOWLIST": "push.example, *.up.example",
            "HEARTH_PUSH_ALLOW_PRIVATE": "true",
            "HEARTH_PUSH_WINDOW": "12.5",
        }
    )
    assert config.push_allowlist == ("push.example", "*.up.example")
    assert config.push_allow_private
    assert config.push_enabled
    assert config.push_window == 12.5
    assert not Config().push_enabled  # off unless the operator lists hosts
    with pytest.raises(ConfigError):
        Config(push_allowlist=("push example",))
    with pytest.raises(ConfigError):
        Config(push_allowlist=("https://push.example",))
    with pytest.raises(ConfigError):
        Config(push_window=0)
    with pytest.raises(ConfigError):
        Config(push_delay=-1)
