"""The driver of community programs: asking for support, claiming, buddy chats.

The queue itself is plain state (``_support.SupportBook``, folded by the room
state in room order); what is here does the I/O around it for :class:`Room`:

- ``request_support`` seals the request to the supporters of the verified log
  (and to us), sends it, and syncs once so the answer carries its place;
- ``claim`` checks locally (role, availability, cap, request still waiting),
  opens a buddy chat, sends the claim with the chat's invite sealed to the
  requester, then syncs until its own claim comes back in room order: only
  then is it known whether another supporter's claim came first. A lost claim
  leaves the buddy chat it opened and raises ``support.taken``;
- ``buddy_chat`` joins the buddy chat a claim of our request names (the SDK
  does it by itself when it verifies the claim) and checks, in that room's
  verified log, that its owner is the key the supporter's signed claim named.

No relay support is needed: every step is an encrypted message of the program
room or an ordinary buddy chat.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Literal

import msgspec

from client_sdk._core.state import RoomState
from client_sdk._core.step import Step
from client_sdk._support import seal_invite, seal_request, seal_reseal
from client_sdk.errors import InviteError, RelayUnavailable, RoomInactive, SupportError
from client_sdk.support import SupportRequest
from protocol.ids import MemberId, MessageId, RoomId
from protocol.messages import (
    SupportClaimBody,
    SupporterStatusBody,
    SupportInvite,
    SupportWithdrawBody,
)
from protocol.ops import LeaveOp, RemoveOp

if TYPE_CHECKING:
    from client_sdk._driver import RoomDriver
    from client_sdk._host import RoomHost

__all__ = [
    "buddy_chat",
    "claim",
    "join_claimed",
    "open_chats",
    "request_support",
    "reseal",
    "restatus",
    "set_availability",
    "unjoined",
    "withdraw",
]

_MAX_READERS: Final = 255  # the request's seals hold at most 256, ours included
_BUDDY_INVITE_SECONDS: Final = 7 * 24 * 3600


def _program(host: RoomHost, room: RoomId) -> RoomDriver:
    driver = host.driver(room)
    driver.state.require_sendable()
    if driver.state.policy.kind != "program":
        raise SupportError("support requests are for program rooms", code="support.not_program")
    return driver


def _require_supporter(state: RoomState) -> None:
    if state.log.role_of(state.me) != "supporter":
        raise SupportError(
            "only the program's supporters take 1:1 chats", code="support.not_supporter"
        )


def _known(state: RoomState, request: MessageId) -> SupportRequest:
    if not state.support.has(request):
        raise SupportError(f"no support request {request} here", code="support.unknown_request")
    return state.support.view(request)


async def _settle(host: RoomHost) -> None:
    """Read the room back up to what we just sent (our message, in room order)."""
    await host.sync()


async def request_support(host: RoomHost, room: RoomId, text: str) -> SupportRequest:
    driver = _program(host, room)
    state = driver.state
    supporters = {
        m.id: m.box_key
        for m in state.log.members.values()
        if m.role == "supporter" and m.id != state.me
    }
    if not supporters:
        raise SupportError("this program has no supporter to ask", code="support.no_supporters")
    if len(supporters) > _MAX_READERS:
        raise SupportError(
            f"a request reaches at most {_MAX_READERS} supporters",
            code="support.too_many_supporters",
        )
    at = driver.clock.now_ms()
    body = seal_request(state.keys, text=text, supporters=supporters, at=at)
    request_id = await driver.send(body)
    with contextlib.suppress(RelayUnavailable):
        await _settle(host)
    if state.support.has(request_id):
        return state.support.view(request_id)
    return SupportRequest(  # still in the outbox: it takes its place once the relay has it
        id=request_id,
        room_id=room,
        requester=state.me,
        text=text,
        status="sending",
        position=None,
        supporter=None,
        buddy_room_id=None,
        sent_at=datetime.fromtimestamp(at / 1000, tz=UTC),
        mine=True,
    )


async def withdraw(host: RoomHost, room: RoomId, request: MessageId) -> None:
    driver = _program(host, room)
    state = driver.state
    _check_waiting(state, _known(state, request), mine=True)
    await driver.send(SupportWithdrawBody(request=request))
    with contextlib.suppress(RelayUnavailable):
        await _settle(host)
    if state.support.view(request).status == "claimed":
        raise SupportError(
            "a supporter claimed the request before the withdrawal", code="support.taken"
        )


def _check_waiting(state: RoomState, view: SupportRequest, *, mine: bool) -> None:
    if mine and view.requester != state.me:
        raise SupportError("only the requester withdraws a request", code="support.not_requester")
    if not mine and view.requester == state.me:
        raise SupportError("nobody claims their own request", code="support.own_request")
    if view.status == "claimed":
        raise SupportError("another supporter claimed this request", code="support.taken")
    if view.status == "withdrawn":
        raise SupportError("the requester withdrew this request", code="support.withdrawn")


def open_chats(host: RoomHost, state: RoomState) -> int:
    """Our open buddy chats from claims: in flight, or neither side has left.

    A buddy chat closes when either buddy leaves it (or is removed): its
    verified log then holds a ``room.leave`` or ``room.remove``.
    """
    count = len(state.support.pending)
    for buddy in state.support.claimed_by_me():
        chat = host.rooms.get(buddy)
        if chat is None or chat.state.status != "active":
            continue
        if any(isinstance(op.content.body, LeaveOp | RemoveOp) for op in chat.state.log.ops):
            continue
        count += 1
    return count


async def claim(host: RoomHost, room: RoomId, request: MessageId) -> RoomId:
    driver = _program(host, room)
    state = driver.state
    _require_supporter(state)
    view = _known(state, request)
    _check_waiting(state, view, mine=False)
    status = state.support.my_status()
    if status is None or not status.available:
        raise SupportError("you set yourself away", code="support.away")
    if status.max_open is not None and open_chats(host, state) >= status.max_open:
        raise SupportError(
            f"you carry {status.max_open} open buddy chat(s), your cap",
            code="support.at_capacity",
        )
    requester = state.log.members.get(view.requester)
    if requester is None:
        raise SupportError("the requester left the program", code="support.requester_gone")

    buddy = host.driver(await host.create_buddy_chat("Support chat"))
    link = await buddy.invite(max_uses=1, expires_in=_BUDDY_INVITE_SECONDS, role="member")
    invite = SupportInvite(
        room=room,
        request=request,
        supporter=state.me,
        buddy_room=buddy.room,
        buddy_owner=buddy.state.me,
        link=link,
    )
    async with driver.slot.lock:
        state.support.pending[request] = buddy.room
        await driver.save(Step())
    try:
        await driver.send(
            SupportClaimBody(request=request, invite=seal_invite(requester.box_key, invite))
        )
    except BaseException:
        async with driver.slot.lock:
            state.support.pending.pop(request, None)
            await driver.save(Step())
        with contextlib.suppress(Exception):
            await buddy.leave()
        raise
    await _settle(host)  # RelayUnavailable: the claim waits in the outbox; events tell
    if state.support.view(request).supporter == state.me:
        return buddy.room
    await abandon(host, driver, request)
    if buddy.state.status == "active":
        # The SDK's own abandon (from reading the claim) may be leaving it right now:
        # the room's lock makes this wait for it, then find nothing left to do.
        with contextlib.suppress(RoomInactive):
            await buddy.leave()
    raise SupportError("another supporter claimed this request first", code="support.taken")


async def abandon(host: RoomHost, driver: RoomDriver, request: MessageId) -> None:
    """Leave the buddy chat of a claim that lost (now, or once read back after a restart)."""
    state = driver.state
    async with driver.slot.lock:
        buddy = state.support.lost.pop(request, None) or state.support.pending.pop(request, None)
        await driver.save(Step())
    chat = host.rooms.get(buddy) if buddy is not None else None
    if chat is not None and chat.state.status == "active":
        with contextlib.suppress(RoomInactive):
            await chat.leave()


def unjoined(host: RoomHost) -> list[tuple[RoomDriver, MessageId]]:
    """Our claimed requests whose buddy chat this device has not joined."""
    out = []
    for driver in host.rooms.values():
        book = driver.state.support
        if driver.state.status != "active" or book.empty:
            continue
        for view in book.requests():
            invite = book.invite(view.id) if view.mine and view.status == "claimed" else None
            if invite is not None and invite[1] not in host.rooms:
                out.append((driver, view.id))
    return out


async def set_availability(
    host: RoomHost,
    room: RoomId,
    available: bool,
    max_open: int | Literal["keep"] | None,
) -> None:
    driver = _program(host, room)
    state = driver.state
    _require_supporter(state)
    if max_open == "keep":
        current = state.support.my_status()
        max_open = current.max_open if current else None
    elif max_open is not None and not 1 <= max_open <= 1000:
        raise SupportError("the cap is 1 to 1000 open chats", code="support.bad_cap")
    await driver.send(SupporterStatusBody(available=available, max_open=max_open))


async def restatus(driver: RoomDriver) -> None:
    """Re-send our status, with the queue, for a newcomer (who cannot read the old ones).

    A supporter who never said anything says "away": the status a newcomer
    assumes anyway.
    """
    state = driver.state
    book = state.support
    if state.log.role_of(state.me) != "supporter":
        return
    status = book.my_status() or SupporterStatusBody(available=False)
    await driver.send(msgspec.structs.replace(status, queue=book.queue_snapshot()))


async def reseal(driver: RoomDriver, request: MessageId, text: str, to: list[MemberId]) -> None:
    """Seal our waiting request again for supporters who arrived after it."""
    state = driver.state
    keys = {m: state.log.members[m].box_key for m in to if m in state.log.members}
    if keys and state.support.view(request).status == "waiting":
        body = seal_reseal(
            state.keys, request=request, text=text, supporters=keys, at=driver.clock.now_ms()
        )
        await driver.send(body)


async def buddy_chat(host: RoomHost, room: RoomId, request: MessageId) -> RoomId:
    state = host.driver(room).state
    view = _known(state, request)
    if view.status != "claimed" or view.buddy_room_id is None:
        raise SupportError("no buddy chat of ours for this request", code="support.no_buddy_chat")
    if view.supporter == state.me:
        return _listed(host, view.buddy_room_id)
    if view.supporter is not None and view.supporter in host.blocked:
        raise InviteError(
            "a key you blocked claimed this request; ask again", code="invite.blocked"
        )
    invite = state.support.invite(request)
    if invite is None:
        raise SupportError("no buddy chat of ours for this request", code="support.no_buddy_chat")
    link, buddy_room, owner = invite
    async with host.buddy_lock:  # the automatic join and the app's call: one join
        existing = host.rooms.get(buddy_room)
        if existing is not None and existing.state.status == "active":
            return buddy_room
        buddy = await host.join(link)
        chat = host.driver(buddy)
        joined = chat.state
        their = joined.log.members.get(owner)
        if joined.policy.kind != "buddy" or their is None or their.role != "owner":
            await chat.leave()
            raise SupportError(
                "the buddy chat is not the claiming supporter's", code="support.bad_invite"
            )
        return buddy


def _listed(host: RoomHost, room: RoomId) -> RoomId:
    """``room`` if the local store holds it (what ``HearthClient.room`` checks)."""
    if room not in host.rooms:
        raise KeyError(room)
    return room


async def join_claimed(host: RoomHost, room: RoomId, request: MessageId) -> None:
    """The automatic join when our request is claimed (errors are logged by the caller)."""
    await buddy_chat(host, room, request)
