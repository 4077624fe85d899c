"""``/v1/links`` and ``/v1/personal``: linking a device, and a person's encrypted store.

Link offers. Any authenticated key may file a sealed offer under a rendezvous id
(the SDK uses its personal-store key); at most ``link_max_pending`` wait per key,
each for ``link_ttl`` seconds. Claiming needs no session (the new device has no
key yet): it is single-use in storage, and charged to the ``link`` rate bucket of
the client's address. The relay never sees the code, only the id derived from it.

Personal stores. The session's key is the store's owner; a store holds opaque
documents under opaque ids, each written by compare-and-swap on its version. A
write is announced to the owner's live streams on the hub channel
``personal_channel(owner)`` (a name no room id can take), as a ``personal`` frame
small enough for any pub/sub backend.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post, put
from litestar.params import JSONBody, PathParameter

from protocol.api import (
    LinkClaim,
    LinkOffer,
    LinkOffered,
    PersonalDocument,
    PersonalFrame,
    PersonalIndex,
    PersonalInfo,
    PersonalWrite,
)
from protocol.encoding import to_json
from server.errors import RelayError
from server.handlers._common import AuthDep, LimiterDep, RelayDep, client_host, session
from server.hub import personal_channel
from server.ratelimit import address_subject, key_subject

__all__ = ["HANDLERS"]

IdPath = Annotated[str, PathParameter(description="16 bytes, base64url (22 characters)")]


def _check_id(text: str, code: str) -> str:
    if len(text) != 22 or not text.isascii() or not all(c.isalnum() or c in "-_" for c in text):
        raise RelayError("no such id", code=code)
    return text


@post("/v1/links", status_code=201)
async def offer_link(
    *,
    data: JSONBody[LinkOffer],
    request: Request[Any, Any, Any],
    relay: RelayDep,
    auth: AuthDep,
    limiter: LimiterDep,
) -> LinkOffered:
    """File a sealed link offer for ``link_ttl`` seconds or its first claim."""
    record = await session(request, auth, limiter)
    limiter.hit("link", key_subject(record.member))
    now = relay.now()
    expires_at = now + relay.config.link_ttl * 1000
    await relay.storage.put_link(
        data.id,
        owner=record.member,
        data=data.box,
        now=now,
        expires_at=expires_at,
        max_pending=relay.config.link_max_pending,
    )
    return LinkOffered(id=data.id, expires_at=expires_at)


@post("/v1/links/{link:str}/claim", status_code=200)
async def claim_link(
    *, link: IdPath, request: Request[Any, Any, Any], relay: RelayDep, limiter: LimiterDep
) -> LinkClaim:
    """Hand out a sealed offer once; no session needed."""
    limiter.hit("link", address_subject(client_host(request)))
    box = await relay.storage.claim_link(_check_id(link, "link.not_found"), now=relay.now())
    return LinkClaim(box=box)


@get("/v1/personal")
async def personal_index(
    *, request: Request[Any, Any, Any], relay: RelayDep, auth: AuthDep, limiter: LimiterDep
) -> PersonalIndex:
    """Every document of the session key's store: id, version, size."""
    record = await session(request, auth, limiter)
    docs = await relay.storage.personal_index(record.member)
    return PersonalIndex(
        docs=[PersonalInfo(id=d.doc, version=d.version, size=d.size) for d in docs]
    )


@get("/v1/personal/{doc:str}")
async def personal_get(
    *,
    doc: IdPath,
    request: Request[Any, Any, Any],
    relay: RelayDep,
    auth: AuthDep,
    limiter: LimiterDep,
) -> PersonalDocument:
    """One document's current version and ciphertext."""
    record = await session(request, auth, limiter)
    found = await relay.storage.get_personal(record.member, _check_id(doc, "personal.not_found"))
    if found is None or found.data is None:
        raise RelayError("no such document", code="personal.not_found")
    return PersonalDocument(id=found.doc, version=found.version, box=found.data)


@put("/v1/personal/{doc:str}", status_code=200)
async def personal_put(
    *,
    doc: IdPath,
    data: JSONBody[PersonalWrite],
    request: Request[Any, Any, Any],
    relay: RelayDep,
    auth: AuthDep,
    limiter: LimiterDep,
) -> PersonalInfo:
    """Compare-and-swap a document; ``personal.conflict`` names the current version."""
    record = await session(request, auth, limiter)
    limiter.hit("send", key_subject(record.member))
    doc_id = _check_id(doc, "personal.not_found")
    version = await relay.storage.put_personal(
        record.member,
        doc_id,
        expected=data.expected,
        data=data.box,
        now=relay.now(),
        max_docs=relay.config.personal_max_docs,
        max_bytes=relay.config.personal_max_bytes,
    )
    frame = to_json(PersonalFrame(owner=record.member, id=doc_id, version=version))
    relay.hub.publish(personal_channel(record.member), version, frame)
    return PersonalInfo(id=doc_id, version=version, size=len(data.box))


HANDLERS = [offer_link, claim_link, personal_index, personal_get, personal_put]
