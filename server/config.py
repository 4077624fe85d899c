"""The relay's settings: one frozen :class:`Config`, and where its values come from.

Precedence, lowest first: the defaults below, an optional TOML file
(``--config`` or ``HEARTH_CONFIG``), ``HEARTH_*`` environment variables, then
command-line flags. Every setting is listed once, in :data:`_SCALARS` (name, type,
environment variable), so ``docs/operator.md`` and the loader cannot drift apart.
Bad values raise :class:`ConfigError`, which the CLI prints without a traceback.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, final
from urllib.parse import urlsplit

import msgspec

from protocol.api import CrisisResource
from protocol.errors import HearthError
from protocol.signing import canonical_origin

__all__ = [
    "BUCKETS",
    "Config",
    "ConfigError",
    "CreatePolicy",
    "PubSub",
    "Rate",
    "load_config",
]

CreatePolicy = Literal["open", "token", "closed"]
_POLICIES: Final = ("open", "token", "closed")
PubSub = Literal["memory", "redis", "postgres"]
_PUBSUBS: Final = ("memory", "redis", "postgres")
_POSTGRES_SCHEMES: Final = ("postgresql://", "postgres://")
_REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")
_LOG_LEVELS: Final = ("debug", "info", "warning", "error")
_EVENT_LOOPS: Final = ("auto", "uvloop", "asyncio")

BUCKETS: Final = ("send", "join", "auth", "register", "subscribe", "request", "link")
"""Rate-limit buckets; each is applied per key and per client address."""


@final
class ConfigError(HearthError):
    """A setting that is missing, of the wrong type or out of range."""

    default_code = "config.invalid"


@final
@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket: ``per_second`` refill, at most ``burst`` tokens."""

    per_second: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ConfigError("a rate needs per_second > 0 and burst >= 1")

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"5/20"``: 5 per second, bursts of 20."""
        try:
            rate, burst = text.split("/")
            return cls(float(rate), int(burst))
        except ValueError as exc:
            raise ConfigError(f"a rate is PER_SECOND/BURST, not {text!r}") from exc


_DEFAULT_RATES: Final[Mapping[str, Rate]] = {
    "send": Rate(5.0, 30),
    "join": Rate(0.2, 10),
    "auth": Rate(1.0, 20),
    "register": Rate(0.05, 5),
    "subscribe": Rate(1.0, 20),
    "request": Rate(20.0, 200),
    "link": Rate(0.2, 10),
}


@final
@dataclass(frozen=True, slots=True)
class Config:
    """Everything an operator can set. Durations are seconds, sizes bytes."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("hearth-data")
    database_url: str = field(default="", repr=False)
    """``postgresql://...`` to store in PostgreSQL; empty: SQLite in ``data_dir``."""
    pubsub: PubSub = "memory"
    """Live fan-out: in this process, or across instances over Redis or PostgreSQL."""
    pubsub_url: str = field(default="", repr=False)
    """The Redis URL for ``redis``; for ``postgres``, empty means ``database_url``."""
    pubsub_channel: str = "hearth"
    """The channel the instances of one deployment share (one Redis, several relays)."""
    database_pool_size: int = 10
    """PostgreSQL connections each instance keeps at most."""
    origin: str = ""
    """The origin clients sign in challenge answers; empty: ``http://host:port``."""
    allowed_origins: tuple[str, ...] = ()
    """Origins of web front ends hosted elsewhere whose scripts may call the relay
    (``server.cors``), kept in canonical form; empty (the default): no CORS at all."""
    web_app: bool = True
    """Serve the web app at ``/`` (``server.webapp``); false: the relay serves only
    its API, for a community that hosts the app elsewhere or not at all."""
    web_root: str = ""
    """A directory of built web-app files to serve instead of the copy in the
    package (``js/web``'s ``dist/``, or a release checked with ``hearth web-check``)."""
    web_app_url: str = ""
    """Where a copy of the web app hosted apart from the relay lives
    (``https://app.example.org/``): invite links opened in a browser are sent there,
    with this relay's origin. Its origin must be in ``allowed_origins``."""
    create_policy: CreatePolicy = "open"
    registration_tokens: tuple[str, ...] = ()
    pow_difficulty: int = 16
    token_ttl: int = 7 * 24 * 3600
    token_secret: str = field(default="", repr=False)
    """The key session tokens are MACed under; empty: one generated once and kept in
    the database (so a copy of the database can mint tokens: set it here to keep it
    out of backups)."""
    challenge_ttl: int = 60
    max_body_bytes: int = 256 * 1024
    max_blob_bytes: int = 10 * 1024 * 1024
    max_frame_bytes: int = 256 * 1024
    stream_queue_cap: int = 1000
    link_ttl: int = 600
    """Seconds a link offer waits for its claim before the relay drops it."""
    link_max_pending: int = 3
    """Unclaimed link offers one personal key may have waiting at once."""
    personal_max_docs: int = 64
    """Documents in one personal store."""
    personal_max_bytes: int = 4 * 1024 * 1024
    """Ciphertext bytes in one personal store (each document is also bounded by
    ``max_body_bytes``, the request that carries it)."""
    auth_timeout: float = 10.0
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0
    ws_frame_timeout: float = 10.0
    """Seconds a websocket frame or fragmented message may take from its first byte
    to its last (``server.websocket``); an idle connection has no such bound."""
    retention_interval: float = 3600.0
    health_probe_interval: float = 5.0
    """Seconds between write probes while no write commits (``server.health``)."""
    header_timeout: float = 10.0
    """Seconds a request's head (a websocket's handshake request too) may take from the
    connection, or a later request's first byte, to its end (``server.limits``)."""
    ws_max_per_key: int = 16
    """Streams one member key may hold open at once (a person's devices and their
    reconnections); the next is closed with 4430 ``stream.too_many``."""
    ws_max_per_address: int = 2000
    """Streams one client address may hold open at once: a backstop only, as a whole
    carrier NAT can share one address."""
    log_keys: bool = False
    """Let member keys and room ids appear in the log (tokens never do)."""
    shutdown_timeout: float = 10.0
    trust_proxy: bool = False
    """Take client addresses from X-Forwarded-For (only behind your own proxy)."""
    metrics_port: int = 0
    """Port of the Prometheus metrics listener (``server.metrics``); 0: no metrics."""
    metrics_host: str = "127.0.0.1"
    """Address of the metrics listener: keep it private (loopback or an internal net)."""
    log_level: str = "info"
    event_loop: str = "auto"
    """``uvloop`` where it is installed (``auto``), or the standard ``asyncio`` loop."""
    rate_limits: Mapping[str, Rate] = field(default_factory=lambda: dict(_DEFAULT_RATES))
    crisis: tuple[CrisisResource, ...] = ()
    push_allowlist: tuple[str, ...] = ()
    """Hosts push endpoints may name: ``push.example`` exactly, ``*.example`` below it.

    Empty (the default): push is off, and registering an endpoint is refused."""
    push_allow_private: bool = False
    """Allow endpoints on loopback, private, link-local or reserved addresses."""
    push_allow_http: bool = False
    """Allow ``http://`` endpoints (the default is https only)."""
    push_delay: float = 1.0
    """Seconds an endpoint's first event waits, so a burst becomes one push."""
    push_window: float = 30.0
    """At most one push per endpoint per this many seconds."""
    push_timeout: float = 5.0
    """Seconds for resolving, connecting to and hearing from a push endpoint."""
    push_max_endpoints: int = 5
    """Push endpoints (devices) one member key may register."""
    push_max_failures: int = 8
    """Failed deliveries in a row after which an endpoint is dropped."""
    push_retry_max: float = 3600.0
    """The longest back-off between retries of a failing endpoint, in seconds."""
    push_queue_cap: int = 10_000
    """Pushes waiting at most (rooms with new events plus scheduled deliveries)."""
    push_vapid_key: str = field(default="", repr=False)
    """The VAPID private key Web Pushes are signed with (RFC 8292): a P-256 scalar,
    32 bytes in base64url; empty: one generated once and kept in the database."""
    push_contact: str = ""
    """The VAPID ``sub`` claim, a ``mailto:`` or ``https:`` URI where a push service's
    operator can reach the relay's; empty: the relay's public origin."""

    # -- graceful restarts (issue 20) --------------------------------------------
    restart_spread: float = 3.0
    """Seconds over which a graceful shutdown spreads its clients' return: each
    websocket closes with 1012 and ``retry_ms`` drawn uniformly from this window
    (``server.websocket``; protocol.md, the close codes). 0: all at once."""

    def __post_init__(self) -> None:
        if self.create_policy not in _POLICIES:
            raise ConfigError(f"create_policy must be one of {', '.join(_POLICIES)}")
        if self.log_level not in _LOG_LEVELS:
            raise ConfigError(f"log_level must be one of {', '.join(_LOG_LEVELS)}")
        if self.event_loop not in _EVENT_LOOPS:
            raise ConfigError(f"event_loop must be one of {', '.join(_EVENT_LOOPS)}")
        if not 0 <= self.port <= 65535:
            raise ConfigError("port must be 0..65535")
        if not 0 <= self.metrics_port <= 65535:
            raise ConfigError("metrics_port must be 0..65535 (0: no metrics)")
        if not 0 <= self.pow_difficulty <= 40:
            raise ConfigError("pow_difficulty must be 0..40")
        positive = (
            "token_ttl",
            "challenge_ttl",
            "max_body_bytes",
            "max_blob_bytes",
            "max_frame_bytes",
            "stream_queue_cap",
            "link_ttl",
            "link_max_pending",
            "personal_max_docs",
            "personal_max_bytes",
            "auth_timeout",
            "ws_frame_timeout",
            "retention_interval",
            "health_probe_interval",
            "header_timeout",
            "ws_max_per_key",
            "ws_max_per_address",
            "database_pool_size",
            "push_timeout",
            "push_window",
            "push_max_endpoints",
            "push_max_failures",
            "push_retry_max",
            "push_queue_cap",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        unknown = set(self.rate_limits) - set(BUCKETS)
        if unknown:
            raise ConfigError(f"unknown rate-limit buckets: {', '.join(sorted(unknown))}")
        try:
            self.public_origin  # noqa: B018 - a malformed origin fails here, not at sign-in
        except HearthError as exc:
            raise ConfigError(f"origin: {exc.message}") from exc
        # Kept canonical, so the relay compares a browser's Origin header with it as is.
        object.__setattr__(self, "allowed_origins", _allowed_origins(self.allowed_origins))
        if self.web_app_url:
            _check_web_app_url(self.web_app_url, self.allowed_origins)
        if self.create_policy == "token" and not self.registration_tokens:
            raise ConfigError("create_policy 'token' needs at least one registration token")
        if self.push_delay < 0:
            raise ConfigError("push_delay must not be negative")
        for pattern in self.push_allowlist:
            _check_host_pattern(pattern)
        self._check_vapid()
        self._check_scale_out()
        # -- graceful restarts (issue 20) --
        if not 0 <= self.restart_spread <= 60:
            raise ConfigError("restart_spread must be 0..60 seconds")

    def _check_vapid(self) -> None:
        # Imported here: only a relay (the ``relay`` extra) reads its VAPID settings.
        from server.vapid import Vapid, b64url_decode  # noqa: PLC0415

        if self.push_vapid_key:
            try:
                Vapid(b64url_decode(self.push_vapid_key), "")
            except (ValueError, HearthError) as exc:
                # The message never quotes the key.
                raise ConfigError(
                    "push_vapid_key must be a P-256 private key: 32 bytes in base64url"
                ) from exc
        if self.push_contact and not self.push_contact.startswith(("mailto:", "https://")):
            raise ConfigError("push_contact must be a mailto: or https:// URI")

    def _check_scale_out(self) -> None:
        # The URLs may carry passwords: no message below quotes them.
        if self.database_url and not self.database_url.startswith(_POSTGRES_SCHEMES):
            raise ConfigError("database_url must be a postgresql:// URL (or empty for SQLite)")
        if not self.pubsub_channel.replace("_", "").replace("-", "").isalnum():
            raise ConfigError("pubsub_channel must be letters, digits, '-' and '_'")
        if self.pubsub not in _PUBSUBS:
            raise ConfigError(f"pubsub must be one of {', '.join(_PUBSUBS)}")
        if self.pubsub == "memory":
            if self.pubsub_url:
                raise ConfigError("pubsub_url is set but pubsub is 'memory'")
            return
        if not self.database_url:
            # Instances that share live events must share the events themselves.
            raise ConfigError(f"pubsub {self.pubsub!r} needs a PostgreSQL database_url")
        if self.pubsub == "redis" and not self.pubsub_url.startswith(_REDIS_SCHEMES):
            raise ConfigError("pubsub 'redis' needs pubsub_url = 'redis://...'")
        if (
            self.pubsub == "postgres"
            and self.pubsub_url
            and not self.pubsub_url.startswith(_POSTGRES_SCHEMES)
        ):
            raise ConfigError("pubsub 'postgres' needs a postgresql:// pubsub_url (or none)")

    @property
    def push_enabled(self) -> bool:
        """Whether this relay sends push notifications (an allowlist is set)."""
        return bool(self.push_allowlist)

    @property
    def public_origin(self) -> str:
        """The origin bound into challenge answers, in its canonical form (protocol.md 9.1)."""
        return canonical_origin(self.origin or f"http://{self.host}:{self.port}")

    @property
    def database(self) -> Path:
        """The SQLite file (unused when ``database_url`` names PostgreSQL)."""
        return self.data_dir / "hearth.db"

    @property
    def pubsub_target(self) -> str:
        """Where the pub/sub backend connects: ``pubsub_url``, else the database."""
        return self.pubsub_url or self.database_url

    def rate(self, bucket: str) -> Rate:
        """The rate of one bucket (the default if the operator did not set it)."""
        return self.rate_limits.get(bucket, _DEFAULT_RATES[bucket])


def _check_host_pattern(pattern: str) -> None:
    name = pattern[2:] if pattern.startswith("*.") else pattern
    labels = name.rstrip(".").split(".")
    ok = (
        bool(name)
        and name.isascii()
        and all(label and all(c.isalnum() or c in "-:[]" for c in label) for label in labels)
    )
    if not ok:
        raise ConfigError(f"push_allowlist entries are host names or '*.domain', not {pattern!r}")


def _allowed_origins(values: tuple[str, ...]) -> tuple[str, ...]:
    """``values`` in canonical form, without repeats, or a ``ConfigError`` naming the bad one.

    A browser's ``Origin`` header is always the canonical ``scheme://host[:port]``,
    so each entry must be one exactly: a wildcard, ``null`` (sent by sandboxed frames
    and local files, so any page can claim it) or a URL with a path would either never
    match or let in more than the operator meant.
    """
    origins: list[str] = []
    for value in values:
        if "*" in value:
            raise ConfigError(
                f"allowed_origins lists exact origins; a wildcard would let any site's "
                f"scripts call the relay: {value!r}"
            )
        if value.strip().lower() == "null":
            raise ConfigError(
                "allowed_origins cannot hold 'null': sandboxed frames and local files "
                "send it, so any page can claim it"
            )
        try:
            origin = canonical_origin(value)
            parts = urlsplit(value.strip())
        except HearthError as exc:
            raise ConfigError(f"allowed_origins: {exc.message}") from exc
        if parts.path or parts.query or parts.fragment or value.strip().endswith(("?", "#")):
            raise ConfigError(
                f"allowed_origins entries are scheme://host[:port], with no path, query "
                f"or fragment: {value!r} (did you mean {origin!r}?)"
            )
        if origin not in origins:
            origins.append(origin)
    return tuple(origins)


def _check_web_app_url(url: str, allowed: tuple[str, ...]) -> None:
    """A web app hosted elsewhere: an http(s) URL, no query or fragment, origin allowed."""
    try:
        origin = canonical_origin(url)
        parts = urlsplit(url.strip())
    except HearthError as exc:
        raise ConfigError(f"web_app_url: {exc.message}") from exc
    if parts.query or parts.fragment or url.strip().endswith(("?", "#")):
        raise ConfigError(f"web_app_url takes no query or fragment: {url!r}")
    if origin not in allowed:
        raise ConfigError(
            f"web_app_url's origin {origin!r} must be in allowed_origins, or the app "
            "there cannot call this relay"
        )


# (setting, parser from an environment string). TOML values are checked by type.
def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"not a boolean: {text!r}")


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


_SCALARS: Final[Mapping[str, Any]] = {
    "host": str,
    "port": int,
    "data_dir": Path,
    "database_url": str,
    "pubsub": str,
    "pubsub_url": str,
    "pubsub_channel": str,
    "database_pool_size": int,
    "origin": str,
    "allowed_origins": _tokens,
    "web_app": _bool,
    "web_root": str,
    "web_app_url": str,
    "create_policy": str,
    "registration_tokens": _tokens,
    "pow_difficulty": int,
    "token_ttl": int,
    "token_secret": str,
    "challenge_ttl": int,
    "max_body_bytes": int,
    "max_blob_bytes": int,
    "max_frame_bytes": int,
    "stream_queue_cap": int,
    "link_ttl": int,
    "link_max_pending": int,
    "personal_max_docs": int,
    "personal_max_bytes": int,
    "auth_timeout": float,
    "ws_ping_interval": float,
    "ws_ping_timeout": float,
    "ws_frame_timeout": float,
    "retention_interval": float,
    "health_probe_interval": float,
    "header_timeout": float,
    "ws_max_per_key": int,
    "ws_max_per_address": int,
    "log_keys": _bool,
    "shutdown_timeout": float,
    "trust_proxy": _bool,
    "metrics_port": int,
    "metrics_host": str,
    "log_level": str,
    "event_loop": str,
    "push_allowlist": _tokens,
    "push_allow_private": _bool,
    "push_allow_http": _bool,
    "push_delay": float,
    "push_window": float,
    "push_timeout": float,
    "push_max_endpoints": int,
    "push_max_failures": int,
    "push_retry_max": float,
    "push_queue_cap": int,
    "push_vapid_key": str,
    "push_contact": str,
    # -- graceful restarts (issue 20) --
    "restart_spread": float,
}
"""Every scalar setting and how to read it from a string (``HEARTH_<NAME>``)."""

ENV_PREFIX: Final = "HEARTH_"


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "rate_limits":
            values[key] = _rates_from_toml(value)
        elif key == "crisis":
            values[key] = _crisis_from_toml(value)
        elif key in _SCALARS:
            values[key] = _coerce_toml(key, value)
        else:
            raise ConfigError(f"unknown setting {key!r} in {path}")
    return values


def _coerce_toml(key: str, value: Any) -> Any:
    parser = _SCALARS[key]
    if key in ("registration_tokens", "push_allowlist", "allowed_origins"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key} must be a list of strings")
        return tuple(value)
    if parser is _bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false")
        return value
    if parser is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if parser is Path and isinstance(value, str):
        return Path(value)
    if parser in (int, str) and type(value) is parser:
        return value
    raise ConfigError(f"{key} has the wrong type")


def _rates_from_toml(value: Any) -> dict[str, Rate]:
    if not isinstance(value, dict):
        raise ConfigError("[rate_limits] must be a table")
    rates: dict[str, Rate] = {}
    for bucket, spec in value.items():
        if not isinstance(spec, dict) or set(spec) != {"per_second", "burst"}:
            raise ConfigError(f"rate_limits.{bucket} needs per_second and burst")
        try:
            rates[bucket] = Rate(float(spec["per_second"]), int(spec["burst"]))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"rate_limits.{bucket} must be numbers") from exc
    return rates


def _crisis_from_toml(value: Any) -> tuple[CrisisResource, ...]:
    try:
        resources = tuple(msgspec.convert(value, list[CrisisResource]))
    except msgspec.ValidationError as exc:
        raise ConfigError(f"[[crisis]] entries are invalid: {exc}") from exc
    for r in resources:
        if not (r.phone or r.sms or r.url):
            raise ConfigError(f"crisis resource {r.name!r} needs a phone, sms or url")
    return resources


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, parser in _SCALARS.items():
        text = env.get(ENV_PREFIX + key.upper())
        if text is None:
            continue
        try:
            values[key] = parser(text)
        except ValueError as exc:
            raise ConfigError(f"{ENV_PREFIX}{key.upper()}: cannot read {text!r}") from exc
    rates = {
        bucket: Rate.parse(env[f"{ENV_PREFIX}RATE_{bucket.upper()}"])
        for bucket in BUCKETS
        if f"{ENV_PREFIX}RATE_{bucket.upper()}" in env
    }
    if rates:
        values["rate_limits"] = rates
    return values


def load_config(
    *,
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the configuration: defaults < TOML file < environment < ``overrides``.

    Args:
        path: A TOML file; if ``None``, ``HEARTH_CONFIG`` from ``env`` names one.
        env: The environment (``os.environ`` in the CLI); only ``HEARTH_*`` is read.
        overrides: Values from command-line flags; ``None`` values are ignored.
    """
    env = env or {}
    if path is None and env.get(ENV_PREFIX + "CONFIG"):
        path = Path(env[ENV_PREFIX + "CONFIG"])
    values: dict[str, Any] = {}
    if path is not None:
        values.update(_from_toml(path))
    from_env = _from_env(env)
    if "rate_limits" in from_env and "rate_limits" in values:
        from_env["rate_limits"] = {**values["rate_limits"], **from_env["rate_limits"]}
    values.update(from_env)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    if "rate_limits" in values:
        values["rate_limits"] = {**_DEFAULT_RATES, **values["rate_limits"]}
    names = {f.name for f in dataclasses.fields(Config)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
    return Config(**values)
