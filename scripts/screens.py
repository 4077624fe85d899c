"""Save SVG screenshots of the chat app's main screens into docs/screens (``make screens``).

Usage::

    python scripts/screens.py --out docs/screens

It starts its own relay (``hearth serve`` through the ``hearth`` dispatcher, on a
free port, in a temporary data directory), then drives real apps with Textual's
pilot, with real SDK clients playing the other people, and saves each screen
with ``App.save_screenshot``. The welcome screen shows crisis help before sign-in;
``timeline.svg`` shows the notices a moderator's deletion and removal leave in
the room. Room ids, keys and phrases are fresh on every run,
so the SVGs differ between runs; what they show does not. The one scene that is
not the outcome of real traffic is the security alarm: provoking one needs a
relay that cheats, so the alarm dialog is shown for an illustrative
``SecurityAlarm`` of kind ``withheld`` (it says so in docs/try-it.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from textual.events import Paste
from textual.pilot import Pilot
from textual.widgets import ListView, Static

from client_sdk import HearthClient, Identity, SecurityAlarm
from hearth_chat import HearthChat, Profile
from hearth_chat.dialogs import AlarmDialog
from hearth_chat.invite import InviteDialog
from hearth_chat.notices import NoticeItem
from hearth_chat.rooms import MainScreen, MessageItem, MessageList

SIZE = (110, 34)
_RATES = {
    f"HEARTH_RATE_{b}": "1000/5000"
    for b in ("SEND", "JOIN", "AUTH", "REGISTER", "SUBSCRIBE", "REQUEST")
}


_CRISIS = """
[[crisis]]
name = "Samaritans"
regions = ["GB", "IE"]
phone = "116 123"
hours = "24/7"
description = "Someone to talk to, any time, about anything"

[[crisis]]
name = "Find a Helpline"
regions = ["*"]
url = "https://findahelpline.com"
description = "Free, confidential support lines in many countries"
"""


@contextmanager
def relay(workdir: Path) -> Iterator[str]:
    """A relay on a free port for the duration of the block; yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    config = workdir / "hearth.toml"
    config.write_text(_CRISIS, "utf-8")
    env = {**os.environ, **_RATES, "HEARTH_POW_DIFFICULTY": "6", "HEARTH_CONFIG": str(config)}
    command = [sys.executable, "-c", "import sys; from hearth_cli import main; sys.exit(main())"]
    args = [
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(workdir / "relay"),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen([*command, *args], env=env)  # noqa: S603 - our own interpreter
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the relay did not start")
            time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)


async def until(pilot: Pilot[None], condition: Callable[[], object], what: str) -> None:
    """Run the app until ``condition()`` holds (at most 30 s)."""
    deadline = asyncio.get_running_loop().time() + 30
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def click(pilot: Pilot[None], selector: str) -> None:
    """Click once the widget is laid out on the current screen."""
    app = pilot.app
    await until(
        pilot,
        lambda: app.screen.query(selector) and app.screen.query(selector).first().region.area,
        selector,
    )
    if not await pilot.click(selector):
        raise RuntimeError(f"the click on {selector} missed")


async def paste(pilot: Pilot[None], selector: str, text: str) -> None:
    await click(pilot, selector)
    focused = pilot.app.focused
    assert focused is not None
    focused.post_message(Paste(text))
    await pilot.pause()


async def first_run(pilot: Pilot[None], out: Path | None) -> None:
    app = pilot.app
    await until(pilot, lambda: app.screen.query("#create"), "welcome")
    if out is not None:
        app.save_screenshot("welcome.svg", str(out))
    await click(pilot, "#create")
    await paste(pilot, "#pass1", "a long passphrase")
    await paste(pilot, "#pass2", "a long passphrase")
    await click(pilot, "#continue")
    await until(pilot, lambda: app.screen.query("#phrase"), "the phrase")
    phrase = str(app.screen.query_one("#phrase").render()).split()
    await paste(pilot, "#confirm", phrase[-1])
    if out is not None:
        app.save_screenshot("recovery-phrase.svg", str(out))
    await click(pilot, "#kept")
    await until(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")


async def join(pilot: Pilot[None], link: str) -> MainScreen:
    app = pilot.app
    await pilot.press("f3")
    await until(pilot, lambda: app.screen.query("#link"), "the join dialog")
    await paste(pilot, "#link", link)
    await click(pilot, "#join")
    await until(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.room(), "the room")
    main = app.screen
    assert isinstance(main, MainScreen)
    return main


def renames(app: HearthChat) -> list[str]:
    return [
        str(s.render())
        for i in app.screen.query(NoticeItem)
        for s in i.query(Static)
        if " now " in str(s.render())
    ]


def lines(app: HearthChat) -> str:
    return "\n".join(str(i.query_one(Static).render()) for i in app.screen.query(MessageItem))


def timeline(app: HearthChat) -> str:
    """The open room's timeline: messages and notices."""
    view = app.screen.query_one("#messages", MessageList)
    return "\n".join(str(i.query_one(Static).render()) for i in view.children)


async def scenes(url: str, work: Path, out: Path) -> None:  # noqa: PLR0915 - one screenplay
    owner_id, ben_id = Identity.generate(), Identity.generate()
    async with (
        HearthClient(url, owner_id, store_path=work / "owner.db") as owner,
        HearthClient(url, ben_id, store_path=work / "ben.db") as ben,
    ):
        group = await owner.create_group(
            "Evening circle",
            topic="anxiety, gently",
            rules="1. What is said here stays here.\n2. Listen first; advice only when asked.\n"
            "3. Nobody has to share.",
        )
        await group.set_schedule(
            "Evening circle",
            frequency="weekly",
            start=datetime.now().replace(hour=19, minute=0, second=0, microsecond=0)
            + timedelta(days=1),
            timezone="Europe/Berlin",
            duration=timedelta(minutes=90),
        )
        program = await owner.create_program("Peer line", topic="trained peers, 7pm-11pm")
        await owner.create_buddy_chat("Ana & Jo")
        ben_group = await ben.join(await group.create_invite(max_uses=1))
        await ben_group.accept_rules()

        app = HearthChat(url, Profile(work / "ana", strength="interactive"), region="GB")
        async with app.run_test(size=SIZE) as pilot:
            await first_run(pilot, out)
            main = await join(pilot, await group.create_invite(max_uses=1))
            await until(pilot, lambda: main.room() and main.room().rules, "the rules")
            await paste(pilot, "#composer", "Hi everyone, first time here.")
            await pilot.press("enter")
            await until(pilot, lambda: len(app.screen_stack) > 2, "the rules dialog")
            app.save_screenshot("rules.svg", str(out))
            await click(pilot, "#accept")
            await until(pilot, lambda: "first time here" in lines(app), "the first post")

            # Names: each chosen in this room only; the role beside it is the log's.
            await owner.room(group.id).set_name("Rosa")
            await ben_group.set_name("Ben")
            await until(pilot, lambda: len(renames(app)) >= 2, "the names")
            first = await ben_group.send("Welcome! Glad you found us.")
            await owner.room(group.id).send("Welcome. No pressure to share tonight.")
            await ben_group.send(
                "It was a rough week. Work, and I stopped sleeping.",
                content_warning="insomnia, panic",
            )
            await ben_group.send("Thank you for being here.", reply_to=first)
            await owner.room(group.id).react(first, "💛")
            await until(pilot, lambda: "💛 1" in lines(app), "the conversation")
            await paste(pilot, "#composer", "Same here, the nights are the worst.")
            app.save_screenshot("room.svg", str(out))

            await pilot.press("f10")
            await until(pilot, lambda: app.screen.query("#my-name"), "the name dialog")
            await paste(pilot, "#my-name", "Ana")
            await click(pilot, "#save-name")
            await until(pilot, lambda: any("You are now Ana" in r for r in renames(app)), "")
            app.save_screenshot("names.svg", str(out))

            await pilot.press("f6")
            await until(pilot, lambda: app.screen.query("#meetings"), "the schedule")
            app.save_screenshot("schedule.svg", str(out))
            await pilot.press("escape")

            await pilot.press("f5")
            await until(pilot, lambda: app.screen.query("#members"), "the members")
            members = app.screen.query_one("#members", ListView)
            members.index = 0 if members.index != 0 else 1
            members.focus()
            await pilot.pause()
            app.save_screenshot("members-safety-number.svg", str(out))
            await pilot.press("escape")

            view = app.screen.query_one("#messages", MessageList)
            view.focus()
            for index, item in enumerate(view.children):  # notices stand among messages
                if isinstance(item, MessageItem) and "Welcome! Glad" in str(
                    item.query_one(Static).render()
                ):
                    view.index = index
            await pilot.press("ctrl+o")  # the message's actions: Cancel focused
            await until(pilot, lambda: app.screen.query("#do-report"), "the actions menu")
            await click(pilot, "#do-report")
            await until(pilot, lambda: app.screen.query("#reason"), "the report dialog")
            await paste(pilot, "#reason", "just checking how reports look")
            app.save_screenshot("report.svg", str(out))
            await pilot.press("escape")

            # Blocking asks first, says what it does, and holds the focus on Cancel.
            view.focus()
            await pilot.press("ctrl+o")
            await until(pilot, lambda: app.screen.query("#do-block"), "the actions menu")
            await click(pilot, "#do-block")
            await until(pilot, lambda: app.screen.query("#question"), "the confirmation")
            app.save_screenshot("confirm-block.svg", str(out))
            await pilot.press("enter")  # Cancel
            await until(pilot, lambda: isinstance(app.screen, MainScreen), "the room again")

            await pilot.press("f1")
            await until(
                pilot,
                lambda: "Samaritans" in str(app.screen.query_one("#resources-text").render()),
                "the crisis lines",
            )
            app.save_screenshot("crisis.svg", str(out))
            await pilot.press("escape")

            room = main.room()
            assert room is not None
            alarm = SecurityAlarm(
                room_id=room.id,
                kind="withheld",
                detail="sender 3fQx… device 9 counter 14: gap after 12 (illustration)",
                alarm_id=0,
            )
            app.push_screen(AlarmDialog(room, alarm))
            await until(pilot, lambda: app.screen.query("#ack"), "the alarm dialog")
            app.save_screenshot("security-alarm.svg", str(out))
            await pilot.press("escape")

            # Program: Ben is a supporter on duty; Ana asks for 1:1 support.
            supporter_program = await ben.join(await program.create_invite(role="supporter"))
            await supporter_program.set_availability(True, max_open=3)
            await join(pilot, await program.create_invite())
            await pilot.press("f9")
            await until(pilot, lambda: app.screen.query("#request-text"), "the support dialog")
            await until(
                pilot,
                lambda: "1 of 1" in str(app.screen.query_one("#on-duty").render()),
                "the supporter on duty",
            )
            await paste(pilot, "#request-text", "Panicky tonight, would like to talk.")
            await click(pilot, "#ask")
            await until(pilot, lambda: app.screen.query("#place"), "the place in the queue")
            app.save_screenshot("support-queue.svg", str(out))
            await pilot.press("escape")

            # The moderator's view: a report arrives (Ana's app is the owner of a new group).
            await pilot.press("f2")
            await until(pilot, lambda: app.screen.query("#name"), "the new-room dialog")
            await paste(pilot, "#name", "Night owls")
            await paste(pilot, "#topic", "for sleepless weeks")
            app.save_screenshot("new-room.svg", str(out))
            await click(pilot, "#create")
            await until(
                pilot,
                lambda: (
                    isinstance(app.screen, MainScreen)
                    and main.room()
                    and main.room().name == "Night owls"
                ),
                "the new room",
            )
            await pilot.press("f4")
            await until(pilot, lambda: app.screen.query("#make"), "the invite dialog")
            invite = app.screen
            assert isinstance(invite, InviteDialog)
            await click(pilot, "#make")
            await until(pilot, lambda: invite.link is not None, "the link")
            await click(pilot, "#copy")
            app.save_screenshot("invite.svg", str(out))
            link = invite.link
            assert link is not None
            await pilot.press("escape")
            ben_owls = await ben.join(link)
            async with HearthClient(url, Identity.generate(), store_path=work / "x.db") as x:
                x_owls = await x.join(await owner_link(pilot, app))
                x_id = x_owls.me
                bad = await x_owls.send("nobody wants you here")
                await until(pilot, lambda: "nobody wants" in lines(app), "the message")
                await ben_owls.report(bad, "cruel to a member")
                await until(pilot, lambda: app.reports, "the report")
            await pilot.press("f7")
            await until(pilot, lambda: app.screen.query(".report"), "the reports screen")
            app.save_screenshot("reports.svg", str(out))
            await pilot.press("escape")

            # The timeline tells the truth: the owner deletes the message and removes
            # its sender; both leave a line where they happened.
            owls = main.room()
            assert owls is not None
            await owls.delete(bad)
            await owls.remove(x_id)
            await until(pilot, lambda: "removed by a moderator" in timeline(app), "the trace")
            await until(pilot, lambda: "from the room" in timeline(app), "the removal")
            app.save_screenshot("timeline.svg", str(out))


async def owner_link(pilot: Pilot[None], app: HearthChat) -> str:
    main = app.screen
    assert isinstance(main, MainScreen)
    room = main.room()
    assert room is not None
    return await room.create_invite()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screens"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hearth-screens-") as tmp, relay(Path(tmp)) as url:
        asyncio.run(scenes(url, Path(tmp), args.out.resolve()))
    for path in sorted(args.out.glob("*.svg")):
        print(path)


if __name__ == "__main__":
    main()
