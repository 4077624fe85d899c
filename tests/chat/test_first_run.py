"""First run: an identity behind a passphrase, its recovery phrase shown once and confirmed."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Label, Static

from client_sdk import Identity
from hearth_chat.onboarding import PhraseScreen, UnlockScreen
from hearth_chat.rooms import MainScreen
from tests.chat.conftest import click, make_app, type_into, wait_for
from tests.client_sdk.conftest import RelayProcess

PASSPHRASE = "correct horse battery"


async def test_create_confirm_phrase_then_unlock(relay: RelayProcess, tmp_path: Path) -> None:
    folder = tmp_path / "ana"
    app = make_app(relay, folder)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.query("#create"), "the welcome screen")
        await click(pilot, "#create")
        await type_into(pilot, "#pass1", PASSPHRASE)
        await type_into(pilot, "#pass2", "something else entirely")
        await click(pilot, "#continue")
        error = app.screen.query_one("#error", Label)
        assert "differ" in str(error.render())
        await click(pilot, "#pass2")
        app.screen.query_one("#pass2", Input).clear()
        await pilot.press(*PASSPHRASE)
        await click(pilot, "#continue")

        await wait_for(pilot, lambda: isinstance(app.screen, PhraseScreen), "the phrase")
        phrase = str(app.screen.query_one("#phrase", Static).render()).replace(" ", "-")
        assert len(phrase.split("-")) == 14
        assert not app.profile.has_identity()  # nothing kept before the person confirms

        await type_into(pilot, "#confirm", "ZZZZ")
        await click(pilot, "#kept")
        assert isinstance(app.screen, PhraseScreen)
        assert "not the last group" in str(app.screen.query_one("#error", Label).render())

        app.screen.query_one("#confirm", Input).clear()
        await type_into(pilot, "#confirm", phrase.split("-")[-1].lower())
        await click(pilot, "#kept")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        assert app.profile.has_identity()
        assert app.client is not None
        root = app.client.identity
        # Shown once: nothing on the main screen repeats it.
        for widget in app.screen.query(Static):
            assert phrase.split("-")[0] not in str(widget.render())

    assert app.client is None  # closed on exit: the outbox and store are flushed
    assert Identity.from_recovery_phrase(phrase) == root
    assert Identity.load(folder / "identity.key", PASSPHRASE) == root

    # The next start asks for the passphrase; a wrong one is refused plainly.
    again = make_app(relay, folder)
    async with again.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(again.screen, UnlockScreen), "unlock")
        await type_into(pilot, "#passphrase", "not my passphrase")
        await pilot.press("enter")
        error = again.screen.query_one("#error", Label)
        await wait_for(pilot, lambda: "Wrong passphrase" in str(error.render()), "refusal")
        again.screen.query_one("#passphrase", Input).clear()
        await type_into(pilot, "#passphrase", PASSPHRASE)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(again.screen, MainScreen), "the main screen")
        assert again.client is not None
        assert again.client.identity == root


async def test_restore_from_phrase(relay: RelayProcess, tmp_path: Path) -> None:
    original = Identity.generate()
    app = make_app(relay, tmp_path / "restored")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.query("#restore"), "the welcome screen")
        await click(pilot, "#restore")
        phrase = original.recovery_phrase
        typo = phrase[:-1] + ("0" if phrase[-1] != "0" else "1")  # never the phrase itself
        await type_into(pilot, "#phrase", typo)
        await type_into(pilot, "#pass1", PASSPHRASE)
        await type_into(pilot, "#pass2", PASSPHRASE)
        await click(pilot, "#restore")
        assert "not valid" in str(app.screen.query_one("#error", Label).render())
        app.screen.query_one("#phrase", Input).clear()
        await type_into(pilot, "#phrase", original.recovery_phrase)
        await click(pilot, "#restore")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        assert app.client is not None
        assert app.client.identity == original
