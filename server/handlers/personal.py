"""``/v1/links`` and ``/v1/personal``: linking a device, and a person's encrypted store.

Thin: each handler parses, authenticates, charges its rate bucket and calls
:class:`~server.device_links.DeviceLinks` or :class:`~server.personal.PersonalStore`,
which hold the rules. Claiming a device link needs no session and is charged to the
``link`` bucket of the client's address; filing one, to the key's.
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
    PersonalIndex,
    PersonalInfo,
    PersonalWrite,
)
from server.handlers._common import (
    AuthDep,
    DeviceLinksDep,
    LimiterDep,
    PersonalDep,
    client_host,
    session,
)
from server.ratelimit import address_subject, key_subject

__all__ = ["HANDLERS"]

IdPath = Annotated[str, PathParameter(description="16 bytes, base64url (22 characters)")]


@post("/v1/links", status_code=201)
async def offer_link(
    *,
    data: JSONBody[LinkOffer],
    request: Request[Any, Any, Any],
    device_links: DeviceLinksDep,
    auth: AuthDep,
    limiter: LimiterDep,
) -> LinkOffered:
    """File a sealed link offer for ``link_ttl`` seconds or its first claim."""
    record = await session(request, auth, limiter)
    limiter.hit("link", key_subject(record.member))
    expires_at = await device_links.offer(record.member, data.id, data.box)
    return LinkOffered(id=data.id, expires_at=expires_at)


@post("/v1/links/{link:str}/claim", status_code=200)
async def claim_link(
    *,
    link: IdPath,
    request: Request[Any, Any, Any],
    device_links: DeviceLinksDep,
    limiter: LimiterDep,
) -> LinkClaim:
    """Hand out a sealed offer once; no session needed."""
    limiter.hit("link", address_subject(client_host(request)))
    return LinkClaim(box=await device_links.claim(link))


@get("/v1/personal")
async def personal_index(
    *, request: Request[Any, Any, Any], personal: PersonalDep, auth: AuthDep, limiter: LimiterDep
) -> PersonalIndex:
    """Every document of the session key's store: id, version, size."""
    record = await session(request, auth, limiter)
    docs = await personal.index(record.member)
    return PersonalIndex(
        docs=[PersonalInfo(id=d.doc, version=d.version, size=d.size) for d in docs]
    )


@get("/v1/personal/{doc:str}")
async def personal_get(
    *,
    doc: IdPath,
    request: Request[Any, Any, Any],
    personal: PersonalDep,
    auth: AuthDep,
    limiter: LimiterDep,
) -> PersonalDocument:
    """One document's current version and ciphertext."""
    record = await session(request, auth, limiter)
    found = await personal.get(record.member, doc)
    assert found.data is not None  # get() answers only a document that holds data
    return PersonalDocument(id=found.doc, version=found.version, box=found.data)


@put("/v1/personal/{doc:str}", status_code=200)
async def personal_put(
    *,
    doc: IdPath,
    data: JSONBody[PersonalWrite],
    request: Request[Any, Any, Any],
    personal: PersonalDep,
    auth: AuthDep,
    limiter: LimiterDep,
) -> PersonalInfo:
    """Compare-and-swap a document; ``personal.conflict`` names the current version."""
    record = await session(request, auth, limiter)
    limiter.hit("send", key_subject(record.member))
    version = await personal.put(record.member, doc, expected=data.expected, box=data.box)
    return PersonalInfo(id=doc, version=version, size=len(data.box))


HANDLERS = [offer_link, claim_link, personal_index, personal_get, personal_put]
