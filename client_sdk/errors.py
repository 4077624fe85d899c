"""The SDK's errors: every failure a front end sees is a :class:`protocol.HearthError`.

Each class carries stable string codes (``room.blocked``, ``net.unavailable``) that
an app may branch on; messages are for humans and may change. Exceptions from
httpx, websockets, aiosqlite or PyNaCl never cross the public API: the driver
modules translate them at their boundary. Like Trio, the SDK tells "you closed it"
(:class:`ClientClosed`) apart from "it broke" (:class:`RelayUnavailable`).
"""

from __future__ import annotations

from typing import Any, final

from protocol.errors import HearthError

__all__ = [
    "BlockError",
    "ClientClosed",
    "InviteError",
    "KeystoreError",
    "PostingMuted",
    "RelayError",
    "RelayUnavailable",
    "ReportError",
    "RoomBlocked",
    "RoomInactive",
    "RulesNotAccepted",
    "ScheduleError",
    "StoreError",
    "SupportError",
]


@final
class RelayError(HearthError):
    """The relay answered, and refused: ``code`` is the relay's error code.

    Attributes:
        status: The HTTP status (0 for a websocket error frame).
        detail: The relay's ``detail`` object, if it sent one.
        retry_after: Seconds the relay asked us to wait (``rate.limited``), if any.
    """

    default_code = "relay.error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int = 0,
        detail: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.detail = detail or {}
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """True if the same request may succeed later (rate limit, relay trouble)."""
        return (
            self.code
            in {
                "rate.limited",
                "internal",
                "stream.shutdown",
                "stream.behind",
                "storage.unavailable",
            }
            or self.status >= 500
        )


@final
class RelayUnavailable(HearthError):
    """The relay could not be reached or the connection broke (``net.unavailable``).

    Messages sent meanwhile wait in the outbox and go out once the relay answers.
    """

    default_code = "net.unavailable"


@final
class ClientClosed(HearthError):
    """The client is not open: ``client.closed`` after close, ``client.not_open`` before."""

    default_code = "client.closed"


@final
class RoomBlocked(HearthError):
    """The room refuses to send until its security alarms are acknowledged (``room.blocked``).

    See :meth:`client_sdk.Room.acknowledge_alarms`.
    """

    default_code = "room.blocked"


@final
class RoomInactive(HearthError):
    """The room can no longer be used: ``room.left`` or ``room.removed``."""

    default_code = "room.left"


@final
class InviteError(HearthError):
    """An invite link that cannot be used.

    Codes: ``invite.malformed`` (not a Hearth invite link), ``invite.unknown``
    (the room's verified log holds no such invite), ``invite.revoked`` (also
    when its creator was removed, banned or demoted, or left),
    ``invite.expired``, ``invite.used_up``, ``invite.room_full`` (the room is at
    its policy's member cap; a buddy chat holds two), ``invite.refused`` (the
    relay's log refused the join), ``invite.banned`` (the room's log bans our key),
    ``invite.blocked`` (a key we blocked made the invite, or is in the buddy chat).
    """

    default_code = "invite.malformed"


@final
class KeystoreError(HearthError):
    """A keystore file that cannot be opened.

    Codes: ``keystore.wrong_passphrase``, ``keystore.corrupt`` (not a keystore, or
    damaged), ``keystore.version`` (written by a newer SDK), ``keystore.io``.
    """

    default_code = "keystore.corrupt"


@final
class StoreError(HearthError):
    """The local store failed.

    Codes: ``store.wrong_identity`` (the store belongs to another identity),
    ``store.version`` (a store of another format, named in the message: an older
    SDK's; restore or link into a new store), ``store.corrupt``, ``store.io``.
    """

    default_code = "store.io"


@final
class RulesNotAccepted(HearthError):
    """The room has ground rules we have not accepted yet (``rules.not_accepted``).

    Show :attr:`client_sdk.Room.rules` to the person, then call
    :meth:`client_sdk.Room.accept_rules`. A new version of the rules asks again.
    """

    default_code = "rules.not_accepted"


@final
class PostingMuted(HearthError):
    """A moderator muted us in this room (``room.muted``); posting waits for an unmute."""

    default_code = "room.muted"


@final
class ReportError(HearthError):
    """A report that cannot be made.

    Codes: ``report.no_recipients`` (no moderator, owner or supporter but us),
    ``report.no_evidence`` (the relay no longer holds the message: deleted or purged).
    """

    default_code = "report.no_recipients"


@final
class ScheduleError(HearthError):
    """A meeting schedule that cannot be used.

    Codes: ``schedule.bad_zone`` (not an IANA time zone), ``schedule.bad_start``,
    ``schedule.none`` (the room has no schedule to export).
    """

    default_code = "schedule.none"


@final
class SupportError(HearthError):
    """A community-program support step that cannot be taken.

    Codes: ``support.not_program`` (not a program room), ``support.no_supporters``
    (the program has no supporter but us to ask), ``support.not_supporter`` (only
    a member whose role is ``supporter`` claims or sets availability),
    ``support.away`` (we set ourselves away), ``support.at_capacity`` (we carry
    as many open buddy chats as our cap allows), ``support.unknown_request``,
    ``support.taken`` (another supporter claimed it first, in room order),
    ``support.withdrawn``, ``support.own_request``, ``support.not_requester``
    (only the requester withdraws), ``support.requester_gone`` (the requester
    left the program), ``support.bad_invite`` (the buddy chat a claim names is
    not the claiming supporter's). The risk path adds ``support.not_moderator``
    (only a program's moderators and owners publish its risk plan),
    ``support.not_buddy_chat`` (a risk alert is raised from the buddy chat of a
    request this device claimed), ``support.bad_plan`` (more than 50 lines) and
    ``support.no_moderators`` (the help was shown, but the program has no owner or
    moderator but us to alert).
    """

    default_code = "support.unknown_request"


@final
class BlockError(HearthError):
    """A block that cannot be recorded.

    Codes: ``block.bad_member`` (not a member id), ``block.self`` (one of this
    identity's own member ids).
    """

    default_code = "block.bad_member"
