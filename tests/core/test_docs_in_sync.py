"""Documentation that is generated from the code, and the example config, stay true."""

from __future__ import annotations

from pathlib import Path

from costpipe.config.settings import load_config
from costpipe.config_doc import render_reference
from costpipe.plugins import build_plugin_manager

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_reference_is_generated_from_the_models() -> None:
    _pm, registry = build_plugin_manager(entry_points=False)
    expected = render_reference(registry)
    actual = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert expected == actual, "run: python -m costpipe.config_doc > docs/configuration.md"


def test_every_built_in_component_is_in_the_reference() -> None:
    _pm, registry = build_plugin_manager(entry_points=False)
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for kind in ("providers", "sinks", "notifiers", "enrichers"):
        for name in registry.names(kind):
            assert f"## `[[{kind}.{name}]]`" in text


def test_the_example_config_validates_with_its_variables_set() -> None:
    _pm, registry = build_plugin_manager(entry_points=False)
    env = {"OPENAI_ADMIN_KEY": "sk-admin-example", "ANTHROPIC_ADMIN_KEY": "sk-ant-admin01-x"}
    settings = load_config(ROOT / "config.toml", registry, env)
    assert [s.instance for s in settings.providers] == ["openai.0", "anthropic.0"]
    assert [s.name for s in settings.sinks] == ["sqlite"]
