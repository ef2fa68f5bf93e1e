from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from costpipe.config.settings import config_path, load_config, parse_config
from costpipe.errors import ConfigError
from costpipe.plugins import ComponentRegistry

GOOD = """
[pipeline]
interval = "5m"
lookback = "24h"
timezone = "Europe/Berlin"
state_dir = "state"

[[providers.static]]
name = "a"
rows_per_hour = 2

[[providers.static]]
rows_per_hour = 1

[[sinks.dict]]

[[budgets]]
name = "monthly"
amount_usd = 100
thresholds = [100, 50, 80]
"""


def test_a_good_config_validates(registry: ComponentRegistry) -> None:
    settings = parse_config(tomllib.loads(GOOD), registry, env={})
    assert settings.pipeline.interval == timedelta(minutes=5)
    assert settings.pipeline.lookback == timedelta(hours=24)
    assert settings.pipeline.timezone == "Europe/Berlin"
    assert [s.instance for s in settings.providers] == ["static.a", "static.1"]
    assert settings.budgets[0].thresholds == [50, 80, 100]


def test_defaults_match_the_documented_names(registry: ComponentRegistry) -> None:
    settings = parse_config({}, registry, env={})
    assert settings.pipeline.interval == timedelta(minutes=15)
    assert settings.pipeline.lookback == timedelta(hours=48)
    assert settings.pipeline.timezone == "UTC"
    assert settings.pipeline.state_dir == Path(".costpipe")


BAD = [
    ("[pipeline]\nintervall = '5m'", "pipeline.intervall: unknown key"),
    ("[pipeline]\ninterval = 'soon'", "pipeline.interval: expected a duration like 15m"),
    ("[pipeline]\ntimezone = 'Mars/Olympus'", "pipeline.timezone: unknown IANA timezone"),
    ("[[providers.static]]\nrows_per_hour = 'many'", "providers.static[0].rows_per_hour:"),
    ("[[providers.static]]\nbogus = 1", "providers.static[0].bogus: unknown key"),
    ("[[providers.nope]]", "providers.nope: no provider plugin is named 'nope'"),
    ("[providers.static]\nrows_per_hour = 1", "providers.static: write [[providers.static]]"),
    (
        "[[providers.static]]\nname = 'x'\n[[providers.static]]\nname = 'x'",
        "providers.static[1].name: 'static.x' is already used by providers.static[0]",
    ),
    ("[[budgets]]\nname = 'b'", "budgets[0].amount_usd: required key is missing"),
    (
        "[[budgets]]\nname = 'b'\namount_usd = 5\nperiod = 'year'",
        "budgets[0].period:",
    ),
    (
        "[[budgets]]\nname = 'b'\namount_usd = 5\nnotify = ['pager']",
        "budgets[0].notify: no notifier instance is named 'pager'",
    ),
    ("surprise = 1", "surprise: unknown key"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_configs_name_the_toml_path(
    registry: ComponentRegistry, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(tomllib.loads(text), registry, env={})
    assert str(caught.value).startswith(message)


def test_environment_variables_are_substituted(registry: ComponentRegistry) -> None:
    data = tomllib.loads("[pipeline]\nstate_dir = '${STATE}/x'\n")
    settings = parse_config(data, registry, env={"STATE": "/var/lib/costpipe"})
    assert settings.pipeline.state_dir == Path("/var/lib/costpipe/x")


def test_an_unset_variable_is_named_with_its_place(registry: ComponentRegistry) -> None:
    data = tomllib.loads("[[providers.static]]\nname = '${PROVIDER_NAME}'\n")
    with pytest.raises(ConfigError) as caught:
        parse_config(data, registry, env={})
    assert str(caught.value) == (
        "providers.static[0].name: environment variable PROVIDER_NAME is not set"
    )


def test_double_dollar_escapes_a_literal(registry: ComponentRegistry) -> None:
    data = tomllib.loads("[pipeline]\nstate_dir = '$${HOME}'\n")
    assert parse_config(data, registry, env={}).pipeline.state_dir == Path("${HOME}")


def test_invalid_toml_and_missing_files_are_config_errors(
    registry: ComponentRegistry, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[pipeline\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(broken, registry)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml", registry)


def test_config_path_precedence() -> None:
    assert config_path("a.toml", {"COSTPIPE_CONFIG": "b.toml"}) == Path("a.toml")
    assert config_path(None, {"COSTPIPE_CONFIG": "b.toml"}) == Path("b.toml")
    assert config_path(None, {}) == Path("config.toml")
