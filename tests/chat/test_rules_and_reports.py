"""Ground rules gate the first post; a report reaches a moderator's app."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from textual.widgets import Input, Label, ListItem, ListView, Static

from client_sdk import HearthClient, Identity, MessageReceived, ReportReceived, RulesAccepted
from hearth_chat.dialogs import (
    ConfirmDialog,
    MembersDialog,
    ReportDialog,
    ReportsDialog,
    RulesDialog,
    ScheduleDialog,
)
from hearth_chat.rooms import MainScreen
from tests.chat.conftest import (
    WAIT,
    click,
    create_room,
    join,
    make_app,
    make_invite,
    say,
    select_message,
    shows,
    type_into,
    unlock,
    wait_for,
)
from tests.client_sdk.conftest import RelayProcess

RULES = "1. What is said here stays here.\n2. No advice unless asked."


async def test_rules_must_be_accepted_before_the_first_post(
    relay: RelayProcess, tmp_path: Path
) -> None:
    owner_id = Identity.generate()
    async with HearthClient(relay.url, owner_id, store_path=tmp_path / "owner.db") as owner:
        room = await owner.create_group("Sober October", rules=RULES)
        link = await room.create_invite()
        app = make_app(relay, tmp_path / "dee", identity=Identity.generate())
        async with app.run_test(size=(120, 40)) as pilot:
            await unlock(pilot)
            await join(pilot, link)
            main = app.screen
            assert isinstance(main, MainScreen)
            banner = main.query_one("#room-banner", Static)
            await wait_for(
                pilot, lambda: "accept them before you post" in str(banner.render()), "the banner"
            )
            assert main.room().rules == RULES

            await say(pilot, "hi all, first time here")
            await wait_for(pilot, lambda: isinstance(app.screen, RulesDialog), "the rules")
            assert "What is said here stays here." in "".join(
                str(s.render()) for s in app.screen.query(Static)
            )
            await click(pilot, "#cancel")  # "Not now": nothing is sent
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "main screen")
            assert main.query_one("#composer", Input).value == "hi all, first time here"
            assert not main.room().rules_accepted
            assert await main.room().pending() == 0

            await click(pilot, "#composer")  # the text is still there: Enter again
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, RulesDialog), "the rules")
            await click(pilot, "#accept")
            await wait_for(pilot, lambda: shows(app, "you: hi all, first time here"), "sent")

            # The schedule a moderator publishes: F6 lists it and exports it for a calendar.
            await room.set_schedule(
                "Check-in",
                frequency="weekly",
                start=datetime(2030, 1, 7, 19, 0),
                timezone="Europe/Berlin",
                duration=timedelta(minutes=60),
            )
            await wait_for(pilot, lambda: main.room().schedule is not None, "the schedule")
            await pilot.press("f6")
            await wait_for(pilot, lambda: isinstance(app.screen, ScheduleDialog), "schedule")
            meetings = str(app.screen.query_one("#meetings", Static).render())
            assert "Mon 07 Jan 2030, 19:00 to 20:00" in meetings
            assert "Mon 14 Jan 2030, 19:00" in meetings
            await click(pilot, "#export")
            exported = tmp_path / "dee" / "exports" / "Sober-October.ics"
            await wait_for(pilot, exported.exists, "the exported calendar")
            ics = exported.read_text("utf-8")
            assert ics.startswith("BEGIN:VCALENDAR")
            assert "RRULE:FREQ=WEEKLY" in ics
            assert "SUMMARY:Check-in" in ics

        events: list[object] = []
        async with asyncio.timeout(WAIT):
            async for event in owner.events():
                events.append(event)
                if isinstance(event, MessageReceived) and event.message.text.startswith("hi all"):
                    break
        accepted = [e for e in events if isinstance(e, RulesAccepted)]
        assert [e.version for e in accepted] == [1]
        texts = [e.message.text for e in events if isinstance(e, MessageReceived)]
        assert texts == ["hi all, first time here"]  # the accept came first, then the post


async def test_report_reaches_the_moderators_app(relay: RelayProcess, tmp_path: Path) -> None:
    mod, member = (
        make_app(relay, tmp_path / "mod", identity=Identity.generate()),
        make_app(relay, tmp_path / "member", identity=Identity.generate()),
    )
    async with (
        mod.run_test(size=(120, 40)) as m,
        member.run_test(size=(120, 40)) as p,
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "troll.db") as troll,
    ):
        await unlock(m)
        await unlock(p)
        await create_room(m, "Grief circle")
        member_link = await make_invite(m)
        troll_link = await make_invite(m)
        await join(p, member_link)
        troll_room = await troll.join(troll_link)
        await troll_room.send("nobody here cares about you")

        await wait_for(p, lambda: shows(member, "nobody here cares"), "the hurtful message")
        select_message(member, "nobody here cares")
        await p.press("ctrl+o")  # the message actions menu
        await click(p, "#do-report")
        await wait_for(p, lambda: isinstance(member.screen, ReportDialog), "the report dialog")
        await type_into(p, "#reason", "cruel to members")
        await click(p, "#send")
        await wait_for(p, lambda: isinstance(member.screen, MainScreen), "the report sent")

        await wait_for(m, lambda: mod.reports, "the report reaching the moderator")
        room_name, report = mod.reports[0]
        assert isinstance(report, ReportReceived)
        assert room_name == "Grief circle"
        assert report.reason == "cruel to members"
        assert report.text == "nobody here cares about you"
        assert report.sender == troll_room.me
        assert member.client is not None
        assert report.reporter == member.client.room(troll_room.id).me

        await m.press("f7")
        await wait_for(m, lambda: isinstance(mod.screen, ReportsDialog), "the reports screen")
        shown = "".join(str(s.render()) for s in mod.screen.query(".report"))
        assert "cruel to members" in shown
        assert "nobody here cares about you" in shown
        # People as the room shows them, with their roles, never a bare key.
        assert "(member) reported a message by" in shown
        await m.press("escape")

        # The owner makes the reporting member a moderator (F5, "Make moderator…", which
        # asks first); the member's app says so.
        await m.press("f5")
        await wait_for(m, lambda: isinstance(mod.screen, MembersDialog), "the members")
        members = mod.screen.query_one("#members", ListView)
        for index, item in enumerate(members.query(ListItem)):
            if report.reporter[:8] in str(item.query_one(Label).render()):
                members.index = index
        await click(m, "#role-moderator")
        await wait_for(m, lambda: isinstance(mod.screen, ConfirmDialog), "the question")
        await click(m, "#yes")
        member_main = member.screen
        assert isinstance(member_main, MainScreen)
        title = member_main.query_one("#room-title", Static)
        await wait_for(p, lambda: "you are moderator" in str(title.render()), "the new role")
        await m.press("escape")

        # The moderator acts on it: delete the message from the room view.
        await wait_for(m, lambda: shows(mod, "nobody here cares"), "the message at the moderator")
        select_message(mod, "nobody here cares")
        await m.press("ctrl+d")
        await wait_for(m, lambda: mod.screen.query("#yes"), "the confirmation")
        await click(m, "#yes")
        await wait_for(p, lambda: not shows(member, "nobody here cares"), "the deletion")
