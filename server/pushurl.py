"""Push endpoint URLs: what a member may register, and where the relay may connect.

A push endpoint is a URL the relay will POST to, named by a client: the textbook
server-side request forgery. So every endpoint passes two checks, both here:

- :func:`parse_endpoint` (at registration and again before every delivery): an
  absolute ``https`` URL (``http`` only if the operator allows it), no userinfo,
  no fragment, at most :data:`MAX_ENDPOINT_CHARS`, whose host matches the
  operator's allowlist (``push.example`` exactly, or ``*.example`` for any name
  under it).
- :func:`resolve_checked` (at registration, and at every delivery, right before
  connecting): the host's addresses, every one of which must be public: no
  loopback, private, link-local, shared (CGNAT), multicast, reserved or unspecified
  address, in IPv4 or IPv6, including IPv4 hidden inside IPv6 (mapped, 6to4,
  NAT64, Teredo), unless the operator set ``push_allow_private``. The delivery
  then connects to the very address that was checked (``server.push``), so a name
  that resolves differently a second later (DNS rebinding) gains nothing.

The resolver is a parameter, so tests control what a name resolves to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, final
from urllib.parse import urlsplit

from server.errors import RelayError

__all__ = [
    "MAX_ENDPOINT_CHARS",
    "Endpoint",
    "Resolver",
    "address_allowed",
    "host_allowed",
    "parse_endpoint",
    "resolve_checked",
    "system_resolver",
]

MAX_ENDPOINT_CHARS: Final = 2048

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``(host, port)`` to the IP addresses (text) the name resolves to."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64: Final = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


@final
@dataclass(frozen=True, slots=True)
class Endpoint:
    """A push endpoint URL that passed the static checks."""

    url: str
    scheme: str
    host: str
    """Lower case, without brackets for an IPv6 literal."""
    port: int


def _invalid(message: str) -> RelayError:
    return RelayError(message, code="push.endpoint_invalid")


def _forbidden(message: str) -> RelayError:
    return RelayError(message, code="push.endpoint_forbidden")


def host_allowed(host: str, allowlist: Sequence[str]) -> bool:
    """Whether ``host`` matches a pattern: ``name`` exactly, or ``*.suffix`` below it."""
    host = host.lower().rstrip(".")
    for entry in allowlist:
        pattern = entry.lower().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def parse_endpoint(url: str, *, allowlist: Sequence[str], allow_http: bool) -> Endpoint:
    """Check an endpoint URL's form and host against the operator's settings.

    Raises:
        RelayError: ``push.endpoint_invalid`` (not a usable URL),
            ``push.endpoint_forbidden`` (a scheme or host the operator does not allow).
    """
    if len(url) > MAX_ENDPOINT_CHARS or not url.isascii() or not url.isprintable():
        raise _invalid(f"an endpoint is a printable ASCII URL of at most {MAX_ENDPOINT_CHARS}")
    if any(c.isspace() for c in url):
        raise _invalid("an endpoint URL has no spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise _invalid("the endpoint is not a URL") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not host:
        raise _invalid("an endpoint is an absolute https URL")
    if scheme == "http" and not allow_http:
        raise _forbidden("this relay sends push only over https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise _invalid("an endpoint URL carries no user name or password")
    if parts.fragment or url.endswith("#"):
        raise _invalid("an endpoint URL has no fragment")
    if not host_allowed(host, allowlist):
        raise _forbidden("this relay does not send push to that host")
    return Endpoint(
        url=url, scheme=scheme, host=host.lower(), port=port or (443 if scheme == "https" else 80)
    )


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def address_allowed(address: str | IPAddress, *, allow_private: bool) -> bool:
    """Whether the relay may connect to ``address`` (always, with ``allow_private``)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if allow_private:
        return True
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            candidates.append(inner)
    return all(
        c.is_global
        and not (
            c.is_private
            or c.is_loopback
            or c.is_link_local
            or c.is_multicast
            or c.is_reserved
            or c.is_unspecified
        )
        for c in candidates
    )


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer for ``host`` (every address, IPv4 and IPv6)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


async def resolve_checked(
    endpoint: Endpoint, *, resolver: Resolver, allow_private: bool, timeout: float
) -> str:
    """The address to connect to: the first the host resolves to, if every one is allowed.

    Every address must pass, not just the one used: a name that answers one public
    and one private address is refused, so no resolver ordering can slip through.

    Raises:
        RelayError: ``push.endpoint_invalid`` (the name does not resolve),
            ``push.endpoint_forbidden`` (it resolves to an address not allowed).
    """
    try:
        literal: IPAddress | None = ipaddress.ip_address(endpoint.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: Sequence[str] = [str(literal)]
    else:
        try:
            async with asyncio.timeout(timeout):
                addresses = await resolver(endpoint.host, endpoint.port)
        except (OSError, TimeoutError, UnicodeError) as exc:
            raise _invalid("the endpoint's host does not resolve") from exc
    if not addresses:
        raise _invalid("the endpoint's host does not resolve")
    for address in addresses:
        if not address_allowed(address, allow_private=allow_private):
            raise _forbidden("the endpoint's host is a loopback, private or reserved address")
    return str(ipaddress.ip_address(addresses[0]))
