"""The import rules of CONTRIBUTING.md's layout map hold in the source.

The graph is :func:`tests.sdk.test_layout.import_graph` (every import statement,
``TYPE_CHECKING`` and function-level ones included), folded to packages: the
first name under ``costpipe`` (``costpipe.engine.spool`` is ``engine``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.sdk.test_layout import import_graph

#: A concrete built-in plugin: its own package, which only costpipe.plugins names (as a string).
CONCRETE = re.compile(
    r"^costpipe\.(providers\.(?!base\b|bucketed\b|planning\b|typed_json\b|_?usage_rows\b|http\b)\w+"
    r"|sinks\.(?!deadletter\b)\w+|notifiers\.(?!headers\b|posting\b)\w+|enrichers\.\w+)"
)
#: Known exception, to be removed: the SQLite store borrows the encoder's cost_nanos.
KNOWN_CROSSINGS = {("costpipe.sinks.sqlite.store", "costpipe.sinks.influxdb.encoder")}

#: package -> the only costpipe packages it may import.
MAY_IMPORT: dict[str, set[str]] = {
    "records": set(),
    "errors": set(),
    "files": set(),
    "logging": set(),
    "notification": set(),
    "version": set(),
    "episodes": set(),
    "pricing": set(),
    "simulator": set(),
    "redaction": {"logging"},
    "recordcodec": {"records"},
    "query": {"records"},
    "components": {"records", "notification", "pricing", "query"},
    "testing": {"components", "errors", "hookspecs", "notification", "query", "records"},
}
#: What a plugin package never imports: the core that runs it, and the tools around it.
PLUGIN_PACKAGES = ("providers", "sinks", "enrichers", "notifiers")
NOT_FROM_PLUGINS = {"engine", "cli", "cli_deadletter", "demo", "dashboard", "plugins", "testing"}


def package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "costpipe"


def package_imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        found.setdefault(package(module), set()).update(
            package(t) for t in targets if package(t) != package(module)
        )
    return found


def concrete_home(module: str) -> str | None:
    match = CONCRETE.match(module)
    return ".".join(match.group(0).split(".")[:3]) if match else None


def test_the_rules_name_real_packages() -> None:
    """A renamed package fails here instead of passing every rule vacuously."""
    packages = package_imports()
    assert set() == (set(MAY_IMPORT) | set(PLUGIN_PACKAGES) | NOT_FROM_PLUGINS) - set(packages)
    assert concrete_home("costpipe.providers.openai.decode") == "costpipe.providers.openai"
    assert concrete_home("costpipe.providers.base") is None
    assert concrete_home("costpipe.providers.usage_rows") is None


@pytest.mark.parametrize("name", sorted(MAY_IMPORT))
def test_a_lower_package_imports_only_what_it_may(name: str) -> None:
    assert set() == package_imports()[name] - MAY_IMPORT[name]


@pytest.mark.parametrize("name", PLUGIN_PACKAGES)
def test_a_plugin_package_never_imports_the_core_that_runs_it(name: str) -> None:
    assert set() == package_imports()[name] & NOT_FROM_PLUGINS


def test_nothing_imports_a_concrete_plugin_but_its_own_package() -> None:
    """The core (and every other plugin) reaches a built-in through the hooks only."""
    crossings = {
        (module, target)
        for module, targets in import_graph().items()
        for target in targets
        if concrete_home(target) and concrete_home(target) != concrete_home(module)
    }
    assert set() == crossings - KNOWN_CROSSINGS


def layout_rows() -> list[tuple[set[str], set[str] | None]]:
    """CONTRIBUTING.md's layout table: (packages of a row, what the row says they
    import; None for "anything"). Qualifiers in parentheses are prose."""
    text = (Path(__file__).resolve().parents[2] / "CONTRIBUTING.md").read_text(encoding="utf-8")
    table = text.split("| package | owns | imports from costpipe |", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in table.strip().splitlines()[1:]:
        first, *_, last = (cell.strip() for cell in line.strip("|").split(" | "))
        names = {
            "costpipe" if name == "__init__" else name
            for name in re.findall(r"`([\w.]+?)(?:\.py|/)?`", first)
        }
        if last.startswith("anything"):
            rows.append((names, None))
            continue
        listed = re.sub(r"\([^)]*\)", "", last)
        rows.append((names, {name.split(".")[0] for name in re.findall(r"`([\w.]+)`", listed)}))
    return rows


def test_the_layout_table_says_what_each_package_imports() -> None:
    """CONTRIBUTING.md stays true: every package has a row, and each row's import
    column is exactly what its packages import (a change of imports updates it)."""
    actual = package_imports()
    rows = layout_rows()
    assert set() == set(actual) - {name for names, _ in rows for name in names}
    wrong = {
        ", ".join(sorted(names)): sorted(found)
        for names, said in rows
        if said is not None
        and said
        != (found := set().union(*(actual.get(name, {"<no such package>"}) for name in names)))
    }
    assert {} == wrong
