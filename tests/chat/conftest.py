"""Fixtures for the chat app's pilot tests: a real relay process and app helpers.

The relay is the SDK tests' :class:`RelayProcess` (``hearth serve`` in a
subprocess on a free port). Keystores use Argon2id's ``interactive`` preset so
that unlocking takes milliseconds, not half a second and 256 MiB, per profile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.events import Paste
from textual.pilot import Pilot
from textual.widgets import Input, Static

from client_sdk import Identity
from hearth_chat import HearthChat, Profile
from hearth_chat.invite import InviteDialog
from hearth_chat.rooms import MainScreen, MessageItem, MessageList
from tests.client_sdk.conftest import RelayProcess

# How long a condition may take to become true: generous, since two CPU cores are
# shared by several test runs; a condition that holds returns at once.
WAIT = 20.0
TRACE = False
_T0 = time.monotonic()


CRISIS_TOML = """
[[crisis]]
name = "Samaritans"
regions = ["GB", "IE"]
phone = "116 123"
hours = "24/7"

[[crisis]]
name = "Find a Helpline"
regions = ["*"]
url = "https://findahelpline.com"
description = "Free, confidential support lines in many countries"
"""


@pytest.fixture(scope="session")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    """One relay for the chat tests (each test uses its own profiles and rooms).

    Its operator lists two crisis lines, one for Great Britain and one everywhere.
    """
    base = tmp_path_factory.mktemp("relay")
    data = base / "relay-data"
    data.mkdir()
    config = base / "hearth.toml"
    config.write_text(CRISIS_TOML, "utf-8")
    process = RelayProcess(data, HEARTH_CONFIG=str(config))
    process.start()
    try:
        yield process
    finally:
        process.stop()


PASSPHRASE = "correct horse battery"
PAGE = 8  # messages per page of history: small, so a test fills two pages quickly


def make_app(relay: RelayProcess, folder: Path, *, identity: Identity | None = None) -> HearthChat:
    """An app on ``relay`` with the profile ``folder`` (fast key derivation).

    With ``identity``, the profile already holds it (under :data:`PASSPHRASE`), as
    on every start after the first; :func:`unlock` then opens it.
    """
    profile = Profile(folder, strength="interactive")
    if identity is not None:
        profile.save_identity(identity, PASSPHRASE)
    return HearthChat(relay.url, profile, reconnect_delay=(0.1, 1.0), page_size=PAGE)


async def wait_for(pilot: Pilot[None], condition: Callable[[], object], what: str) -> None:
    """Let the app run until ``condition()`` is true; fail after :data:`WAIT` seconds."""
    loop = asyncio.get_running_loop()
    if TRACE:
        print(f"{loop.time() - _T0:7.2f} wait {what}")
    deadline = loop.time() + WAIT
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await pilot.pause(0.02)


async def type_into(pilot: Pilot[None], selector: str, text: str) -> None:
    """Click a field and paste ``text`` into it, as a person pastes a phrase or a link."""
    await click(pilot, selector)
    await pilot.press("end")  # the click lands on the field's left edge
    focused = pilot.app.focused
    assert focused is not None
    focused.post_message(Paste(text))
    await pilot.pause()


async def unlock(pilot: Pilot[None]) -> None:
    """Unlock a profile that holds an identity, as on every start after the first."""
    app = pilot.app
    await type_into(pilot, "#passphrase", PASSPHRASE)
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")


async def create_identity(pilot: Pilot[None], passphrase: str = PASSPHRASE) -> str:
    """Go through the first run; return the recovery phrase the app showed."""
    app = pilot.app
    await wait_for(pilot, lambda: app.screen.query("#create"), "the welcome screen")
    await click(pilot, "#create")
    await type_into(pilot, "#pass1", passphrase)
    await type_into(pilot, "#pass2", passphrase)
    await click(pilot, "#continue")
    await wait_for(pilot, lambda: app.screen.query("#phrase"), "the recovery phrase")
    phrase = str(app.screen.query_one("#phrase", Static).render()).replace(" ", "-")
    await type_into(pilot, "#confirm", phrase.split("-")[-1])
    await click(pilot, "#kept")
    await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
    return phrase


def composer(app: HearthChat) -> Input:
    return app.screen.query_one("#composer", Input)


def message_lines(app: HearthChat) -> list[str]:
    """What the open room's message list shows, one string per message.

    An item whose text widget is not mounted yet shows nothing so far (``query_one``
    would raise ``NoMatches`` in that moment and end a wait that polls this).
    """
    return [
        str(text.render()) for item in app.screen.query(MessageItem) for text in item.query(Static)
    ]


def timeline_lines(app: HearthChat) -> list[str]:
    """Every line of the open room's timeline, messages and notices alike, in order."""
    if not isinstance(app.screen, MainScreen):
        return []
    view = app.screen.query_one("#messages", MessageList)
    return [str(text.render()) for item in view.children for text in item.query(Static)]


def shows(app: HearthChat, text: str) -> bool:
    """Whether some message line of the open room contains ``text``."""
    return isinstance(app.screen, MainScreen) and any(text in line for line in message_lines(app))


async def create_room(
    pilot: Pilot[None], name: str, *, kind: str = "group", topic: str = "", rules: str = ""
) -> None:
    """Create a room through the New room dialog (F2) and wait until it is open."""
    app = pilot.app
    assert isinstance(app, HearthChat)
    await pilot.press("f2")
    await wait_for(pilot, lambda: app.screen.query("#kind"), "the new-room dialog")
    if kind != "group":
        await click(pilot, f"#{kind}")
    await type_into(pilot, "#name", name)
    if topic:
        await type_into(pilot, "#topic", topic)
    if rules:
        await type_into(pilot, "#rules", rules)
    await click(pilot, "#create")
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, MainScreen) and app.screen.room() is not None,
        "the new room to open",
    )


async def make_invite(pilot: Pilot[None]) -> str:
    """Make an invite link for the open room (F4) and return it."""
    app = pilot.app
    await pilot.press("f4")
    await wait_for(pilot, lambda: isinstance(app.screen, InviteDialog), "the invite dialog")
    dialog = app.screen
    assert isinstance(dialog, InviteDialog)
    await click(pilot, "#make")
    await wait_for(pilot, lambda: dialog.link is not None, "the invite link")
    assert dialog.link is not None
    await pilot.press("escape")
    return dialog.link


async def join(pilot: Pilot[None], link: str) -> None:
    """Join with an invite link (F3) and wait until the room is open."""
    app = pilot.app
    assert isinstance(app, HearthChat)
    await pilot.press("f3")
    await wait_for(pilot, lambda: app.screen.query("#link"), "the join dialog")
    await type_into(pilot, "#link", link)
    await click(pilot, "#join")
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, MainScreen) and app.screen.room() is not None,
        "the joined room to open",
    )


async def say(pilot: Pilot[None], text: str) -> None:
    """Type a message into the composer and press Enter."""
    await type_into(pilot, "#composer", text)
    await pilot.press("enter")


def select_message(app: HearthChat, text: str) -> None:
    """Highlight the message containing ``text`` and focus the message list."""
    view = app.screen.query_one("#messages", MessageList)
    # The list's own indices: notices (joins, leaves, ...) stand between the messages.
    for index, item in enumerate(view.children):
        if isinstance(item, MessageItem) and any(
            text in str(s.render()) for s in item.query(Static)
        ):
            view.index = index
            view.focus()
            return
    raise AssertionError(f"no message shows {text!r}")


async def click(pilot: Pilot[None], selector: str) -> None:
    """Click a widget once it is laid out on the current screen; fail if the click missed."""
    app = pilot.app

    def laid_out() -> bool:
        found = app.screen.query(selector)
        return bool(found) and found.first().region.area > 0

    await wait_for(pilot, laid_out, f"{selector} on screen")
    assert await pilot.click(selector), f"the click on {selector} hit another widget"
