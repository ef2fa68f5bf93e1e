"""Config errors point the right way: a misspelled key, section, plugin or
notifier name gets "did you mean" with the closest real name (issue 15.8)."""

from __future__ import annotations

from typing import Any

import pytest

from costpipe.components import ComponentRegistry
from costpipe.config.settings import parse_config
from costpipe.errors import ConfigError
from costpipe.plugins import build_plugin_manager


@pytest.fixture(scope="module")
def registry() -> ComponentRegistry:
    return build_plugin_manager(entry_points=False)[1]


def message(document: dict[str, Any], registry: ComponentRegistry) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(document, registry, env={})
    return str(caught.value)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"pipeline": {"lookbak": "48h"}},
            "pipeline.lookbak: unknown key, did you mean `lookback`?",
        ),
        ({"pipline": {}}, "pipline: unknown key, did you mean `pipeline`?"),
        (
            {"budgets": [{"name": "b", "amount_usd": 5, "treshold": [50]}]},
            "budgets[0].treshold: unknown key, did you mean `thresholds`?",
        ),
        (
            {"providers": {"openai": [{"api_key": "sk-a1b2c3d4", "bucket_widht": "1h"}]}},
            "providers.openai[0].bucket_widht: unknown key, did you mean `bucket_width`?",
        ),
        (
            {"health": {"adress": "127.0.0.1"}},
            "health.adress: unknown key, did you mean `address`?",
        ),
    ],
)
def test_misspelled_key_suggests_the_real_one(
    registry: ComponentRegistry, document: dict[str, Any], expected: str
) -> None:
    assert expected == message(document, registry)


def test_unrelated_key_gets_no_guess(registry: ComponentRegistry) -> None:
    assert "pipeline.colour: unknown key" == message({"pipeline": {"colour": "blue"}}, registry)


def test_misspelled_plugin_suggests_the_installed_one(registry: ComponentRegistry) -> None:
    text = message({"providers": {"opnai": [{"api_key": "sk-a1b2c3d4"}]}}, registry)
    assert text.startswith("providers.opnai: no provider plugin is named 'opnai'")
    assert text.endswith("did you mean `openai`?")


def test_misspelled_notifier_instance_suggests_the_configured_one(
    registry: ComponentRegistry,
) -> None:
    document = {
        "notifiers": {"webhook": [{"name": "finance", "url": "https://hooks.example/x"}]},
        "budgets": [{"name": "b", "amount_usd": 5, "notify": ["finanse"]}],
    }
    assert (
        "budgets[0].notify: no notifier instance is named 'finanse', did you mean `finance`?"
        == message(document, registry)
    )
