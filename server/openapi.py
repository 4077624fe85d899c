"""Corrections to the OpenAPI document Litestar derives from the handlers.

Litestar describes a ``bytes`` field as a UTF-8 string of that many characters and
every failure as its own validation body. On the wire a ``bytes`` field is standard
base64 with padding (docs/api.md) and every failure is one ``ErrorBody`` under a
status from ``server.errors``. :func:`correct` rewrites the generated document so
that it says what the relay does; ``tests/security/test_schema.py`` holds it to that
with schemathesis.
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Litestar

# The plugin that serves the document; Litestar exports it only privately.
from litestar._openapi.plugin import OpenAPIPlugin

__all__ = ["correct"]

_ERROR_REF: Final = {"$ref": "#/components/schemas/ErrorBody"}
_ERROR_BODY: Final = {
    "type": "object",
    "title": "ErrorBody",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string", "description": "stable error code (docs/api.md)"},
        "message": {"type": "string"},
        "detail": {"type": ["object", "null"], "additionalProperties": {}},
    },
}

# Statuses any request may meet: a bad parameter, a token in the URL, the request
# rate limit, a broken relay. Authenticated ``/v1`` routes add the rest of the table.
_ANY: Final = (400, 401, 429, 500)
_V1: Final = (*_ANY, 403, 404, 409, 413, 422, 503)

_B64: Final = "A-Za-z0-9+/"
_B64URL_ANY: Final = "^[A-Za-z0-9_-]*$"
_INT64_MAX: Final = 2**63 - 1


def _b64_length(size: int) -> int:
    return 4 * -(-size // 3)


def _b64_exact(size: int) -> str:
    full, rest = divmod(size, 3)
    tail = {0: "", 1: f"[{_B64}][AQgw]==", 2: f"[{_B64}]{{2}}[AEIMQUYcgkosw048]="}[rest]
    return f"^[{_B64}]{{{4 * full}}}{tail}$"


def _bytes_as_base64(node: Any) -> None:
    if isinstance(node, dict):
        kind = node.get("type")
        strings = kind == "string" or (isinstance(kind, list) and "string" in kind)
        if strings and node.get("contentEncoding") == "utf-8":
            node["contentEncoding"] = "base64"
            low, high = node.get("minLength"), node.get("maxLength")
            if low is not None and low == high:
                node["pattern"] = _b64_exact(low)
            else:
                node["pattern"] = f"^(?:[{_B64}]{{4}})*(?:[{_B64}]{{2}}==|[{_B64}]{{3}}=)?$"
            for key in ("minLength", "maxLength"):
                if node.get(key) is not None:
                    node[key] = _b64_length(node[key])
        if node.get("type") == "integer":
            # Bounds come out as floats; 2**63 - 1 rounds up to 2**63, one past what
            # the relay decodes (``AuthRequest.pow_nonce``). Integers, exactly.
            for key in ("minimum", "maximum"):
                bound = node.get(key)
                if isinstance(bound, float) and bound.is_integer():
                    node[key] = _INT64_MAX if bound == float(_INT64_MAX) else int(bound)
        if (
            node.get("pattern") == _B64URL_ANY
            and node.get("minLength") == node.get("maxLength") == 43
        ):
            # A member id: the one canonical spelling of 32 bytes (``protocol.ids``).
            node["pattern"] = "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"
        for value in node.values():
            _bytes_as_base64(value)
    elif isinstance(node, list):
        for value in node:
            _bytes_as_base64(value)


def _error_responses(path: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for status in _V1 if path.startswith("/v1/") and path != "/v1/crisis" else _ANY:
        if str(status) in responses and status != 400:
            continue  # the handler documents its own body for it (``/readyz``'s 503)
        responses[str(status)] = {
            "description": "refused; the code says why (docs/api.md, error codes)",
            "content": {"application/json": {"schema": _ERROR_REF}},
        }


def _constraints_litestar_drops(schemas: dict[str, Any]) -> None:
    # ``SyncRequest.positions`` maps room ids to sequence numbers >= 0.
    positions = schemas.get("SyncRequest", {}).get("properties", {}).get("positions")
    if positions is not None:
        positions["propertyNames"] = {"type": "string", "pattern": "^[A-Za-z0-9_-]{32}$"}
        positions["additionalProperties"] = {"type": "integer", "minimum": 0, "maximum": 2**53}
    # ``Commit.history`` (optional bytes with a limit) loses its encoding: the one
    # such field; an optional ``str`` looks the same in the generated document.
    history = schemas.get("Commit", {}).get("properties", {}).get("history")
    if history is not None and "maxLength" in history:
        text = {"type": "string", "contentEncoding": "utf-8", "maxLength": history.pop("maxLength")}
        _bytes_as_base64(text)
        history["oneOf"] = [text, {"type": "null"}]


def correct(app: Litestar) -> None:
    """Rewrite ``app``'s OpenAPI document in place (before it is first served)."""
    document = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
    document.setdefault("components", {}).setdefault("schemas", {})["ErrorBody"] = _ERROR_BODY
    _bytes_as_base64(document)
    _constraints_litestar_drops(document["components"]["schemas"])
    upload = document.get("paths", {}).get("/v1/rooms/{room}/blobs", {}).get("post")
    if upload is not None:  # the handler reads the raw stream, so Litestar sees no body
        upload["requestBody"] = {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                _error_responses(path, operation)
