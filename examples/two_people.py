"""Two people talk through a Hearth relay, end to end encrypted.

Start a relay first (``make serve``, or ``hearth serve --port 8080``), then::

    python examples/two_people.py --relay http://127.0.0.1:8080

Ana creates a buddy chat and an invite link; Ben joins with the link (only the
part after ``#`` is secret, and it never reaches the relay); they exchange a few
messages, each waiting for the other's through ``client.events()``; then both
compare the safety number for their pair of keys. The relay only ever sees
ciphertext. Stores and keystores go to ``--dir`` (a temporary directory by default);
run again with the same ``--dir``, it reuses them.
"""

# ruff: noqa: T201 - an example script prints what happens

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from client_sdk import HearthClient, Identity, MessageReceived, Room

CONVERSATION = [
    ("ana", "Hi Ben, I'm Ana. How has your week been?"),
    ("ben", "Honestly? Hard. I couldn't sleep before the exam."),
    ("ana", "That sounds exhausting. Want to try the breathing exercise together?"),
    ("ben", "Yes please. Thank you for being here."),
]


async def next_text(client: HearthClient, room: Room, timeout: float = 15) -> str:
    """Wait for the next message someone else sent in ``room``."""
    async with asyncio.timeout(timeout):
        async for event in client.events():
            if (
                isinstance(event, MessageReceived)
                and event.room_id == room.id
                and not event.message.mine
            ):
                return event.message.text
    raise RuntimeError("the client closed")


def identity(workdir: Path, name: str) -> Identity:
    """Load ``name``'s keystore from ``workdir``; the first time, create it.

    Each person keeps their root secret encrypted at rest under a passphrase. A
    second run with the same ``--dir`` loads the keys the first one made: their
    local stores there belong to those identities and open for no other.
    """
    path, passphrase = workdir / f"{name}.key", f"{name}'s long passphrase"
    if not path.exists():
        Identity.generate().save(path, passphrase, strength="interactive")
    return Identity.load(path, passphrase)


async def talk(relay: str, workdir: Path) -> None:
    ana, ben = identity(workdir, "ana"), identity(workdir, "ben")

    async with (
        HearthClient(relay, ana, store_path=workdir / "ana.db") as ana_client,
        HearthClient(relay, ben, store_path=workdir / "ben.db") as ben_client,
    ):
        ana_room = await ana_client.create_buddy_chat(
            "Ana & Ben", rules="What's said here stays here."
        )
        invite_link = await ana_room.create_invite(max_uses=1, expires_in=600)
        print(f"Ana's invite link: {invite_link.split('#')[0]}#<secret>")
        ben_room = await ben_client.join(invite_link)
        await ben_room.accept_rules()  # the SDK lets Ben post once he accepted the rules

        rooms = {"ana": (ana_client, ana_room), "ben": (ben_client, ben_room)}
        for speaker, text in CONVERSATION:
            listener = "ben" if speaker == "ana" else "ana"
            _, room = rooms[speaker]
            await room.send(text)
            heard = await next_text(*rooms[listener])
            print(f"{listener} read {speaker}: {heard}")

        print("Ben's copy, decrypted from his local store:")
        for message in await ben_room.messages(limit=10):
            who = "ben" if message.mine else "ana"
            print(f"  [{message.sent_at:%H:%M:%S}] {who}: {message.text}")
        print("Room name as Ben sees it:", ben_room.name or "(not yet received)")
        same = ana_room.safety_number(ben_room.me) == ben_room.safety_number(ana_room.me)
        print("Safety number:", ana_room.safety_number(ben_room.me))
        print("Both see the same safety number:", same)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relay", default="http://127.0.0.1:8080", help="the relay's URL")
    parser.add_argument("--dir", type=Path, help="where to keep stores (default: a temp dir)")
    args = parser.parse_args()
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        asyncio.run(talk(args.relay, args.dir))
        return
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(talk(args.relay, Path(tmp)))


if __name__ == "__main__":
    main()
