"""Keeping session tokens, and unless asked member keys, out of every log line.

Two layers, both on the one log handler ``hearth serve`` installs:

- **Frames are logged without their payload.** At ``debug`` the websockets library
  (through uvicorn's ``uvicorn.error`` logger) logs every frame with the start of its
  payload: an ``auth`` frame's tokens, a ``send`` frame's sender key. Such a line
  keeps the frame's kind and size only (``< TEXT [312 bytes]``).
- **Handshake headers that carry credentials** (``authorization``, cookies), which
  websockets logs line by line at ``debug``, keep their name only.
- **Anything shaped like a credential is replaced**, in the message and in a logged
  traceback: a run of 32 or more base64url characters (a token is 78, a member key
  43, a room id 32), or of 20 or more with a digit among them (part of one). With
  ``log_keys`` on, runs of exactly a member key's or a room id's length stay, so an
  operator who asks can follow a key through the log; a token never shows.
"""

from __future__ import annotations

import logging
import re
from typing import Final

from websockets.frames import Frame

__all__ = ["RedactSecrets"]

_RUN: Final = re.compile(r"[A-Za-z0-9_-]{20,}")
_KEY_LENGTHS: Final = frozenset({43, 32})
"""A member key's and a room id's length in base64url (``protocol.ids``)."""
_FRAME_FORMATS: Final = frozenset({"< %s", "> %s"})
"""How ``websockets`` logs a frame, or a handshake header line, received and sent."""
_SECRET_HEADERS: Final = frozenset({"authorization", "cookie", "set-cookie"})


class RedactSecrets(logging.Filter):
    """Removes frame payloads and credential-shaped strings from every record."""

    def __init__(self, *, keys: bool = False) -> None:
        super().__init__()
        self._keys = keys

    def _replace(self, match: re.Match[str]) -> str:
        run = match.group(0)
        if self._keys and len(run) in _KEY_LENGTHS:
            return run
        if len(run) >= 32 or any(c.isdigit() for c in run):
            return "<redacted>"
        return run

    def redact(self, text: str) -> str:
        """``text`` with every credential-shaped run replaced."""
        return _RUN.sub(self._replace, text)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.msg in _FRAME_FORMATS and isinstance(args, tuple) and len(args) == 1:
            item = args[0]
            if isinstance(item, Frame):
                record.args = (f"{item.opcode.name} [{len(item.data)} bytes]",)
            elif isinstance(item, str) and item.split(":", 1)[0].lower() in _SECRET_HEADERS:
                record.args = (item.split(":", 1)[0] + ": <redacted>",)
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True
