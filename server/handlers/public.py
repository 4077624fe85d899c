"""Endpoints without authentication: crisis resources and health checks."""

from __future__ import annotations

import re
from typing import Annotated, Final

from litestar import Response, get
from litestar.params import QueryParameter

from protocol.api import CrisisResource, Health
from server.errors import RelayError
from server.handlers._common import ReadinessDep, RelayDep

__all__ = ["HANDLERS"]

_REGION: Final = re.compile(r"[A-Za-z]{2}")


@get("/v1/crisis")
async def crisis(
    relay: RelayDep,
    region: Annotated[
        str | None,
        QueryParameter(
            max_length=8,
            description="ISO 3166-1 alpha-2 region code",
            # In the document only: the handler refuses the rest itself, with its own
            # stable code (crisis.bad_region) rather than Litestar's request.invalid.
            schema_extra={"pattern": "^[A-Za-z]{2}$"},
        ),
    ] = None,
) -> list[CrisisResource]:
    """The operator's crisis lines, for one region (plus those marked ``*``) or all."""
    resources = relay.config.crisis
    if region is None:
        return list(resources)
    if not _REGION.fullmatch(region):
        raise RelayError(
            "region must be an ISO 3166-1 alpha-2 code such as GB", code="crisis.bad_region"
        )
    wanted = region.upper()
    return [r for r in resources if wanted in (x.upper() for x in r.regions) or "*" in r.regions]


@get("/healthz")
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@get("/readyz")
async def readyz(readiness: ReadinessDep) -> Response[Health]:
    """Writes work and the storage answers (503 otherwise); ``degraded``: pub/sub is down."""
    ready, health = await readiness.check()
    return Response(health, status_code=200 if ready else 503)


HANDLERS = [crisis, healthz, readyz]
