"""Crisis help is always there: before sign-in, offline, for the chosen region, and
wherever the app points to it (the draft check, an empty support queue).

Each test reproduces a failure of issue 19: F1 empty out of the box, lines without
their regions, a draft suggestion and a support queue pointing to nothing, a bad
``--region`` that would break the crisis screen.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from textual.widgets import Select, Static

from client_sdk import CrisisDirectory, HearthClient, Identity
from hearth_chat import HearthChat, Profile, cli
from hearth_chat.crisis import CrisisScreen, first_line, help_lines
from hearth_chat.rooms import MainScreen
from hearth_chat.support import SupportDialog
from tests.chat.conftest import (
    click,
    create_room,
    join,
    make_app,
    say,
    shows,
    type_into,
    unlock,
    wait_for,
)
from tests.client_sdk.conftest import RelayProcess


def _screen_text(app: HearthChat) -> str:
    """Everything the current screen's text widgets show."""
    return "\n".join(str(s.render()) for s in app.screen.query(Static))


def _resources(app: HearthChat) -> str:
    return str(app.screen.query_one("#resources-text", Static).render())


def _dead_url() -> str:
    """A relay URL where nothing listens (a port just freed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_help_before_sign_in_then_the_relays_whole_list(
    relay: RelayProcess, tmp_path: Path
) -> None:
    folder = tmp_path / "new"
    app = make_app(relay, folder)  # a new profile: the welcome screen, nobody signed in
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.query("#create"), "the welcome screen")
        # The first screen itself shows help: the emergency advice and lines, and then
        # the relay's list, fetched with no identity at all.
        assert "112" in _screen_text(app)
        await wait_for(pilot, lambda: "Samaritans" in _screen_text(app), "the relay's lines")
        assert app.client is None
        saved = CrisisDirectory.load(folder / "crisis.json", relay_url=relay.url)
        assert [r.name for r in saved.relay_resources] == ["Samaritans", "Find a Helpline"]

        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, CrisisScreen), "crisis screen")
        # Every region: the relay's lines and the built-in ones, each with its regions.
        await wait_for(pilot, lambda: "116 123" in _resources(app), "the relay's lines")
        text = _resources(app)
        assert "Samaritans\n  Regions: GB, IE\n  Call: 116 123" in text
        assert "Find a Helpline\n  Everywhere" in text
        assert "988 Suicide & Crisis Lifeline\n  Regions: US" in text  # built in
        assert "emergency number" in _screen_text(app)

        # The region is chosen here, on the device.
        app.screen.query_one("#region", Select).value = "US"
        await wait_for(pilot, lambda: "116 123" not in _resources(app), "the US lines")
        assert app.region == "US"
        assert "Call: 988" in _resources(app)
        assert "findahelpline.com" in _resources(app)  # a line for everywhere stays
        app.screen.query_one("#region", Select).value = "GB"
        await wait_for(pilot, lambda: "116 123" in _resources(app), "the GB lines")
        assert "Call: 988" not in _resources(app)


async def test_help_offline_with_nothing_saved(tmp_path: Path) -> None:
    app = HearthChat(_dead_url(), Profile(tmp_path / "off", strength="interactive"), region="GB")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.query("#create"), "the welcome screen")
        # Built in: no network needed.
        await wait_for(pilot, lambda: "Samaritans" in _screen_text(app), "the built-in lines")
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, CrisisScreen), "crisis screen")
        assert "Samaritans\n  Regions: GB, IE\n  Call: 116 123" in _resources(app)
        assert "findahelpline.com" in _resources(app)
        error = app.screen.query_one("#error")
        await wait_for(pilot, lambda: "Could not reach" in str(error.render()), "said offline")
        assert "116 123" in _resources(app)  # and the lines stay


async def test_the_draft_check_names_a_listed_line(relay: RelayProcess, tmp_path: Path) -> None:
    app = make_app(relay, tmp_path / "ida", identity=Identity.generate())
    app.region = "GB"
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        await create_room(pilot, "Nights")
        assert app.client is not None
        await app.client.set_draft_check(True)
        await say(pilot, "I want to die")
        suggestion = app.screen.query_one("#suggestion", Static)
        await wait_for(pilot, lambda: "not alone" in str(suggestion.render()), "the suggestion")
        assert "Samaritans: call 116 123 (24/7)" in str(suggestion.render())
        assert "F1" in str(suggestion.render())
        await wait_for(pilot, lambda: shows(app, "you: I want to die"), "sent as written")


def test_a_bad_region_is_refused_at_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def started(self: HearthChat) -> None:
        raise AssertionError(f"the app started with region {self.region!r}")

    monkeypatch.setattr(HearthChat, "run", started)
    with pytest.raises(SystemExit) as exited:
        cli.main(["--profile", str(tmp_path), "--region", "France"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--region takes a two-letter country code" in err
    assert "'France'" in err

    regions: list[str | None] = []
    monkeypatch.setattr(HearthChat, "run", lambda self: regions.append(self.region))
    cli.main(["--profile", str(tmp_path), "--region", "fr"])
    assert regions == ["FR"]
    with pytest.raises(ValueError, match="alpha-2"):
        HearthChat("http://127.0.0.1:1", Profile(tmp_path), region="France")


async def test_an_empty_support_queue_names_help(relay: RelayProcess, tmp_path: Path) -> None:
    async with (
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "own.db") as owner,
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "sup.db") as sup,
    ):
        program = await owner.create_program("Peer line")
        await sup.join(await program.create_invite(role="supporter"))  # never on duty
        app = make_app(relay, tmp_path / "mia", identity=Identity.generate())
        app.region = "GB"
        async with app.run_test(size=(120, 40)) as pilot:
            await unlock(pilot)
            await join(pilot, await program.create_invite())
            await pilot.press("f9")
            await wait_for(pilot, lambda: isinstance(app.screen, SupportDialog), "the dialog")
            await wait_for(
                pilot, lambda: "0 of 1 supporters" in _screen_text(app), "nobody on duty"
            )
            # Before asking: said plainly, with a line that is listed.
            assert "No supporter is available right now" in _screen_text(app)
            assert "Samaritans: call 116 123 (24/7)" in _screen_text(app)
            await type_into(pilot, "#request-text", "can't sleep, scared")
            await click(pilot, "#ask")
            await wait_for(pilot, lambda: "number 1 in the queue" in _screen_text(app), "our place")
            assert "No supporter is available right now" in _screen_text(app)
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the room")
            banner_widget = app.screen.query_one("#room-banner", Static)
            await wait_for(
                pilot, lambda: "number 1 in the queue" in str(banner_widget.render()), "banner"
            )
            banner = str(banner_widget.render())
            assert "No supporter is available right now" in banner
            assert "Samaritans: call 116 123 (24/7)" in banner
            assert "F1" in banner


def test_the_regions_own_lines_lead() -> None:
    directory = CrisisDirectory()  # the SDK's built-in lines
    gb = [r.name for r in help_lines(directory, "GB")]
    assert gb[0] == "Samaritans"
    assert "988 Suicide & Crisis Lifeline" not in gb
    assert first_line(directory, "GB") == "Samaritans: call 116 123 (24/7)"
    anywhere = help_lines(directory, None)
    assert directory.regions_of(anywhere[0]) == ("*",)  # with no region: for everywhere first
    assert first_line(directory, None) == "Find A Helpline: https://findahelpline.com"
    assert all(r.name != "Emergency services" for r in anywhere)  # shown on its own, on top


async def test_the_chosen_region_is_kept_for_the_next_start(
    relay: RelayProcess, tmp_path: Path
) -> None:
    identity = Identity.generate()
    app = make_app(relay, tmp_path / "ivy", identity=identity)
    async with app.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, CrisisScreen), "crisis screen")
        app.screen.query_one("#region", Select).value = "GB"
        client = app.client
        assert client is not None
        await wait_for(pilot, lambda: client.crisis_region == "GB", "the region kept")

    # The next start, without --region, shows the same lines.
    again = make_app(relay, tmp_path / "ivy")
    async with again.run_test(size=(120, 40)) as pilot:
        await unlock(pilot)
        assert again.region == "GB"
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(again.screen, CrisisScreen), "crisis screen")
        assert again.screen.query_one("#region", Select).value == "GB"
        await wait_for(pilot, lambda: "116 123" in _resources(again), "the GB lines")
