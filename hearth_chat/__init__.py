"""``hearth chat``: the reference terminal front end, built only on the public client SDK.

It is a client like any other: it imports the public names of :mod:`client_sdk`
(and, where the SDK hands out a protocol type, names re-exported at the top of
:mod:`protocol`), never an SDK private module, never the relay. A test walks its
imports and fails otherwise. It lives in its own top-level package, beside the
three of the fixed layout, because it is neither protocol, relay nor SDK: it is
the SDK's first user, and keeping it apart keeps ``server`` and ``client_sdk``
free of a UI toolkit (Textual is the optional ``chat`` extra).

Start it with ``hearth chat --relay URL --profile DIR`` (see docs/try-it.md).
"""

from __future__ import annotations

from client_sdk import __version__ as __version__
from hearth_chat.app import HearthChat
from hearth_chat.profile import Profile

__all__ = ["HearthChat", "Profile"]
