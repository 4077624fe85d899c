"""Invite links: ``{relay}/join/{room}#{secret}``, the secret only in the URL fragment.

Browsers never send a fragment to a server, so the secret reaches neither the
relay nor any web server that serves the link; the room log holds only the
public key derived from it.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from client_sdk.errors import InviteError
from protocol.errors import DecodeError
from protocol.ids import ROOM_ID_CHARS, RoomId, b64url_decode, b64url_encode
from protocol.ops import PROTOCOL_VERSION
from protocol.signing import InviteKey

__all__ = ["invite_link", "parse_invite"]

_V1_ROOM_ID_CHARS: Final = 22


def invite_link(base_url: str, room: RoomId, invite: InviteKey) -> str:
    """The link for ``invite`` to ``room`` on the relay at ``base_url``."""
    return f"{base_url.rstrip('/')}/join/{room}#{b64url_encode(invite.secret)}"


def parse_invite(link: str) -> tuple[RoomId, InviteKey]:
    """The room and invite key of a link made by :func:`invite_link`.

    The room id in the path commits to the room's genesis (``docs/protocol.md``
    section 5.8): the joiner refuses a served log whose ``room.create`` does not
    hash to it before it signs or seals anything.

    Raises:
        InviteError: ``invite.malformed``; ``invite.old_version`` for a link of
            protocol version 1, whose 22-character room ids bind to nothing.
    """
    parts = urlsplit(link.strip())
    segments = parts.path.rstrip("/").split("/")
    try:
        if len(segments) < 2 or segments[-2] != "join" or not parts.fragment:
            raise InviteError("not a Hearth invite link", code="invite.malformed")
        room = RoomId(segments[-1])
        invite = InviteKey(b64url_decode(parts.fragment))
        if len(room) == _V1_ROOM_ID_CHARS:
            b64url_decode(room)
            raise InviteError(
                "this invite link is from Hearth protocol version 1, which this app no longer"
                f" speaks (version {PROTOCOL_VERSION}): ask for a new link",
                code="invite.old_version",
            )
        if len(room) != ROOM_ID_CHARS:
            raise InviteError("not a Hearth invite link", code="invite.malformed")
        b64url_decode(room)
        return room, invite
    except (DecodeError, ValueError) as exc:
        raise InviteError("not a Hearth invite link", code="invite.malformed") from exc
