"""Admission: whether a message, deletion or erasure the relay served may count.

A message goes through the head, epoch, membership (its place), signature,
decryption and counter checks, in that order (:meth:`Admission.open`); the first
that fails raises an alarm and the message counts for nothing. Membership is
checked twice: at the head the message names, and at the point of the event
sequence where the relay stored it (the relay's own admission check), or in
history at the log as it stood at the message's ``seq``.

A deletion (tombstone) counts if its signature verifies and its author, at the
deletion's place in room order, is its sender or a moderator; a member's erasure
if it verifies, names a member who is gone, and was signed after their latest
departure. What a verified one excuses is the business of ``counters.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

from client_sdk._core.alarms import Alarms
from client_sdk._core.counters import Counters
from client_sdk._core.ledger import Ledger
from client_sdk._core.moderation import Moderation
from client_sdk._core.step import Deletion, Opened, Step
from protocol.api import ErasedEvent, MessageEvent, TombstoneEvent
from protocol.envelope import check_place, open_message
from protocol.errors import EnvelopeError, ForkDetected
from protocol.ids import RoomId
from protocol.messages import EnvelopeHeader, Plaintext
from protocol.ops import ROLE_RANK
from protocol.signing import verify_delete, verify_erase

__all__ = ["Admission"]

_MODERATOR = ROLE_RANK["moderator"]


@final
class Admission:
    """The checks a room event passes before it counts. See the module docstring."""

    def __init__(
        self,
        *,
        room: RoomId,
        secrets: Mapping[int, bytes],
        ledger: Ledger,
        counters: Counters,
        moderation: Moderation,
        alarms: Alarms,
    ) -> None:
        self.room = room
        self.secrets = secrets
        """The room's epoch secrets (the facade's own dict, read here)."""
        self.ledger = ledger
        self.counters = counters
        self.moderation = moderation
        self.alarms = alarms

    def open(
        self,
        step: Step,
        event: MessageEvent,
        *,
        log_synced: bool,
        forward: bool,
        opened: Opened | None = None,
        stored_at: int | None = None,
    ) -> Plaintext | None:
        """The message's plaintext if it passes every check, else None.

        None with :attr:`Step.need_log` set: the message names a head beyond our
        log (fetch it, then feed the event again with ``log_synced``). None with an
        alarm in ``step``: a check failed. None and nothing else: an epoch before
        we joined, not ours to read.
        """
        envelope = event.envelope
        h = envelope.header
        log = self.ledger.log
        try:
            if h.room != self.room:
                raise EnvelopeError("message names another room", code="msg.bad_room")
            try:
                known = log.check_head(h.head_index, h.head)
            except ForkDetected as exc:
                self.alarms.raise_(
                    step, "fork", f"message {h.id} names a head we hold otherwise", exc.code
                )
                return None
            if not known:
                if not log_synced:
                    step.need_log = True
                    return None
                self.alarms.raise_(
                    step,
                    "fork",
                    f"message {h.id} names log index {h.head_index}, beyond the relay's log",
                    "msg.unknown_head",
                )
                return None
            if h.epoch > log.epoch:
                self.alarms.raise_(
                    step,
                    "unknown_epoch",
                    f"message {h.id} uses epoch {h.epoch}; the log is at {log.epoch}",
                    "msg.unknown_epoch",
                )
                return None
            standings = self.ledger.standings
            if forward:
                seq_index = self.ledger.seq_index
                if h.head_index > seq_index:
                    self.alarms.raise_(
                        step,
                        "fork",
                        f"message {h.id} names log index {h.head_index}, which the relay's"
                        f" sequence had not reached (index {seq_index})",
                        "msg.unknown_head",
                    )
                    return None
                # What the relay's own check_envelope saw when it stored the message:
                # in sequence order the log was exactly at ``seq_index``.
                check_place(h, standings[seq_index], "when the relay stored it")
            elif stored_at is not None and 0 <= stored_at < len(standings):
                self._check_history_place(h, stored_at)
            check_place(h, standings[h.head_index], "at the head it names")
            secret = self.secrets.get(h.epoch)
            if secret is None:
                # An epoch from before we joined (or while we were out): not ours to
                # read. The sender's counters restart from what we see next.
                if forward:
                    self.counters.rebase.add(h.sender)
                return None
            if opened is None or opened.envelope is not envelope or opened.secret != secret:
                plaintext = open_message(envelope, epoch_secret=secret)
            elif isinstance(opened.result, EnvelopeError):
                raise opened.result
            else:
                plaintext = opened.result
            if forward:
                self.counters.observe(
                    h.sender, plaintext.device, plaintext.counter, plaintext.skipped
                )
            else:
                self.counters.place_back(h.sender, plaintext.device, plaintext.counter, h.id)
        except EnvelopeError as exc:
            self.alarms.raise_(step, "bad_message", exc.message, exc.code)
            return None
        return plaintext

    def _check_history_place(self, h: EnvelopeHeader, stored_at: int) -> None:
        """The relay's admission check for history: the log as it stood at the message's seq."""
        if h.head_index > stored_at:
            raise EnvelopeError(
                f"message {h.id} names log index {h.head_index}, beyond the log"
                f" at its place in history (index {stored_at})",
                code="msg.replay",
            )
        check_place(h, self.ledger.standings[stored_at], "at its place in history")

    def tombstone(self, event: TombstoneEvent, *, forward: bool) -> Step:
        """A signed deletion: it excuses the one counter it names, and deletes if allowed."""
        step = Step()
        request = event.request
        content = request.content
        ledger = self.ledger
        try:
            verify_delete(request)
            if content.room != self.room or content.target != event.target:
                raise EnvelopeError("deletion names another message", code="msg.bad_room")
            # The author's standing at the deletion's place in room order.
            place = ledger.place(event.seq, 0, forward=forward)
            role = ledger.role_at(content.author, place, lowest=True)
            if role is None and ledger.role_at(content.author, place, lowest=False) is None:
                raise EnvelopeError("deletion by a non-member", code="msg.not_member")
            role = role or "member"
            moderator = ROLE_RANK[role] >= _MODERATOR
            if not moderator and content.author != content.sender:
                raise EnvelopeError(
                    "deletion of another member's message by a non-moderator",
                    code="auth.forbidden",
                )
        except EnvelopeError as exc:
            self.alarms.raise_(step, "bad_message", exc.message, exc.code)
            return step
        # The signed request names the one counter it excuses (section 8.6).
        self.counters.tracker.excuse(content.sender, content.device, content.counter)
        if moderator:
            self.moderation.note_deletion(content.author, content.at, event.target, content.sender)
        step.items.append(Deletion(event.target, content.author, moderator))
        return step

    def erased(self, event: ErasedEvent) -> Step:
        """A member's signed erasure: every message it sent before is gone.

        It excuses the gaps its streams have now (all sent before it left) and, one
        each, the messages whose placeholders name it (:meth:`Counters.backed`). The
        relay's bare statement excuses nothing.
        """
        step = Step()
        request = event.request
        if request is None:
            return step  # nothing proven: placeholders naming it raise ``withheld``
        c = request.content
        ledger = self.ledger
        try:
            verify_erase(request)
            if c.room != self.room or c.member != event.member:
                raise EnvelopeError("erasure names another room or member", code="msg.bad_room")
            if event.member in ledger.standings[ledger.seq_index].members:
                raise EnvelopeError(
                    f"erasure of {event.member}, who is a member here", code="msg.not_member"
                )
            if ledger.departed_at(event.member) > c.index:
                raise EnvelopeError(
                    f"erasure of {event.member} signed before its latest departure",
                    code="msg.replay",
                )
        except EnvelopeError as exc:
            self.alarms.raise_(step, "bad_message", exc.message, exc.code)
            return step
        self.counters.forgive_all(event.member)
        return step
