"""A program's risk path in the chat app (issue 19, deliver 2).

A moderator publishes the program's plan from F9; the supporter in a buddy chat
they claimed presses F9, is told what will happen, with Cancel focused and Enter
in the note raising nothing; once they confirm, both buddies' apps open the
crisis screen with the program's lines first and their own beside them, and the
program's moderators see the alert in the program room.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Button, Static

from client_sdk import CrisisResource, HearthClient, Identity
from hearth_chat.crisis import CrisisScreen
from hearth_chat.risk import RiskDialog, RiskPlanDialog, format_plan_lines, parse_plan_lines
from hearth_chat.rooms import MainScreen
from hearth_chat.support import SupportDialog
from tests.chat.conftest import (
    click,
    join,
    make_app,
    timeline_lines,
    type_into,
    unlock,
    wait_for,
)
from tests.client_sdk.conftest import RelayProcess

PLAN_TEXT = "Stay with them in the chat and share these lines; the duty moderator calls back."
PLAN_LINES = (
    "Peer line crisis team | +44 20 7946 0000 | GB\nFind a Helpline | https://findahelpline.com"
)


def _crisis_text(screen: object) -> str:
    assert isinstance(screen, CrisisScreen)
    return "\n".join(str(s.render()) for s in screen.query(Static))


def test_plan_lines_are_typed_one_per_line_and_read_back() -> None:
    lines = parse_plan_lines(PLAN_LINES + "\n\n")
    assert lines == [
        CrisisResource(name="Peer line crisis team", regions=["GB"], phone="+44 20 7946 0000"),
        CrisisResource(name="Find a Helpline", regions=["*"], url="https://findahelpline.com"),
    ]
    assert parse_plan_lines(format_plan_lines(lines)) == lines
    with pytest.raises(ValueError, match="line 1"):
        parse_plan_lines("Samaritans | 116 123 | GBR")
    with pytest.raises(ValueError, match="line 2"):
        parse_plan_lines("ok\n | 116 123")


async def test_a_supporter_shows_help_to_both_and_alerts_the_moderators(
    relay: RelayProcess, tmp_path: Path
) -> None:
    async with HearthClient(
        relay.url, Identity.generate(), store_path=tmp_path / "owner.db"
    ) as owner:
        program = await owner.create_program("Peer line")
        links = {
            role: await program.create_invite(role=role)
            for role in ("moderator", "supporter", "member")
        }
        mo, sam, mia = (
            make_app(relay, tmp_path / name, identity=Identity.generate())
            for name in ("mo", "sam", "mia")
        )
        async with (
            mo.run_test(size=(120, 40)) as o,
            sam.run_test(size=(120, 40)) as s,
            mia.run_test(size=(120, 40)) as m,
        ):
            for pilot, _app, role in (
                (o, mo, "moderator"),
                (s, sam, "supporter"),
                (m, mia, "member"),
            ):
                await unlock(pilot)
                await join(pilot, links[role])

            # The moderator writes the program's plan from F9.
            await o.press("f9")
            await wait_for(o, lambda: isinstance(mo.screen, SupportDialog), "support dialog")
            await click(o, "#risk-plan")
            await wait_for(o, lambda: isinstance(mo.screen, RiskPlanDialog), "the plan dialog")
            mo.screen.query_one("#plan-text").load_text(PLAN_TEXT)  # type: ignore[attr-defined]
            mo.screen.query_one("#plan-lines").load_text(PLAN_LINES)  # type: ignore[attr-defined]
            await click(o, "#publish")
            await wait_for(o, lambda: isinstance(mo.screen, SupportDialog), "back to support")
            await o.press("escape")

            # Mia asks; Sam, available, claims; both are in the buddy chat.
            assert sam.client is not None
            assert mia.client is not None
            sam_program = sam.client.room(program.id)
            await sam_program.set_availability(True, max_open=2)
            mia_program = mia.client.room(program.id)
            await mia_program.request_support("I can't do this any more")
            await wait_for(
                s, lambda: sam_program.risk_plan is not None and sam_program.support_queue, "queue"
            )
            buddy = await sam_program.claim(sam_program.support_queue[0].id)
            sam_main = sam.screen
            assert isinstance(sam_main, MainScreen)
            await sam_main.open_room(buddy.id)
            mia_main = mia.screen
            assert isinstance(mia_main, MainScreen)
            await wait_for(
                m, lambda: (r := mia_main.room()) is not None and r.id == buddy.id, "Mia's chat"
            )
            banner = sam_main.query_one("#room-banner", Static)
            await wait_for(s, lambda: "imminent risk: F9" in str(banner.render()), "the hint")

            # F9 asks first, Cancel focused: Enter cancels and nothing is raised.
            await s.press("f9")
            await wait_for(s, lambda: isinstance(sam.screen, RiskDialog), "the risk dialog")
            dialog = sam.screen
            focused = dialog.focused
            assert isinstance(focused, Button)
            assert focused.id == "cancel"
            question = " ".join(str(w.render()) for w in dialog.query(Static))
            assert "to both of you" in question
            assert "moderators (2)" in question
            await s.press("enter")
            await wait_for(s, lambda: sam.screen is sam_main, "cancelled")
            assert sam.focused is not None
            assert sam.focused.id == "composer"

            # Enter in the note raises nothing either; only the button does.
            await s.press("f9")
            await wait_for(s, lambda: isinstance(sam.screen, RiskDialog), "the risk dialog")
            await type_into(s, "#note", "she says tonight is the night")
            await s.press("enter")
            assert isinstance(sam.screen, RiskDialog)
            focused = sam.screen.focused
            assert isinstance(focused, Button)
            assert focused.id == "cancel"
            assert not any("shared help" in line for line in timeline_lines(mia))
            await click(s, "#raise")

            # Both buddies see the program's help first, their own lines beside it.
            for pilot, app in ((s, sam), (m, mia)):
                await wait_for(pilot, lambda a=app: isinstance(a.screen, CrisisScreen), "help")
                text = _crisis_text(app.screen)
                assert "shared help for right now" in text
                assert PLAN_TEXT in text
                assert text.index("Peer line crisis team") < text.index("Samaritans")
                assert "emergency" in text.lower()
                await pilot.press("escape")
            await wait_for(
                m, lambda: any("shared help" in line for line in timeline_lines(mia)), "a notice"
            )
            notice = next(line for line in timeline_lines(mia) if "shared help" in line)
            assert "Peer line crisis team (+44 20 7946 0000)" in notice

            # The moderator is told, in the program room's timeline and at once.
            mo_main = mo.screen
            assert isinstance(mo_main, MainScreen)
            await mo_main.open_room(program.id)
            await wait_for(
                o, lambda: any("RISK ALERT" in line for line in timeline_lines(mo)), "the alert"
            )
            alert = next(line for line in timeline_lines(mo) if "RISK ALERT" in line)
            assert "she says tonight is the night" in alert
            assert "(supporter)" in alert
            # Mia, the person at risk, is not shown the alert to the moderators.
            await mia_main.open_room(program.id)
            assert not any("RISK ALERT" in line for line in timeline_lines(mia))
