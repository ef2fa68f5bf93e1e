"""The layout holds: no import cycle between costpipe's modules or between its
packages, not even through ``if TYPE_CHECKING:`` imports or imports inside
functions, and no module of 400 lines or more.

A cycle hidden behind ``TYPE_CHECKING`` still means two modules cannot be
understood (or moved) one without the other; the components -> pricing ->
config -> plugins -> components loop was one. The graph is read from the
source with ``ast``, so it sees every import statement wherever it is.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SOURCE / "costpipe"
MAX_LINES = 400


def module_names() -> dict[str, Path]:
    """Dotted name -> file of every module (a package is its ``__init__``)."""
    names: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The costpipe modules *name* imports anywhere in its source. ``from p import m``
    counts as importing the module ``p.m`` when there is one, else ``p`` itself;
    a parent package that Python imports implicitly is not an edge."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                found.add(submodule if submodule in modules else origin)
    return {target for target in found if target in modules and target != name}


@functools.cache
def import_graph() -> dict[str, set[str]]:
    modules = module_names()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_type_checking_and_function_level_imports() -> None:
    """The reader is not vacuous: known edges of each kind are present."""
    graph = import_graph()
    assert "costpipe.pricing.prices" in graph["costpipe.components"]  # under TYPE_CHECKING
    assert "costpipe.config.settings" in graph["costpipe.hookspecs"]  # under TYPE_CHECKING
    assert "costpipe.components" in graph["costpipe.plugins"]
    assert len(graph) > 80


def test_a_cycle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert [["a", "b", "c"]] == cycles(graph)


def test_no_import_cycle_between_modules() -> None:
    assert [] == cycles(import_graph())


def package_of(module: str) -> str:
    """The first name under ``costpipe`` (``costpipe.engine.spool`` is ``engine``);
    the top package itself is ``costpipe``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """*graph* folded to packages: an edge where any module of one imports any of the other."""
    folded: dict[str, set[str]] = {package_of(name): set() for name in graph}
    for name, targets in graph.items():
        folded[package_of(name)].update(
            package_of(t) for t in targets if package_of(t) != package_of(name)
        )
    return folded


def test_a_package_cycle_is_found_where_the_modules_do_not_loop() -> None:
    """alerts.engine -> engine.episodes and engine.wiring -> alerts.engine is no
    module cycle, but the two packages cannot be read one without the other."""
    graph = {
        "costpipe.alerts.engine": {"costpipe.engine.episodes"},
        "costpipe.engine.episodes": set(),
        "costpipe.engine.wiring": {"costpipe.alerts.engine"},
        "costpipe.records": set(),
    }
    assert [] == cycles(graph)
    assert [["alerts", "engine"]] == cycles(package_graph(graph))


def test_no_import_cycle_between_packages() -> None:
    """Each package (a folder under ``costpipe``, or a top-level module) is a
    layer: if one imports another, the other never imports it back."""
    folded = package_graph(import_graph())
    assert {"alerts", "engine", "config", "plugins", "hookspecs", "costpipe"} <= set(folded)
    assert [] == cycles(folded)


def test_no_module_reaches_400_lines() -> None:
    """Split by concern before 400 lines (CONTRIBUTING.md)."""
    long = {
        str(path.relative_to(SOURCE)): count
        for path in sorted(PACKAGE.rglob("*.py"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) >= MAX_LINES
    }
    assert {} == long
