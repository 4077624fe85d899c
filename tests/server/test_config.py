"""Settings: defaults < TOML file < HEARTH_* environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import Config, ConfigError, Rate, load_config

TOML = """
host = "0.0.0.0"
port = 9000
data_dir = "/var/lib/hearth"
origin = "https://relay.example.org"
create_policy = "token"
registration_tokens = ["abc"]
pow_difficulty = 20
max_blob_bytes = 5_000_000
trust_proxy = true

[rate_limits]
send = { per_second = 2, burst = 10 }

[[crisis]]
name = "Samaritans"
regions = ["GB", "IE"]
phone = "116 123"
"""


def test_defaults() -> None:
    config = load_config()
    assert (config.host, config.port, config.data_dir) == ("127.0.0.1", 8080, Path("hearth-data"))
    assert config.create_policy == "open"
    assert config.pow_difficulty == 16
    assert config.public_origin == "http://127.0.0.1:8080"
    assert config.database == Path("hearth-data/hearth.db")


def test_precedence(tmp_path: Path) -> None:
    path = tmp_path / "hearth.toml"
    path.write_text(TOML)
    config = load_config(path=path)
    assert (config.host, config.port, config.trust_proxy) == ("0.0.0.0", 9000, True)
    assert config.rate("send") == Rate(2.0, 10)
    assert config.rate("join") == Config().rate("join")
    assert config.crisis[0].phone == "116 123"
    env = {"HEARTH_PORT": "9100", "HEARTH_RATE_SEND": "3/30", "HEARTH_REGISTRATION_TOKENS": "x, y"}
    config = load_config(path=path, env=env)
    assert config.port == 9100
    assert config.rate("send") == Rate(3.0, 30)
    assert config.registration_tokens == ("x", "y")
    config = load_config(path=path, env=env, overrides={"port": 9200, "host": None})
    assert (config.host, config.port) == ("0.0.0.0", 9200)
    config = load_config(env={"HEARTH_CONFIG": str(path)})
    assert config.port == 9000


@pytest.mark.parametrize(
    ("toml", "env"),
    [
        ("port = 'x'", {}),
        ("colour = 'blue'", {}),
        ("create_policy = 'token'", {}),
        ("event_loop = 'trio'", {}),
        ("[rate_limits]\nsend = 5", {}),
        ("[rate_limits]\nflood = { per_second = 1, burst = 1 }", {}),
        ("[[crisis]]\nname = 5", {}),
        ("[[crisis]]\nname = 'x'\nregions = ['GB']", {}),
        ("[[crisis]]\nname = 'x'\nregions = []\nphone = '1'", {}),
        ("[[crisis]]\nname = 'x'\nregions = ['GBR']\nphone = '1'", {}),
        ("[[crisis]]\nname = ''\nregions = ['GB']\nphone = '1'", {}),
        ("[[crisis]]\nname = 'x'\nregions = ['*']\nurl = 'javascript:alert(1)'", {}),
        ("this is not toml", {}),
        ("", {"HEARTH_PORT": "eighty"}),
        ("", {"HEARTH_TRUST_PROXY": "perhaps"}),
        ("", {"HEARTH_RATE_SEND": "fast"}),
        ("", {"HEARTH_MAX_BODY_BYTES": "0"}),
    ],
)
def test_bad_settings(tmp_path: Path, toml: str, env: dict[str, str]) -> None:
    path = tmp_path / "hearth.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError):
        load_config(path=path, env=env)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(path=tmp_path / "absent.toml")


def test_the_origin_is_kept_in_canonical_form() -> None:
    # What the relay binds into challenges is what a client computes from its URL
    # (protocol.md 9.1), whatever spelling the operator wrote.
    config = Config(origin="HTTPS://Relay.Example.org:443/")
    assert config.public_origin == "https://relay.example.org"
    assert Config(origin="http://[::1]:8080").public_origin == "http://[::1]:8080"
    for bad in ("relay.example.org", "ftp://relay.example.org", "https://user@relay.example"):
        with pytest.raises(ConfigError) as caught:
            Config(origin=bad)
        assert "origin" in caught.value.message


def test_allowed_origins_are_kept_in_canonical_form(tmp_path: Path) -> None:
    # A browser's Origin header is canonical, and the relay compares it as is.
    assert Config().allowed_origins == ()
    config = Config(
        allowed_origins=("HTTPS://App.Example:443", "http://[::1]:3000", "https://app.example")
    )
    assert config.allowed_origins == ("https://app.example", "http://[::1]:3000")
    env = {"HEARTH_ALLOWED_ORIGINS": "https://a.example, http://b.example:8080"}
    assert load_config(env=env).allowed_origins == ("https://a.example", "http://b.example:8080")
    path = tmp_path / "hearth.toml"
    path.write_text('allowed_origins = ["https://a.example"]\n')
    assert load_config(path=path).allowed_origins == ("https://a.example",)
    path.write_text('allowed_origins = "https://a.example"\n')
    with pytest.raises(ConfigError, match="allowed_origins must be a list of strings"):
        load_config(path=path)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("*", "a wildcard"),
        ("https://*.example", "a wildcard"),
        ("null", "'null'"),
        ("https://app.example/", "no path"),
        ("https://app.example/hearth", "no path, query"),
        ("https://app.example?next=1", "no path, query or fragment"),
        ("https://app.example#top", "no path, query or fragment"),
        ("app.example", "not an http(s) URL"),
        ("ftp://app.example", "not an http(s) URL"),
        ("https://user@app.example", "no user info"),
        ("https://app.example:99999", "not an http(s) URL"),
        ("https://", "not an http(s) URL"),
    ],
)
def test_allowed_origins_are_exact_origins_or_the_relay_does_not_start(
    value: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env={"HEARTH_ALLOWED_ORIGINS": f"https://fine.example,{value}"})
    assert "allowed_origins" in caught.value.message
    assert words in caught.value.message
    with pytest.raises(ConfigError):
        Config(allowed_origins=(value,))


def test_the_token_secret_never_shows_in_a_repr() -> None:
    config = load_config(env={"HEARTH_TOKEN_SECRET": "s3cret-value"})
    assert config.token_secret == "s3cret-value"
    assert "s3cret-value" not in repr(config)
