"""The timeline tells the truth: what happens to a room shows as lines in it, a
moderator's deletion leaves a trace, unblocking shows the room as it now is, and
restore and the connection state say what is so.

Each test reproduces a failure of issue 19: members and messages that vanished
without a word, an unblock that changed nothing on screen, a restore that said the
rooms were lost, "offline" on a first start with the relay up.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from textual.widgets import Label, Static

from client_sdk import HearthClient, Identity, MemberId, Message, MessageId, Room, RoomId
from hearth_chat.notices import Notice, interleave
from hearth_chat.onboarding import RestoreScreen
from hearth_chat.rooms import MainScreen
from tests.chat.conftest import (
    WAIT,
    click,
    create_identity,
    create_room,
    make_app,
    shows,
    timeline_lines,
    type_into,
    unlock,
    wait_for,
)
from tests.client_sdk.conftest import RelayProcess


def _has(lines: list[str], text: str) -> bool:
    return any(text in line for line in lines)


async def _message_in(room: Room, text: str) -> MessageId:
    """Wait until ``room`` (an SDK client's) has a message with ``text``; return its id."""
    async with asyncio.timeout(WAIT):
        while True:
            for message in await room.messages():
                if message.text == text:
                    return message.id
            await asyncio.sleep(0.05)


async def test_joins_roles_moderation_and_leaves_are_lines_in_the_timeline(
    relay: RelayProcess, tmp_path: Path
) -> None:
    app = make_app(relay, tmp_path / "ana", identity=Identity.generate())
    async with (
        app.run_test(size=(120, 40)) as pilot,
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "ben.db") as ben,
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "cal.db") as cal,
    ):
        await unlock(pilot)
        await create_room(pilot, "Circle")
        main = app.screen
        assert isinstance(main, MainScreen)
        room = main.room()
        assert room is not None
        ben_room = await ben.join(await room.create_invite())
        b = ben_room.me[:8]
        await wait_for(pilot, lambda: _has(timeline_lines(app), f"{b} joined"), "Ben joined")
        cal_room = await cal.join(await room.create_invite())
        c = cal_room.me[:8]
        await wait_for(pilot, lambda: _has(timeline_lines(app), f"{c} joined"), "Cal joined")

        await room.set_role(ben_room.me, "moderator")
        await wait_for(
            pilot, lambda: _has(timeline_lines(app), f"you made {b} a moderator"), "the role"
        )
        await wait_for(pilot, lambda: ben_room.role == "moderator", "Ben's client knows it")

        # A moderator's deletion: the message does not just vanish.
        await cal_room.send("rough night again")
        await wait_for(pilot, lambda: shows(app, "rough night again"), "Cal's message")
        await ben_room.delete(await _message_in(ben_room, "rough night again"))
        removed = f"a message from {c} was removed by a moderator ({b})"
        await wait_for(pilot, lambda: _has(timeline_lines(app), removed), "the deletion's trace")
        assert not shows(app, "rough night again")

        await ben_room.mute(cal_room.me, "cooling off")
        await wait_for(
            pilot, lambda: _has(timeline_lines(app), f"{b} muted {c}: cooling off"), "the mute"
        )
        await ben_room.remove(cal_room.me)
        await wait_for(
            pilot,
            lambda: _has(timeline_lines(app), f"{b} removed {c} from the room"),
            "the removal",
        )
        await ben_room.leave()
        await wait_for(pilot, lambda: _has(timeline_lines(app), f"{b} left"), "Ben left")

        # Opening the room again keeps its story, in order.
        before = [line.split(" · ", 1)[-1] for line in timeline_lines(app) if " · " in line]
        await main.open_room(room.id)
        after = [line.split(" · ", 1)[-1] for line in timeline_lines(app) if " · " in line]
        assert after == before
        assert before.index(removed) < before.index(f"{b} left")

    # And after a restart: the SDK keeps the log and the moderation the lines come from.
    again = make_app(relay, tmp_path / "ana")
    async with again.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        await wait_for(pilot, lambda: shows(again, "you: ") or timeline_lines(again), "the room")
        restarted = [line.split(" · ", 1)[-1] for line in timeline_lines(again) if " · " in line]
        assert restarted == before


async def test_unblocking_shows_their_messages_again(relay: RelayProcess, tmp_path: Path) -> None:
    app = make_app(relay, tmp_path / "fay", identity=Identity.generate())
    async with (
        app.run_test(size=(120, 40)) as pilot,
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "gus.db") as gus,
    ):
        await unlock(pilot)
        await create_room(pilot, "Evenings")
        main = app.screen
        assert isinstance(main, MainScreen)
        room = main.room()
        assert room is not None
        assert app.client is not None
        gus_room = await gus.join(await room.create_invite())
        await gus_room.send("made it through today")
        await wait_for(pilot, lambda: shows(app, "made it through today"), "Gus's message")

        # Block, then unblock, while the members list (F5) is open, as a person does there.
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.screen.query("#members"), "the members")
        await app.client.block(gus_room.me)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not shows(app, "made it through today"), "hidden")
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.screen.query("#members"), "the members")
        await app.client.unblock(gus_room.me)
        await pilot.press("escape")
        await wait_for(pilot, lambda: shows(app, "made it through today"), "shown again")


async def test_first_start_with_the_relay_up_never_says_offline(
    relay: RelayProcess, tmp_path: Path
) -> None:
    app = make_app(relay, tmp_path / "new")
    seen: set[str] = set()
    async with app.run_test(size=(120, 40)) as pilot:
        await create_identity(pilot)
        connection = app.screen.query_one("#connection", Static)

        def online() -> bool:
            text = str(connection.render())
            seen.add(text.split(" ")[1] if " " in text else text)
            return "online" in text

        await wait_for(pilot, online, "online")
    assert "offline" not in seen


async def test_restore_says_rooms_come_back_and_they_do(
    relay: RelayProcess, tmp_path: Path
) -> None:
    identity = Identity.generate()
    async with HearthClient(relay.url, identity, store_path=tmp_path / "old.db") as old:
        await old.create_group("Tuesday circle")
        await old.sync()  # publishes the encrypted list of rooms
    app = make_app(relay, tmp_path / "restored")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.query("#restore"), "the welcome screen")
        await click(pilot, "#restore")
        await wait_for(pilot, lambda: isinstance(app.screen, RestoreScreen), "restore")
        note = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "come back by themselves" in note
        assert "invite link" not in note
        await type_into(pilot, "#phrase", identity.recovery_phrase)
        await type_into(pilot, "#pass1", "correct horse battery")
        await type_into(pilot, "#pass2", "correct horse battery")
        await click(pilot, "#restore")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        await wait_for(
            pilot,
            lambda: any(
                "Tuesday circle" in str(label.render())
                for label in app.screen.query("#rooms Label").results(Label)
            ),
            "the room back in the list",
        )


def test_notices_stand_among_the_messages_by_time() -> None:
    start = datetime(2026, 1, 1, 20, 0, tzinfo=UTC)

    def message(minute: int) -> Message:
        at = start + timedelta(minutes=minute)
        return Message(
            id=MessageId(f"m{minute}"),
            room_id=RoomId("r"),
            sender=MemberId("s" * 43),
            text=f"at {minute}",
            sent_at=at,
            received_at=at,
        )

    early, between, late = (Notice(start + timedelta(minutes=m), f"n{m}") for m in (-1, 5, 20))
    lines = interleave([message(0), message(10)], [late, between, early])
    assert [getattr(line, "text", None) for line in lines] == [
        "n-1",
        "at 0",
        "n5",
        "at 10",
        "n20",
    ]
    assert interleave([], [late, early]) == [early, late]
