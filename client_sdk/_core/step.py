"""The values the room core hands its driver: one :class:`Step` per input.

A step lists, in order, what an input did: events for the app, messages that
passed every check (:class:`Accepted`), verified deletions, new log operations
and epoch secrets to persist, and the follow-ups it asks the driver to run
(``followups.py``). :func:`open_ahead` verifies and decrypts a page's messages
before :meth:`RoomState.receive <client_sdk._core.state.RoomState.receive>`
reaches them; it is pure and decides nothing (see its docstring).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import final

from client_sdk._core.followups import FollowUp
from client_sdk.events import Event
from protocol.api import MessageEvent, RoomEvent
from protocol.envelope import open_message
from protocol.epochs import message_key
from protocol.errors import EnvelopeError
from protocol.ids import MemberId, MessageId, RoomId
from protocol.messages import Envelope, EnvelopeHeader, Plaintext
from protocol.ops import SignedOp

__all__ = ["Accepted", "Deletion", "Opened", "Step", "open_ahead"]


@final
@dataclass(frozen=True, slots=True)
class Accepted:
    """A message that passed every check, with the relay's ``seq`` and time."""

    seq: int
    ts: int
    header: EnvelopeHeader
    plaintext: Plaintext


@final
@dataclass(frozen=True, slots=True)
class Deletion:
    """A verified deletion request; ``moderator`` if its author outranks senders."""

    target: MessageId
    by: MemberId
    moderator: bool


@final
@dataclass(frozen=True, slots=True)
class Opened:
    """``open_message`` of one envelope, done ahead (see :func:`open_ahead`)."""

    envelope: Envelope
    secret: bytes
    result: Plaintext | EnvelopeError


def open_ahead(
    room: RoomId, events: Iterable[RoomEvent], secrets: Mapping[int, bytes]
) -> dict[int, Opened]:
    """Verify and decrypt the messages of ``events`` whose epoch secret is known.

    Pure and thread-safe (``secrets`` must not change meanwhile: pass a copy). The
    result, by ``seq``, goes to :meth:`RoomState.receive`, which still makes every
    check of its own and calls ``open_message`` itself for whatever is missing here.
    """
    opened: dict[int, Opened] = {}
    keys: dict[int, bytes] = {}
    for event in events:
        if not isinstance(event, MessageEvent) or event.envelope.header.room != room:
            continue
        epoch = event.envelope.header.epoch
        secret = secrets.get(epoch)
        if secret is None:
            continue
        key = keys.get(epoch)
        if key is None:
            key = keys[epoch] = message_key(secret)
        result: Plaintext | EnvelopeError
        try:
            result = open_message(event.envelope, epoch_secret=secret, key=key)
        except EnvelopeError as exc:
            result = exc
        opened[event.seq] = Opened(event.envelope, secret, result)
    return opened


@dataclass(slots=True)
class Step:
    """What one input did, in order: for the driver to persist, then announce."""

    items: list[Event | Accepted | Deletion] = field(default_factory=list)
    secrets: dict[int, bytes] = field(default_factory=dict)
    ops: list[SignedOp] = field(default_factory=list)
    need_log: bool = False
    """A message names a head beyond our log: fetch the log, then feed it again.

    A flag, not a follow-up: the inbox acts on it before the step goes on."""
    follow_ups: list[FollowUp] = field(default_factory=list)
    """Work for the driver, in the order the step met it (``followups.py``)."""

    @property
    def events(self) -> list[Event]:
        return [i for i in self.items if not isinstance(i, Accepted | Deletion)]

    @property
    def accepted(self) -> list[Accepted]:
        return [i for i in self.items if isinstance(i, Accepted)]

    @property
    def deletions(self) -> list[Deletion]:
        return [i for i in self.items if isinstance(i, Deletion)]

    def follow(self, item: FollowUp) -> None:
        """Ask the driver for ``item``; a kind that runs ``once`` per step is asked once."""
        if not (item.once and item in self.follow_ups):
            self.follow_ups.append(item)

    def extend(self, other: Step) -> None:
        self.items += other.items
        self.secrets.update(other.secrets)
        self.ops += other.ops
        self.need_log = self.need_log or other.need_log
        for item in other.follow_ups:
            self.follow(item)
