"""Every hook in costpipe.hookspecs is documented in docs/plugins.md and has a
``test_hook_<name>`` test somewhere under tests/ (datasette's rule)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from costpipe import hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "plugins.md"


def hook_names() -> list[str]:
    return sorted(
        name
        for name, value in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(value, "costpipe_spec")
    )


def test_hookspecs_are_found() -> None:
    """The discovery below is not vacuous: the known hooks are there."""
    assert {"register_providers", "costpipe_startup"} <= set(hook_names())


@pytest.mark.parametrize("name", hook_names())
def test_hook_is_documented(name: str) -> None:
    """docs/plugins.md has a ``### `name` `` section showing the signature."""
    text = DOCS.read_text(encoding="utf-8")
    heading = re.search(rf"^### `{name}`$", text, re.MULTILINE)
    assert heading is not None, f"docs/plugins.md lacks a '### `{name}`' section"
    signature = f"def {name}("
    section = text[heading.end() :].split("\n### ", 1)[0]
    assert signature in section, f"the `{name}` section does not show `{signature}...`"


@pytest.mark.parametrize("name", hook_names())
def test_hook_has_a_test(name: str) -> None:
    """Some test module defines ``test_hook_<name>``."""
    pattern = re.compile(rf"^\s*(async\s+)?def test_hook_{name}\b", re.MULTILINE)
    found = [
        path
        for path in (ROOT / "tests").rglob("test_*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert found, f"no test_hook_{name} under tests/"
