"""Durations in the config: always a quoted number with a unit; anything else is
a config error naming the TOML path and showing what to write, never a crash."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from costpipe.components import ComponentRegistry
from costpipe.config.durations import format_duration, parse_duration
from costpipe.config.settings import parse_config
from costpipe.errors import ConfigError
from costpipe.plugins import build_plugin_manager

KEY = {"api_key": "sk-admin-4f1c2b"}


@pytest.fixture(scope="module")
def registry() -> ComponentRegistry:
    return build_plugin_manager(entry_points=False)[1]


def config_error(document: dict[str, Any], registry: ComponentRegistry) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(document, registry, env={})
    return caught.value


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ([], "got an array"),  # crashed with TypeError in parse_duration (issue 15.3)
        (["15m"], "got an array"),
        ({"minutes": 15}, "got a table"),
        (True, "got true/false"),
        ("99999999999d", "too long"),  # crashed with OverflowError
        (float("inf"), "whole number and a unit"),  # crashed with OverflowError
        ("soon", "expected a duration like 15m"),
    ],
)
def test_a_value_that_is_not_a_duration_is_a_config_error(
    registry: ComponentRegistry, value: object, said: str
) -> None:
    error = config_error({"providers": {"openai": [{**KEY, "timeout": value}]}}, registry)
    assert error.path == "providers.openai[0].timeout"
    assert said in error.message


@pytest.mark.parametrize("key", ["interval", "lookback", "chunk", "shutdown_timeout"])
def test_a_bare_number_is_refused_with_the_fix(registry: ComponentRegistry, key: str) -> None:
    """``interval = 15`` was read as 15 seconds (issue 15.7): say what to write."""
    error = config_error({"pipeline": {key: 15}}, registry)
    assert error.path == f"pipeline.{key}"
    assert 'a duration needs a unit: write "15s" for seconds (or "15m"' in error.message


def test_bare_numbers_are_refused_everywhere(registry: ComponentRegistry) -> None:
    """Budgets, alerts, providers and notifiers: every Duration field."""
    cases = {
        "budgets[0].repeat_interval": {
            "budgets": [{"name": "b", "amount_usd": 5, "repeat_interval": 3600}]
        },
        "alerts.stale_after": {"alerts": {"stale_after": 7200}},
        "providers.anthropic[0].retry_backoff": {
            "providers": {"anthropic": [{**KEY, "retry_backoff": 1}]}
        },
        "notifiers.webhook[0].timeout": {
            "notifiers": {"webhook": [{"url": "https://hooks.example/x", "timeout": 10}]}
        },
    }
    for path, document in cases.items():
        error = config_error(document, registry)
        assert (error.path, "needs a unit" in error.message) == (path, True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("250ms", timedelta(milliseconds=250)),
        ("90s", timedelta(seconds=90)),
        (" 15m ", timedelta(minutes=15)),
        ("48h", timedelta(hours=48)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("0s", timedelta(0)),
    ],
)
def test_durations_with_units_parse_and_format_back(text: str, expected: timedelta) -> None:
    assert expected == parse_duration(text)
    assert expected == parse_duration(format_duration(expected))


def test_format_picks_the_largest_exact_unit() -> None:
    assert ["15m", "90s", "36h", "1500ms", "0s", "1w"] == [
        format_duration(timedelta(minutes=15)),
        format_duration(timedelta(seconds=90)),
        format_duration(timedelta(hours=36)),
        format_duration(timedelta(milliseconds=1500)),
        format_duration(timedelta(0)),
        format_duration(timedelta(days=7)),
    ]
