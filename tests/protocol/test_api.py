"""protocol.api: the batched ``events`` frame, built from encoded ``event`` frames."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.api import (
    EventFrame,
    EventsFrame,
    LogEvent,
    MessageEvent,
    RemovedEvent,
    RoomEvent,
    ServerFrame,
    event_frame_prefix,
    join_event_frames,
)
from protocol.encoding import from_json, to_json
from tests.protocol.builders import T0, Room

ROOM = Room()
ROOM.add("owner", "alice")
ROOM.add("owner", "bob")
MESSAGES = [ROOM.send(name, f"hello from {name}") for name in ("alice", "bob", "alice")]


def _events() -> list[RoomEvent]:
    events: list[RoomEvent] = [
        MessageEvent(seq=i + 1, ts=T0 + i, envelope=e) for i, e in enumerate(MESSAGES)
    ]
    events.append(
        RemovedEvent(
            seq=len(events) + 1, ts=T0, id=MESSAGES[0].header.id, sender=ROOM.member("alice"), by=9
        )
    )
    return events


def _frame(event: RoomEvent) -> bytes:
    return to_json(EventFrame(room=ROOM.room, event=event))


def test_the_prefix_is_how_an_event_frame_begins() -> None:
    for event in _events():
        assert _frame(event).startswith(event_frame_prefix(ROOM.room))


@given(st.integers(min_value=1, max_value=4))
def test_a_joined_frame_decodes_as_events_frame_with_the_same_events(count: int) -> None:
    events = _events()[:count]
    joined = join_event_frames(ROOM.room, [_frame(e) for e in events])
    assert joined is not None
    frame: object = from_json(joined, ServerFrame)  # type: ignore[arg-type]
    assert frame == EventsFrame(room=ROOM.room, events=events)
    # The very bytes msgspec would write for that frame.
    assert joined == to_json(EventsFrame(room=ROOM.room, events=events))


def test_frames_of_another_room_or_shape_are_not_joined() -> None:
    frames = [_frame(e) for e in _events()]
    other = Room()
    assert join_event_frames(other.room, frames) is None
    assert join_event_frames(ROOM.room, []) is None
    ack = b'{"type":"ack","room":"' + ROOM.room.encode() + b'"}'
    assert join_event_frames(ROOM.room, [*frames, ack]) is None
    assert join_event_frames(ROOM.room, [frames[0], frames[1] + b"\n"]) is None


@pytest.mark.parametrize("event", _events()[:1])
def test_one_frame_joins_to_a_batch_of_one(event: RoomEvent) -> None:
    joined = join_event_frames(ROOM.room, [_frame(event)])
    assert joined is not None
    assert from_json(joined, EventsFrame).events == [event]


def test_log_events_join_too() -> None:
    op = ROOM.add("owner", "carol")
    events: list[RoomEvent] = [
        LogEvent(seq=1, ts=T0, op=op),
        MessageEvent(seq=2, ts=T0, envelope=MESSAGES[0]),
    ]
    joined = join_event_frames(ROOM.room, [_frame(e) for e in events])
    assert joined is not None
    assert from_json(joined, EventsFrame) == EventsFrame(room=ROOM.room, events=events)
