"""The scale-out settings: where state lives and how instances share live events."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.app import default_storage
from server.config import Config, ConfigError, load_config
from server.storage import PostgresStorage, SqliteStorage

PG = "postgresql://hearth:s3cret@db.internal:5432/hearth"


def test_sqlite_and_memory_are_the_defaults() -> None:
    config = load_config()
    assert (config.database_url, config.pubsub, config.pubsub_url) == ("", "memory", "")
    assert isinstance(default_storage(config), SqliteStorage)


def test_from_the_environment_and_toml(tmp_path: Path) -> None:
    env = {
        "HEARTH_DATABASE_URL": PG,
        "HEARTH_PUBSUB": "redis",
        "HEARTH_PUBSUB_URL": "rediss://:pw@cache.internal:6379/0",
        "HEARTH_PUBSUB_CHANNEL": "community-a",
        "HEARTH_DATABASE_POOL_SIZE": "4",
    }
    config = load_config(env=env)
    assert (config.pubsub, config.pubsub_channel, config.database_pool_size) == (
        "redis",
        "community-a",
        4,
    )
    assert isinstance(default_storage(config), PostgresStorage)
    path = tmp_path / "hearth.toml"
    path.write_text(f'database_url = "{PG}"\npubsub = "postgres"\n')
    config = load_config(path=path)
    assert config.pubsub_target == PG  # LISTEN/NOTIFY on the database itself


def test_urls_never_reach_a_repr_or_an_error() -> None:
    config = Config(database_url=PG, pubsub="redis", pubsub_url="redis://:pw@cache/0")
    assert "s3cret" not in repr(config)
    assert ":pw@" not in repr(config)
    with pytest.raises(ConfigError) as caught:
        Config(database_url="mysql://root:s3cret@db/x")
    assert "s3cret" not in caught.value.message


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"pubsub": "redis"}, "needs a PostgreSQL database_url"),
        ({"pubsub": "postgres"}, "needs a PostgreSQL database_url"),
        ({"database_url": PG, "pubsub": "redis"}, "pubsub_url = 'redis://"),
        ({"database_url": PG, "pubsub": "redis", "pubsub_url": PG}, "pubsub_url = 'redis://"),
        ({"database_url": PG, "pubsub": "postgres", "pubsub_url": "redis://x"}, "postgresql://"),
        ({"pubsub_url": "redis://x"}, "pubsub is 'memory'"),
        ({"pubsub": "kafka"}, "pubsub must be one of"),
        ({"pubsub_channel": "no spaces"}, "pubsub_channel"),
        ({"database_pool_size": 0}, "database_pool_size must be positive"),
    ],
)
def test_inconsistent_settings_are_refused(settings: dict[str, object], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        Config(**settings)  # type: ignore[arg-type]
