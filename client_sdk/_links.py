"""Invite links: ``{relay}/join/{room}#{secret}``, the secret only in the URL fragment.

Browsers never send a fragment to a server, so the secret reaches neither the
relay nor any web server that serves the link; the room log holds only the
public key derived from it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from client_sdk.errors import InviteError
from protocol.errors import DecodeError
from protocol.ids import RoomId, b64url_decode, b64url_encode
from protocol.signing import InviteKey

__all__ = ["invite_link", "parse_invite"]


def invite_link(base_url: str, room: RoomId, invite: InviteKey) -> str:
    """The link for ``invite`` to ``room`` on the relay at ``base_url``."""
    return f"{base_url.rstrip('/')}/join/{room}#{b64url_encode(invite.secret)}"


def parse_invite(link: str) -> tuple[RoomId, InviteKey]:
    """The room and invite key of a link made by :func:`invite_link`.

    Raises:
        InviteError: ``invite.malformed``.
    """
    parts = urlsplit(link.strip())
    segments = parts.path.rstrip("/").split("/")
    try:
        if len(segments) < 2 or segments[-2] != "join" or not parts.fragment:
            raise InviteError("not a Hearth invite link", code="invite.malformed")
        room = RoomId(segments[-1])
        if len(room) != 22:
            raise InviteError("not a Hearth invite link", code="invite.malformed")
        b64url_decode(room)
        return room, InviteKey(b64url_decode(parts.fragment))
    except (DecodeError, ValueError) as exc:
        raise InviteError("not a Hearth invite link", code="invite.malformed") from exc
