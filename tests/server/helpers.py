"""Client-side helpers for the relay tests: keys, sessions, signed ops, raw requests.

Room logs, commits and messages come from ``tests.protocol.builders.Room`` (the same
builders the protocol suite uses); this module adds what a client of the relay does
on top: answer challenges (with proof of work), carry bearer tokens, and encode
wire values as JSON bodies.
"""

from __future__ import annotations

import base64
import socket
from typing import Any

import httpx
import msgspec

from protocol import InviteKey, ManualClock, Policy, RoomKeys, sign_auth
from protocol.api import AppendResult, Challenge, ErrorBody, LogPage, MessageAck, Session
from protocol.crypto import PERSON_OP_HASH, blake2b, pow_solve
from protocol.encoding import canonical, from_json, to_json
from protocol.ids import member_key
from protocol.messages import Envelope
from tests.protocol.builders import Room

__all__ = [
    "InviteKey",
    "Room",
    "append",
    "b64",
    "create",
    "decode",
    "digest",
    "error",
    "free_port",
    "headers",
    "join",
    "login",
    "new_room",
    "post",
    "send",
]


def new_room(clock: ManualClock, policy: Policy | None = None, owner: str = "owner") -> Room:
    """A builders ``Room`` whose clock follows the relay's (invites expire by it)."""
    room = Room(policy=policy, owner=owner)
    room.now = clock.now_ms()
    return room


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def digest(envelope: Envelope) -> bytes:
    """The digest the relay stores with a message (as ``Relay.send`` computes it)."""
    return blake2b(canonical(envelope), person=PERSON_OP_HASH)


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


# -- rooms on a relay -----------------------------------------------------------


async def create(relay: Any, clock: ManualClock, policy: Policy | None = None) -> tuple[Room, str]:
    room = new_room(clock, policy)
    token = (await login(relay.http, room.keys("owner"))).token
    r = await post(relay.http, "/v1/rooms", room.log.ops[0], token)
    assert r.status_code == 201, r.text
    result = from_json(r.content, AppendResult)
    assert (result.room, result.index, result.seq) == (room.room, 0, 1)
    assert result.head == room.log.head
    return room, token


async def append(relay: Any, room: Room, op: Any, token: str) -> Any:
    return await post(relay.http, f"/v1/rooms/{room.room}/log", op, token)


async def join(relay: Any, room: Room, owner_token: str, name: str) -> str:
    """Invite ``name`` (by the owner), read the log with the invite, join; return its token."""
    invite = InviteKey.generate()
    op = room.invite("owner", invite, apply=False)
    assert (await append(relay, room, op, owner_token)).status_code == 200
    room.apply(op)
    keys = room.keys(name)
    token = (await login(relay.http, keys, create=False)).token
    proof = invite.prove_read(room=room.room, reader=keys.member, at=room.now)
    body = {
        "invite_key": b64(invite.public),
        "reader": keys.member,
        "at": room.now,
        "sig": b64(proof),
    }
    r = await post(relay.http, f"/v1/rooms/{room.room}/invite-log", body, token)
    assert r.status_code == 200, r.text
    assert from_json(r.content, LogPage).ops == list(room.log.ops)
    op = room.join(name, invite, apply=False)
    r = await append(relay, room, op, token)
    assert r.status_code == 200, r.text
    room.apply(op)
    return token


async def send(relay: Any, room: Room, name: str, token: str, text: str = "hello") -> MessageAck:
    """Seal a text message from ``name`` and send it over HTTP; return the ack."""
    envelope = room.send(name, text)
    r = await post(relay.http, f"/v1/rooms/{room.room}/messages", envelope, token)
    assert r.status_code == 200, r.text
    ack = from_json(r.content, MessageAck)
    assert ack.id == envelope.header.id
    return ack
