"""HTTP and websocket route handlers, one module per area of ``docs/api.md``."""

from server.handlers import (
    account,
    auth,
    blobs,
    messages,
    personal,
    public,
    push,
    rooms,
    stream,
    sync,
)

__all__ = ["ROUTES"]

ROUTES = [
    *auth.HANDLERS,
    *rooms.HANDLERS,
    *messages.HANDLERS,
    *sync.HANDLERS,
    *blobs.HANDLERS,
    *account.HANDLERS,
    *push.HANDLERS,
    *personal.HANDLERS,
    *public.HANDLERS,
    *stream.HANDLERS,
]
"""Every route of the relay."""
