"""The Python side of the TypeScript SDK's tests: a Python SDK user on a real relay.

``js/sdk/test/peer.ts`` runs this with the relay's venv and talks to it in JSON
lines: one request on stdin, one answer on stdout, in order. It is a person using
the Python SDK (create a group, send a message) and a second opinion on the relay's
answers (how the Python SDK's transport names a refused sign-in), so the
TypeScript tests compare against the reference SDK itself rather than against codes
copied into them.

Requests (``{"op": ...}``) and answers:

- ``create {name}``: a new group; ``{room, member, seed}``, ``seed`` the hex of the
  creator's Ed25519 room key seed, so the TypeScript side can sign in as that member.
- ``send {room, text}``: a text message; ``{id}`` once the relay acknowledged it.
- ``refusal {case}``: a sign-in the relay must refuse, made with the Python SDK's
  transport; ``{code, status}`` of the ``RelayError`` it raised. Cases:
  ``bad_signature`` (signed by another key), ``reused`` (a challenge answered
  twice), ``expired`` (answered after its expiry; needs a relay with a short
  ``challenge_ttl``).
- ``quit``: close the client and exit.

A failure answers ``{error, code}`` and the peer keeps going.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from client_sdk import HearthClient, Identity, RelayError
from client_sdk._transport import Transport
from protocol import HearthError
from protocol.api import AuthRequest
from protocol.ids import RoomId
from protocol.signing import sign_auth
from tests.protocol.builders import some_room_id


async def _refusal(base_url: str, case: str) -> dict[str, Any]:
    transport = Transport(base_url, timeout=15.0)
    keys = Identity.generate().room_keys(some_room_id())
    signer = Identity.generate().room_keys(keys.room) if case == "bad_signature" else keys
    try:
        challenge = await transport.challenge(keys.member)
        if case == "expired":
            while time.time() * 1000 <= challenge.expires_at + 50:
                await asyncio.sleep(0.05)
        sig = sign_auth(
            signer,
            origin=challenge.origin,
            challenge=challenge.challenge,
            expires_at=challenge.expires_at,
        )
        request = AuthRequest(key=keys.member, challenge=challenge.challenge, sig=sig)
        await transport.session(request)
        if case == "reused":
            await transport.session(request)
    except RelayError as exc:
        return {"code": exc.code, "status": exc.status}
    finally:
        await transport.close()
    return {"error": "the relay took it", "code": None}


async def main(base_url: str) -> None:
    identity = Identity.generate()
    with tempfile.TemporaryDirectory(prefix="hearth-peer-") as tmp:
        async with HearthClient(
            base_url, identity, store_path=Path(tmp) / "peer.db", live=False
        ) as client:
            loop = asyncio.get_running_loop()
            reader = asyncio.StreamReader()
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
            _answer({"ready": True})
            while line := await reader.readline():
                request = json.loads(line)
                op = request["op"]
                if op == "quit":
                    break
                try:
                    if op == "create":
                        room = await client.create_group(request["name"])
                        keys = identity.room_keys(room.id)
                        _answer(
                            {
                                "room": room.id,
                                "member": keys.member,
                                "seed": bytes(keys.signing).hex(),
                            }
                        )
                    elif op == "send":
                        sent = await client.room(RoomId(request["room"])).send(request["text"])
                        _answer({"id": sent})
                    elif op == "refusal":
                        _answer(await _refusal(base_url, request["case"]))
                    else:
                        _answer({"error": f"unknown op {op!r}", "code": None})
                except HearthError as exc:
                    _answer({"error": exc.message, "code": exc.code})


def _answer(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
