"""Names and roles in the chat app (issue 19, item 1).

Everyone used to be an 8-character key, different in every room: a supporter was
"JyTASTsA". Now the timeline shows the name a member chose with the role the
verified log gives them, a rename is a line in the timeline, and F10 sets one's
own name in the open room.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Label, ListItem, Static

from client_sdk import HearthClient, Identity, MemberRenamed
from hearth_chat.dialogs import MembersDialog
from hearth_chat.names import NameDialog
from hearth_chat.notices import NoticeItem
from hearth_chat.rooms import MainScreen
from tests.chat.conftest import click, join, make_app, shows, type_into, unlock, wait_for
from tests.client_sdk.conftest import RelayProcess
from tests.client_sdk.test_client import Watcher


def _renames(app: object) -> list[str]:
    screen = getattr(app, "screen", None)
    if not isinstance(screen, MainScreen):
        return []
    return [
        str(s.render())
        for item in screen.query(NoticeItem)
        for s in item.query(Static)
        if " now " in str(s.render())
    ]


async def test_the_timeline_shows_name_and_role_from_the_log(
    relay: RelayProcess, tmp_path: Path
) -> None:
    async with (
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "o.db") as owner,
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "s.db") as sam,
        HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "f.db") as faker,
    ):
        program = await owner.create_program("Peer line")
        s_room = await sam.join(await program.create_invite(role="supporter"))
        await s_room.set_name("Sam")
        f_room = await faker.join(await program.create_invite())
        await f_room.set_name("Supporter Sam")  # a name, not a role
        member_link = await program.create_invite()

        mia = make_app(relay, tmp_path / "mia", identity=Identity.generate())
        async with mia.run_test(size=(120, 40)) as m:
            await unlock(m)
            await join(m, member_link)
            # The names were set before Mia joined: their owners send them again.
            await s_room.send("I'm on duty tonight, ask away")
            await f_room.send("me too, I can help")
            await wait_for(
                m, lambda: shows(mia, "Sam (supporter): I'm on duty tonight"), "supporter's line"
            )
            await wait_for(
                m, lambda: shows(mia, "Supporter Sam (member): me too"), "the member's line"
            )
            await wait_for(
                m,
                lambda: any("is now Sam (supporter)" in x for x in _renames(mia)),
                "the line saying who Sam is",
            )
            assert not shows(mia, s_room.me[:8])  # nobody is a bare key any more

            # A rename is a line, and the lines already shown follow it.
            await s_room.set_name("Sam K.")
            await wait_for(m, lambda: shows(mia, "Sam K. (supporter): I'm on duty"), "relabel")
            assert any("Sam is now Sam K. (supporter)" in x for x in _renames(mia))

            # The lines stay when the room is opened again (the timeline never
            # silently changes); a real terminal walk found them gone.
            main = mia.screen
            assert isinstance(main, MainScreen)
            await main.open_room(program.id)
            assert any("Sam is now Sam K. (supporter)" in x for x in _renames(mia))


async def test_f10_sets_ones_own_name_in_the_open_room(relay: RelayProcess, tmp_path: Path) -> None:
    async with HearthClient(relay.url, Identity.generate(), store_path=tmp_path / "o.db") as owner:
        group = await owner.create_group("Circle")
        await group.set_name("Ana")
        watcher = Watcher(owner)
        mia = make_app(relay, tmp_path / "mia", identity=Identity.generate())
        async with mia.run_test(size=(120, 40)) as m:
            await unlock(m)
            await join(m, await group.create_invite())
            await m.press("f10")
            await wait_for(m, lambda: isinstance(mia.screen, NameDialog), "the name dialog")
            await type_into(m, "#my-name", "Mia")
            await click(m, "#save-name")
            await wait_for(m, lambda: isinstance(mia.screen, MainScreen), "the dialog to close")
            renamed = await watcher.wait(MemberRenamed, lambda e: e.new == "Mia")
            assert group.member(renamed.member).display == "Mia (member)"
            await wait_for(
                m, lambda: any("You are now Mia" in x for x in _renames(mia)), "the rename line"
            )

            await m.press("f5")
            await wait_for(m, lambda: isinstance(mia.screen, MembersDialog), "the members")
            rows = [str(i.query_one(Label).render()) for i in mia.screen.query(ListItem)]
            assert "Ana (owner)" in rows
            assert "Mia (you, member)" in rows
            await m.press("escape")

            # A refused name says why and changes nothing.
            await m.press("f10")
            await wait_for(m, lambda: isinstance(mia.screen, NameDialog), "the name dialog")
            field = mia.screen.query_one("#my-name", Input)
            assert field.value == "Mia"
            field.value = ""
            await click(m, "#save-name")
            error = mia.screen.query_one("#error", Label)
            await wait_for(m, lambda: "Not saved" in str(error.render()), "the refusal")
