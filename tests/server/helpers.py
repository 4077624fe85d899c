"""Client-side helpers for the relay tests: keys, sessions, signed ops, raw requests.

Room logs, commits and messages come from ``tests.protocol.builders.Room`` (the same
builders the protocol suite uses); this module adds what a client of the relay does
on top: answer challenges (with proof of work), carry bearer tokens, and encode
wire values as JSON bodies.
"""

from __future__ import annotations

import base64
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec

from protocol import InviteKey, Policy, RoomKeys, sign_auth
from protocol.api import Challenge, ErrorBody, Session
from protocol.crypto import pow_solve
from protocol.encoding import from_json, to_json
from protocol.ids import member_key
from tests.protocol.builders import Room

__all__ = [
    "Clock",
    "Room",
    "b64",
    "error",
    "free_port",
    "headers",
    "login",
    "new_room",
    "post",
]


@dataclass
class Clock:
    """A relay clock tests can move (milliseconds since the Unix epoch)."""

    now: int = field(default_factory=lambda: time.time_ns() // 1_000_000)

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


def new_room(clock: Clock, policy: Policy | None = None, owner: str = "owner") -> Room:
    """A builders ``Room`` whose clock follows the relay's (invites expire by it)."""
    room = Room(policy=policy, owner=owner)
    room.now = clock.now
    return room


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def headers(*tokens: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + ",".join(tokens)}


async def post(
    client: httpx.AsyncClient, url: str, body: Any, *tokens: str, **kwargs: Any
) -> httpx.Response:
    """POST a wire value as JSON, with bearer tokens if given."""
    hdrs = {"Content-Type": "application/json", **(headers(*tokens) if tokens else {})}
    data = body if isinstance(body, bytes) else to_json(body)
    return await client.post(url, content=data, headers=hdrs, **kwargs)


def error(response: httpx.Response) -> ErrorBody:
    """The ``ErrorBody`` of a failed response (asserting it is one)."""
    return from_json(response.content, ErrorBody)


async def login(
    client: httpx.AsyncClient,
    keys: RoomKeys,
    *,
    create: bool = True,
    registration_token: str | None = None,
) -> Session:
    """Authenticate a room key; solve the proof of work when ``create``."""
    r = await post(client, "/v1/auth/challenge", {"key": keys.member})
    assert r.status_code == 200, r.text
    ch = from_json(r.content, Challenge)
    nonce = 0
    if create and ch.pow_difficulty:
        nonce = pow_solve(ch.challenge, member_key(keys.member), ch.pow_difficulty)
    sig = sign_auth(keys, origin=ch.origin, challenge=ch.challenge, expires_at=ch.expires_at)
    body: dict[str, Any] = {
        "key": keys.member,
        "challenge": b64(ch.challenge),
        "sig": b64(sig),
        "pow_nonce": nonce,
    }
    if registration_token is not None:
        body["registration_token"] = registration_token
    r = await post(client, "/v1/auth/session", body)
    assert r.status_code == 200, r.text
    return from_json(r.content, Session)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def decode(data: bytes | str, kind: type[Any]) -> Any:
    return msgspec.json.decode(data, type=kind)


__all__ += ["InviteKey", "decode"]
