"""Quick exit and the app lock: Escape twice hides everything; the passphrase opens it again."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Label, Static

from client_sdk import HearthClient, Identity
from hearth_chat import HearthChat, Profile
from hearth_chat.crisis import CrisisScreen
from hearth_chat.lock import LockScreen
from hearth_chat.rooms import MainScreen
from tests.chat.conftest import (
    PASSPHRASE,
    composer,
    create_room,
    make_app,
    make_invite,
    shows,
    type_into,
    unlock,
    wait_for,
)
from tests.client_sdk.conftest import RelayProcess


def screen_text(app: HearthChat) -> str:
    """Everything the terminal shows now, as text (from an SVG screenshot)."""
    return app.export_screenshot().replace("&#160;", " ")


def shows_in(main: MainScreen, text: str) -> bool:
    """Whether the room view under the lock holds a message containing ``text``."""
    return any(text in str(s.render()) for s in main.query("MessageItem Static").results(Static))


def _focused_id(app: HearthChat) -> str | None:
    return app.focused.id if app.focused is not None else None


async def test_escape_twice_hides_and_locks_and_help_stays_reachable(
    relay: RelayProcess, tmp_path: Path
) -> None:
    app = make_app(relay, tmp_path / "ivy", identity=Identity.generate())
    async with (
        app.run_test(size=(120, 40)) as pilot,
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "gus.db") as gus,
    ):
        await unlock(pilot)
        await create_room(pilot, "Lifelines")
        gus_room = await gus.join(await make_invite(pilot))
        await gus_room.send("Thinking of you tonight")
        await wait_for(pilot, lambda: shows(app, "Thinking of you tonight"), "Gus's message")
        await type_into(pilot, "#composer", "half-written")
        assert "Lifelines" in screen_text(app)

        # One Escape cancels as before; the second in a row is the quick exit.
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, LockScreen), "the lock screen")
        shown = screen_text(app)
        for secret in ("Lifelines", "Thinking of you", "half-written"):
            assert secret not in shown, secret
        assert not [w for w in app.screen.query(Static) if "Hearth" in str(w.render())]

        # While locked, news arrives but nothing of it shows.
        await gus_room.send("Are you there?")
        main = app.screen_stack[-2]
        assert isinstance(main, MainScreen)
        await wait_for(pilot, lambda: shows_in(main, "Are you there?"), "the message stored")
        assert isinstance(app.screen, LockScreen)
        assert "Are you there" not in screen_text(app)

        # Crisis help opens over the lock, and closes back to it.
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, CrisisScreen), "crisis help")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, LockScreen), "locked again")
        await pilot.press("escape")
        await pilot.press("escape")
        assert isinstance(app.screen, LockScreen), "Escape never leaves the lock"

        # Only the passphrase opens it.
        await type_into(pilot, "#lock-passphrase", "not my passphrase")
        await pilot.press("enter")
        error = app.screen.query_one("#lock-error", Label)
        await wait_for(pilot, lambda: "Wrong passphrase" in str(error.render()), "refused")
        assert isinstance(app.screen, LockScreen)
        await type_into(pilot, "#lock-passphrase", PASSPHRASE)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "unlocked")
        assert shows(app, "Are you there?")
        assert composer(app).value == "half-written"
        await wait_for(pilot, lambda: _focused_id(app) == "composer", "the composer focused")


async def test_the_app_locks_itself_when_idle(relay: RelayProcess, tmp_path: Path) -> None:
    folder = tmp_path / "joy"
    profile = Profile(folder, strength="interactive")
    profile.save_identity(Identity.generate(), PASSPHRASE)
    app = HearthChat(relay.url, profile, reconnect_delay=(0.1, 1.0), lock_after=1.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        await create_room(pilot, "Quiet hours")
        # Nobody touches a key: the app locks itself.
        await wait_for(pilot, lambda: isinstance(app.screen, LockScreen), "the idle lock")
        assert "Quiet hours" not in screen_text(app)
        await type_into(pilot, "#lock-passphrase", PASSPHRASE)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "unlocked")


async def test_quick_exit_before_unlocking(relay: RelayProcess, tmp_path: Path) -> None:
    # With an identity saved: the lock screen, and its passphrase starts the session.
    app = make_app(relay, tmp_path / "kim", identity=Identity.generate())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.query("#passphrase"), "the unlock screen")
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: isinstance(app.screen, LockScreen), "the lock screen")
        await type_into(pilot, "#lock-passphrase", PASSPHRASE)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the session")

    # On the first run nothing is saved to lock: the app closes at once.
    fresh = make_app(relay, tmp_path / "new")
    async with fresh.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: fresh.screen.query("#create"), "the welcome screen")
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: fresh.return_code is not None, "the app closed")
