"""A Python SDK user that another language's tests drive, one JSON command per line.

The TypeScript SDK's cross-language tests (``js/sdk/test/interop.test.ts``) start a
real relay, then this script, and talk to it over stdin/stdout: each line in is a
command ``{"op": ..., ...}``, each line out is ``{"ok": true, "result": ...}`` or
``{"ok": false, "code": ..., "message": ...}`` with the SDK's stable error code. It is
a thin shell over the public ``client_sdk`` API, doing what a person would do in an
app, so that a conversation crosses languages through the relay for real.

    python tests/interop/peer.py --relay http://127.0.0.1:PORT --dir DIR [--phrase P]
        [--no-live] [--link CODE]

With ``--link`` the peer is a new device of someone else's: it begins the device link
``CODE`` and its first line is ``{"ok": true, "result": {"short_code": ...}}`` (or the
link's error, and it exits); ``{"op": "finish_link"}`` then waits for the other
device's confirmation, opens the linked client and answers ``{"phrase": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from client_sdk import (
    HearthClient,
    Identity,
    Message,
    MessageReceived,
    Room,
    SupportClaimed,
)
from protocol.errors import HearthError


def message_json(m: Message) -> dict[str, Any]:
    return {
        "id": m.id,
        "sender": m.sender,
        "text": m.text,
        "mine": m.mine,
        "reply_to": m.reply_to,
        "content_warning": m.content_warning,
        "edited": m.edited,
        "seq": m.seq,
    }


class Peer:
    """One person with the Python SDK: a client, and the rooms they are in."""

    def __init__(self, client: HearthClient) -> None:
        self.client = client
        self.received: list[MessageReceived] = []
        self.claimed: list[SupportClaimed] = []
        self.arrived = asyncio.Event()
        self.reader = asyncio.create_task(self._read_events())

    async def _read_events(self) -> None:
        async for event in self.client.events():
            if isinstance(event, MessageReceived):
                self.received.append(event)
            elif isinstance(event, SupportClaimed):
                self.claimed.append(event)
            self.arrived.set()  # any event: alarms, joins ... a waiter looks again

    async def _until(self, found: Callable[[], Any], timeout: float) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                result = found()
                if result is not None:
                    return result
                self.arrived.clear()
                await self.arrived.wait()

    def room(self, room_id: str) -> Room:
        return self.client.room(room_id)

    async def run(self, op: str, a: dict[str, Any]) -> Any:
        c = self.client
        if op == "me":
            return self.room(a["room"]).me
        if op == "create_group":
            room = await c.create_group(
                a["name"], rules=a.get("rules"), share_history=a.get("share_history", False)
            )
            return room.id
        if op == "create_program":
            return (await c.create_program(a["name"])).id
        if op == "invite":
            room = self.room(a["room"])
            return await room.create_invite(
                max_uses=a.get("max_uses", 5), expires_in=3600, role=a.get("role", "member")
            )
        if op == "join":
            return (await c.join(a["link"])).id
        if op == "accept_rules":
            return await self.room(a["room"]).accept_rules()
        if op == "send":
            room = self.room(a["room"])
            return await room.send(
                a["text"], reply_to=a.get("reply_to"), content_warning=a.get("content_warning")
            )
        if op == "wait_text":
            room_id, text = a["room"], a["text"]

            def seen() -> dict[str, Any] | None:
                for e in self.received:
                    if e.room_id == room_id and e.message.text == text:
                        return message_json(e.message)
                return None

            return await self._until(seen, a.get("timeout", 20))
        if op == "messages":
            return [message_json(m) for m in await self.room(a["room"]).messages(limit=200)]
        if op == "reveal":
            return message_json(await self.room(a["room"]).reveal(a["message"]))
        if op == "safety_number":
            return self.room(a["room"]).safety_number(a["member"])
        if op == "fingerprint":
            return str(self.room(a["room"]).fingerprint())
        if op == "members":
            return dict(self.room(a["room"]).members)
        if op == "status":
            return self.room(a["room"]).status
        if op == "alarms":
            return [{"kind": x.kind, "code": x.code} for x in self.room(a["room"]).alarms]
        if op == "wait_alarm":
            room_id, kind = a["room"], a["kind"]

            def raised() -> dict[str, Any] | None:
                for x in self.client.room(room_id).alarms:
                    if x.kind == kind:
                        return {"kind": x.kind, "code": x.code}
                return None

            return await self._until(raised, a.get("timeout", 20))
        if op == "epoch":
            return self.room(a["room"]).epoch
        if op == "rooms":
            return [room.id for room in c.rooms]
        if op == "rotate":
            await self.room(a["room"]).rotate()
            return None
        if op == "remove":
            await self.room(a["room"]).remove(a["member"])
            return None
        if op == "set_role":
            await self.room(a["room"]).set_role(a["member"], a["role"])
            return None
        if op == "sync":
            await c.sync()
            return None
        if op == "request_support":
            request = await self.room(a["room"]).request_support(a["text"])
            return request.id
        if op == "set_availability":
            room = self.room(a["room"])
            await room.set_availability(a["available"], max_open=a.get("max_open", 3))
            return None
        if op == "claim":
            return (await self.room(a["room"]).claim(a["request"])).id
        if op == "wait_claimed":
            request = a["request"]

            def claimed() -> str | None:
                for e in self.claimed:
                    if e.request_id == request and e.buddy_room_id is not None:
                        return e.buddy_room_id
                return None

            await self._until(claimed, a.get("timeout", 20))
            return (await self.room(a["room"]).buddy_chat(request)).id
        if op == "offer_device_link":
            self.link = await c.offer_device_link()
            return self.link.code
        if op == "link_code":
            return await self.link.claimant_code()
        if op == "confirm_link":
            await self.link.confirm()
            return None
        raise ValueError(f"unknown command {op!r}")


def reply(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


async def linked(args: argparse.Namespace, reader: asyncio.StreamReader) -> HearthClient | None:
    """A new device of someone else's: begin the link, show the short code, finish when told."""
    try:
        pending = await HearthClient.begin_device_link(
            args.relay, args.link, store_path=Path(args.dir) / "store.db", live=not args.no_live
        )
    except HearthError as exc:
        reply({"ok": False, "code": exc.code, "message": exc.message})
        return None
    reply({"ok": True, "result": {"short_code": pending.short_code}})
    while raw := await reader.readline():
        if json.loads(raw).get("op") != "finish_link":
            reply({"ok": False, "code": "ValueError", "message": "finish the link first"})
            continue
        try:
            return await pending.finish(timeout=60)
        except HearthError as exc:
            reply({"ok": False, "code": exc.code, "message": exc.message})
            return None
    return None


async def serve(args: argparse.Namespace) -> None:
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    if args.link:
        found = await linked(args, reader)
        if found is None:
            return
        opened = found
    else:
        identity = (
            Identity.from_recovery_phrase(args.phrase) if args.phrase else Identity.generate()
        )
        opened = HearthClient(
            args.relay, identity, store_path=directory / "store.db", live=not args.no_live
        )
    async with opened as client:
        peer = Peer(client)
        reply({"ok": True, "result": {"phrase": client.identity.recovery_phrase}})
        while raw := await reader.readline():
            command = json.loads(raw)
            op = command.pop("op")
            if op == "close":
                break
            try:
                result = await peer.run(op, command)
            except HearthError as exc:
                reply({"ok": False, "code": exc.code, "message": exc.message})
            except (TimeoutError, ValueError, KeyError) as exc:
                reply({"ok": False, "code": type(exc).__name__, "message": str(exc)})
            else:
                reply({"ok": True, "result": result})
        peer.reader.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relay", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--phrase")
    parser.add_argument(
        "--no-live", action="store_true", help="no live stream: every exchange is a sync"
    )
    parser.add_argument("--link", help="begin this device link code as a new device")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
