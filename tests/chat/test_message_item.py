"""A message's line in the chat app, drawn before and after it is on screen."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from textual.app import App, ComposeResult
from textual.widgets import ListView, Static

from client_sdk import Message
from hearth_chat.rooms import MessageItem


def _message(text: str, **changes: object) -> Message:
    now = datetime.now(UTC)
    base = Message(
        id="m1",
        room_id="r1",
        sender="s" * 43,
        text=text,
        sent_at=now,
        received_at=now,
        content_warning=None,
        reply_to=None,
        mine=True,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_a_redraw_before_the_item_is_mounted_shows_once_it_is() -> None:
    # The relay's copy of one's own message can arrive while the queued copy is
    # still being mounted: the update must wait for the screen, not fail.
    item = MessageItem(_message("queued text"), queued=True)
    item.message, item.queued = _message("sent text", reply_to="m0"), False
    item.redraw(_message("the question", id="m0"))

    class _Shows(App[None]):
        def compose(self) -> ComposeResult:
            yield ListView(item)

    app = _Shows()
    async with app.run_test():
        shown = str(item.query_one(Static).render())
    assert "you: sent text" in shown
    assert "queued" not in shown
    assert "replying to: the question" in shown
