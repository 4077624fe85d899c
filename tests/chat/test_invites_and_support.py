"""Invites show the whole link and the role it grants; the support flow says what to do.

The failures these reproduce (issue 19): the invite dialog showed 22 of the
secret's 43 characters, so the visible link failed as ``invite.malformed``;
claiming without availability set answered with a bare error code; availability
counts did not follow the supporters' statuses.
"""

from __future__ import annotations

from pathlib import Path

from textual.events import Paste
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Input, Label, ListView, Static

from client_sdk import HearthClient, Identity
from hearth_chat import HearthChat
from hearth_chat.support import SupportDialog
from tests.chat.conftest import click, create_room, join, make_app, type_into, unlock, wait_for
from tests.client_sdk.conftest import RelayProcess


def visible_text(widget: Widget) -> str:
    """What the widget shows on screen, its lines joined (trailing spaces dropped)."""
    lines = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return "".join(line.text.strip() for line in lines)


def _text(app: HearthChat, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_the_invite_dialog_shows_the_whole_link_its_role_and_copies_it(
    relay: RelayProcess, tmp_path: Path
) -> None:
    app = make_app(relay, tmp_path / "ora", identity=Identity.generate())
    async with (
        app.run_test(size=(120, 40)) as pilot,
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "pat.db") as pat,
    ):
        await unlock(pilot)
        await create_room(pilot, "Circle")
        await pilot.press("f4")
        await wait_for(pilot, lambda: app.screen.query("#make"), "the invite dialog")
        await click(pilot, "#role-moderator")
        await click(pilot, "#make")
        await wait_for(pilot, lambda: "#" in visible_text(app.screen.query_one("#link")), "link")
        link = visible_text(app.screen.query_one("#link"))
        assert link.startswith(relay.url + "/join/")
        assert "as a moderator" in _text(app, "#grants")

        await click(pilot, "#copy")
        assert app.clipboard == link
        note = str(app.screen.query_one("#error", Label).render())
        assert "if your terminal allows it" in note

        # The link as seen on screen is the link: it joins, with the role it said.
        room = await pat.join(link)
        assert room.role == "moderator"

        # Copied with the mouse instead, it comes as the wrapped lines on screen, with
        # the dialog's border around each: pasted into Join (F3), it is whole again.
        widget = app.screen.query_one("#link")
        shown = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
        rows = [line.text.rstrip() for line in shown if line.text.strip()]
        assert len(rows) > 1  # wrapped at this width: the case a first-line paste breaks
        mouse_copy = "\n".join(f"█  {row}   █" for row in rows)
        await pilot.press("escape")
        await pilot.press("f3")
        await wait_for(pilot, lambda: app.screen.query("#link"), "the join dialog")
        field = app.screen.query_one("#link", Input)
        field.focus()
        field.post_message(Paste(mouse_copy))
        await wait_for(pilot, lambda: field.value == link, "the whole link in the field")


async def test_counts_follow_statuses_and_claiming_while_away_says_what_to_do(
    relay: RelayProcess, tmp_path: Path
) -> None:
    async with HearthClient(
        relay.url, Identity.generate(), store_path=tmp_path / "owner.db"
    ) as owner:
        program = await owner.create_program("Peer line")
        supporter_link = await program.create_invite(role="supporter")
        member_link = await program.create_invite()
        sam, mia = (
            make_app(relay, tmp_path / "sam", identity=Identity.generate()),
            make_app(relay, tmp_path / "mia", identity=Identity.generate()),
        )
        async with sam.run_test(size=(120, 40)) as s, mia.run_test(size=(120, 40)) as m:
            await unlock(s)
            await unlock(m)
            await join(s, supporter_link)
            await join(m, member_link)

            # Mia opens 1:1 support and starts writing; nobody is available yet.
            await m.press("f9")
            await wait_for(m, lambda: isinstance(mia.screen, SupportDialog), "support dialog")
            await wait_for(m, lambda: "0 of 1 supporters" in _text(mia, "#on-duty"), "count")
            await type_into(m, "#request-text", "I need to talk to someone")

            # Sam goes available: Mia's count follows at once, her words stay.
            await s.press("f9")
            await wait_for(s, lambda: isinstance(sam.screen, SupportDialog), "support dialog")
            await click(s, "#available")
            await click(s, "#save-availability")
            await wait_for(m, lambda: "1 of 1 supporters" in _text(mia, "#on-duty"), "count")
            await wait_for(s, lambda: "1 of 1 supporters" in _text(sam, "#on-duty"), "count")
            field = mia.screen.query_one("#request-text", Input)
            assert field.value == "I need to talk to someone"
            await click(m, "#ask")
            await wait_for(m, lambda: mia.screen.query("#withdraw"), "the request sent")

            # Sam goes away again; Mia's count follows. Claiming now says what to do.
            dialog = sam.screen
            await wait_for(s, lambda: dialog.query("#queue ListItem"), "the request")
            await click(s, "#available")
            await click(s, "#save-availability")
            await wait_for(m, lambda: "0 of 1 supporters" in _text(mia, "#on-duty"), "count")
            await wait_for(s, lambda: "0 of 1 supporters" in _text(sam, "#on-duty"), "count")
            dialog = sam.screen
            dialog.query_one("#queue", ListView).index = 0
            await click(s, "#claim")
            error = dialog.query_one("#error", Label)
            await wait_for(s, lambda: "Switch on" in str(error.render()), "what to do")
            assert "support.away" not in str(error.render())
