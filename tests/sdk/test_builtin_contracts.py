"""Every built-in component runs its kind's contract suite.

The suites themselves run where each component's other tests live (providers
against fakes or the simulator, sinks against real SQLite and influxd,
notifiers against real SMTP and HTTP receivers). This module fails when a
built-in is added without a ``class Test...(<Kind>Contract)`` in a test module
that names the component's class.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from costpipe.plugins import BUILTIN_PLUGINS, build_plugin_manager

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = {
    "providers": "ProviderContract",
    "enrichers": "EnricherContract",
    "sinks": "SinkContract",
    "notifiers": "NotifierContract",
}


def builtin_components() -> list[tuple[str, str, str]]:
    """``(kind, component name, class name)`` of every built-in component."""
    _pm, registry = build_plugin_manager(builtins=BUILTIN_PLUGINS, entry_points=False)
    return [
        (kind, name, cls.__name__)
        for kind, classes in sorted(registry.classes.items())
        for name, cls in sorted(classes.items())
    ]


def test_every_kind_has_builtins() -> None:
    """The discovery below is not vacuous."""
    assert {"providers", "enrichers", "sinks", "notifiers"} == {
        k for k, _, _ in builtin_components()
    }


@pytest.mark.parametrize(("kind", "name", "cls"), builtin_components())
def test_builtin_runs_its_contract_suite(kind: str, name: str, cls: str) -> None:
    contract = re.compile(rf"^class Test\w*\((\w+\.)?{CONTRACTS[kind]}\)", re.MULTILINE)
    suites = [
        path.relative_to(ROOT)
        for path in (ROOT / "tests").rglob("test_*.py")
        if contract.search(text := path.read_text(encoding="utf-8"))
        and re.search(rf"\b{cls}\b", text)
    ]
    assert suites, f"{kind}.{name} ({cls}) has no test class inheriting {CONTRACTS[kind]}"
