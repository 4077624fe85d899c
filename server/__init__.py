"""The Hearth relay: stores ciphertext and signed room logs, forwards them live.

Run it with ``hearth serve`` (see docs/operator.md); embed it with
:func:`create_app`, which takes a :class:`Config` and optionally a :class:`Storage`.
"""

from protocol._version import __version__ as __version__
from server.app import create_app
from server.config import Config, ConfigError, load_config
from server.storage import SqliteStorage, Storage

__all__ = ["Config", "ConfigError", "SqliteStorage", "Storage", "create_app", "load_config"]
