"""The thin I/O driver between the SDK and a relay: httpx for HTTP, websockets for the stream.

One method per endpoint of ``docs/api.md``, taking and returning the msgspec types
of ``protocol/api.py``. No decision is made here beyond encoding, decoding and
error translation: httpx and websockets exceptions become
:class:`RelayUnavailable` (could not reach or lost the relay) and relay refusals
become :class:`RelayError` with the relay's stable code, at this boundary and
nowhere else. An answer that does not decode is the relay's fault
(``relay.bad_answer``), never a crash.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Final, TypeVar, final

import httpx
import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from client_sdk.errors import RelayError, RelayUnavailable
from protocol.api import (
    AppendResult,
    AuthRequest,
    Challenge,
    ChallengeRequest,
    ClientFrame,
    CrisisResource,
    ErrorBody,
    HistoryPage,
    InviteReadRequest,
    LinkClaim,
    LinkOffer,
    LinkOffered,
    LogPage,
    MessageAck,
    PersonalDocument,
    PersonalIndex,
    PersonalInfo,
    PersonalWrite,
    PushRegistration,
    PushVapidKey,
    ServerFrame,
    Session,
    SyncRequest,
    SyncResponse,
    TombstoneEvent,
)
from protocol.encoding import from_json, to_json
from protocol.errors import DecodeError, HearthError
from protocol.ids import MemberId, RoomId
from protocol.messages import DeleteRequest, Envelope
from protocol.ops import SignedOp
from protocol.signing import canonical_origin

__all__ = ["CLOSE_CODES", "StreamConnection", "Transport", "origin_of"]

T = TypeVar("T")

CLOSE_CODES: Final[dict[int, str]] = {
    4400: "wire.malformed",
    4401: "auth.invalid",
    4403: "auth.forbidden",
    4409: "stream.behind",
    4430: "stream.too_many",
    4422: "msg.invalid",
    4429: "rate.limited",
    1009: "request.too_large",
    1011: "internal",
    1012: "stream.shutdown",
}
"""Websocket close codes of docs/api.md and the error codes they stand for."""


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, canonical, as the relay binds it into challenges."""
    try:
        return canonical_origin(url)
    except HearthError as exc:
        raise ValueError(exc.message) from exc


def _bearer(tokens: Sequence[str]) -> dict[str, str]:
    return {"authorization": "Bearer " + ",".join(tokens)}


def _decode(data: bytes, kind: type[T], what: str) -> T:
    try:
        return from_json(data, kind)
    except DecodeError as exc:
        raise RelayError(
            f"the relay's {what} does not decode: {exc.message}", code="relay.bad_answer"
        ) from exc


def _refusal(response: httpx.Response) -> RelayError:
    retry: float | None = None
    with contextlib.suppress(ValueError, TypeError):
        retry = float(response.headers.get("retry-after"))
    try:
        body = msgspec.json.decode(response.content, type=ErrorBody)
    except (msgspec.DecodeError, msgspec.ValidationError):
        code = "internal" if response.status_code >= 500 else "relay.bad_answer"
        return RelayError(
            f"relay answered HTTP {response.status_code}",
            code=code,
            status=response.status_code,
            retry_after=retry,
        )
    return RelayError(
        body.message,
        code=body.code,
        status=response.status_code,
        detail=body.detail,
        retry_after=retry,
    )


@final
class StreamConnection:
    """One open websocket to ``/v1/stream``: frames in, frames out."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket

    async def send(self, frame: ClientFrame) -> None:
        """Send one client frame."""
        try:
            await self._socket.send(to_json(frame).decode("utf-8"))
        except ConnectionClosed as exc:
            raise _closed(exc) from exc
        except (WebSocketException, OSError) as exc:
            raise RelayUnavailable(f"stream broke: {exc}") from exc

    async def recv(self) -> ServerFrame:
        """The next server frame.

        Raises:
            RelayError: The relay closed the stream with a close code of its table
                (``auth.invalid``, ``stream.behind``, ``rate.limited`` ...).
            RelayUnavailable: The connection ended otherwise.
        """
        try:
            data = await self._socket.recv()
        except ConnectionClosed as exc:
            raise _closed(exc) from exc
        except (WebSocketException, OSError) as exc:
            raise RelayUnavailable(f"stream broke: {exc}") from exc
        raw = data.encode("utf-8") if isinstance(data, str) else data
        return _decode(raw, ServerFrame, "stream frame")  # type: ignore[arg-type]

    async def close(self) -> None:
        """Close the websocket (errors on the way out are ignored)."""
        with contextlib.suppress(WebSocketException, OSError, RuntimeError):
            await self._socket.close()


def _comeback(reason: str) -> float | None:
    """The seconds a close reason ``<code> retry_ms=<n>`` asks to wait, if it asks."""
    for part in reason.split(" ")[1:]:
        key, _, value = part.partition("=")
        if key == "retry_ms" and value.isascii() and value.isdigit() and len(value) <= 9:
            return int(value) / 1000
    return None


def _closed(exc: ConnectionClosed) -> RelayError | RelayUnavailable:
    frame = exc.rcvd
    code = frame.code if frame is not None else None
    reason = frame.reason if frame is not None else ""
    if code is not None and code in CLOSE_CODES and code != 1011:
        return RelayError(
            f"relay closed the stream ({code} {reason})".strip(),
            code=CLOSE_CODES[code],
            detail={"close": code},
            retry_after=_comeback(reason),
        )
    if code == 1011 and reason == "storage.unavailable":
        # The relay is up but cannot write: not "offline" (docs/sdk.md, delivery states).
        return RelayError(
            "the relay cannot store messages right now",
            code="storage.unavailable",
            detail={"close": code},
        )
    return RelayUnavailable(f"stream closed ({code})")


@final
class Transport:
    """HTTP and websocket access to one relay."""

    def __init__(self, base_url: str, *, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.origin = origin_of(self.base_url)
        scheme = "wss" if self.base_url.startswith("https") else "ws"
        self.stream_url = scheme + self.base_url[self.base_url.index(":") :] + "/v1/stream"
        self._timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"content-type": "application/json"},
        )

    async def close(self) -> None:
        """Release the connection pool."""
        await self._http.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        kind: type[T],
        *,
        tokens: Sequence[str] = (),
        body: Any = None,
        params: dict[str, int] | dict[str, str] | None = None,
    ) -> T:
        headers = _bearer(tokens) if tokens else None
        content = to_json(body) if body is not None else None
        try:
            response = await self._http.request(
                method, path, content=content, headers=headers, params=params
            )
        except httpx.HTTPError as exc:
            raise RelayUnavailable(f"{method} {path}: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise _refusal(response)
        return _decode(response.content, kind, f"answer to {method} {path}")

    # -- authentication ----------------------------------------------------------

    async def challenge(self, key: MemberId) -> Challenge:
        return await self._request(
            "POST", "/v1/auth/challenge", Challenge, body=ChallengeRequest(key=key)
        )

    async def session(self, request: AuthRequest) -> Session:
        return await self._request("POST", "/v1/auth/session", Session, body=request)

    # -- rooms and logs ------------------------------------------------------------

    async def create_room(self, token: str, op: SignedOp) -> AppendResult:
        return await self._request("POST", "/v1/rooms", AppendResult, tokens=[token], body=op)

    async def append(self, token: str, room: RoomId, op: SignedOp) -> AppendResult:
        return await self._request(
            "POST", f"/v1/rooms/{room}/log", AppendResult, tokens=[token], body=op
        )

    async def log(self, token: str, room: RoomId, *, after: int, limit: int = 500) -> LogPage:
        return await self._request(
            "GET",
            f"/v1/rooms/{room}/log",
            LogPage,
            tokens=[token],
            params={"after": after, "limit": limit},
        )

    async def invite_log(
        self, token: str, room: RoomId, request: InviteReadRequest, *, after: int, limit: int = 500
    ) -> LogPage:
        return await self._request(
            "POST",
            f"/v1/rooms/{room}/invite-log",
            LogPage,
            tokens=[token],
            body=request,
            params={"after": after, "limit": limit},
        )

    # -- messages ------------------------------------------------------------------

    async def send(self, token: str, envelope: Envelope) -> MessageAck:
        room = envelope.header.room
        return await self._request(
            "POST", f"/v1/rooms/{room}/messages", MessageAck, tokens=[token], body=envelope
        )

    async def history(
        self, token: str, room: RoomId, *, before: int, limit: int = 200
    ) -> HistoryPage:
        return await self._request(
            "GET",
            f"/v1/rooms/{room}/messages",
            HistoryPage,
            tokens=[token],
            params={"before": before, "limit": limit},
        )

    async def delete(self, token: str, request: DeleteRequest) -> TombstoneEvent:
        room = request.content.room
        return await self._request(
            "POST", f"/v1/rooms/{room}/deletions", TombstoneEvent, tokens=[token], body=request
        )

    async def sync(self, tokens: Sequence[str], request: SyncRequest) -> SyncResponse:
        return await self._request("POST", "/v1/sync", SyncResponse, tokens=tokens, body=request)

    # -- push ------------------------------------------------------------------------

    async def _no_content(
        self, method: str, path: str, *, tokens: Sequence[str], body: Any = None
    ) -> None:
        content = to_json(body) if body is not None else None
        try:
            response = await self._http.request(
                method, path, content=content, headers=_bearer(tokens)
            )
        except httpx.HTTPError as exc:
            raise RelayUnavailable(f"{method} {path}: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise _refusal(response)

    async def register_push(
        self, token: str, room: RoomId, device: str, endpoint: str, *, web_push: bool = False
    ) -> None:
        await self._no_content(
            "PUT",
            f"/v1/rooms/{room}/push/{device}",
            tokens=[token],
            body=PushRegistration(endpoint=endpoint, web_push=web_push),
        )

    async def vapid_key(self) -> PushVapidKey:
        return await self._request("GET", "/v1/push/vapid", PushVapidKey)

    async def unregister_push(self, token: str, room: RoomId, device: str) -> None:
        await self._no_content("DELETE", f"/v1/rooms/{room}/push/{device}", tokens=[token])

    # -- linking devices and the personal store -----------------------------------------

    async def offer_link(self, token: str, offer: LinkOffer) -> LinkOffered:
        return await self._request("POST", "/v1/links", LinkOffered, tokens=[token], body=offer)

    async def claim_link(self, link: str) -> LinkClaim:
        return await self._request("POST", f"/v1/links/{link}/claim", LinkClaim)

    async def personal_index(self, token: str) -> PersonalIndex:
        return await self._request("GET", "/v1/personal", PersonalIndex, tokens=[token])

    async def personal_get(self, token: str, doc: str) -> PersonalDocument:
        return await self._request("GET", f"/v1/personal/{doc}", PersonalDocument, tokens=[token])

    async def personal_put(self, token: str, doc: str, write: PersonalWrite) -> PersonalInfo:
        return await self._request(
            "PUT", f"/v1/personal/{doc}", PersonalInfo, tokens=[token], body=write
        )

    # -- public ----------------------------------------------------------------------

    async def crisis(self) -> list[CrisisResource]:
        # The whole list, never ``?region=``: the region is applied on the device
        # (client_sdk/crisis.py), so the relay cannot learn where an address is.
        return await self._request("GET", "/v1/crisis", list[CrisisResource])

    # -- the stream ------------------------------------------------------------------

    async def open_stream(self) -> StreamConnection:
        """Open the websocket (no frame sent yet)."""
        try:
            socket = await connect(
                self.stream_url,
                open_timeout=min(self._timeout, 10.0),
                max_size=4 * 1024 * 1024,
                compression=None,
            )
        except InvalidStatus as exc:
            raise RelayUnavailable(
                f"relay refused the stream (HTTP {exc.response.status_code})"
            ) from exc
        except (WebSocketException, OSError, TimeoutError) as exc:
            raise RelayUnavailable(f"cannot open the stream: {type(exc).__name__}") from exc
        return StreamConnection(socket)
