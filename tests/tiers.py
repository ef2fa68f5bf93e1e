"""The two test tiers: which tests are ``slow``, ``browser`` or ``influxdb``.

Markers are applied at collection, from what a test uses, so a new test lands
in the right tier without anyone remembering to mark it:

* ``browser``: it requests the ``chromium`` or ``page`` fixture.
* ``influxdb``: it requests the ``influxd`` fixture (directly or through another
  fixture) or starts its own server with ``influxd_or_skip()``.
* ``slow``: it lives in ``tests/e2e`` or ``tests/bench``, starts a process (the
  CLI, a venv, a subprocess), or was measured above :data:`SLOW_SECONDS` on the
  2-core reference machine (:data:`MEASURED_SLOW`, from ``pytest --durations=0``).

The fast tier is ``pytest -n 2 --dist loadfile -m "not slow and not browser"``
(two pytest-xdist workers, each test file on one). After any run, tests
that took longer than :data:`SLOW_SECONDS` without the ``slow`` marker are
listed in the terminal summary, so the list stays true (a hint, never a failure:
speed is not asserted).
"""

from __future__ import annotations

import ast
import inspect
import os
from pathlib import Path
from types import ModuleType

import pytest

__all__ = [
    "MEASURED_SLOW",
    "SLOW_SECONDS",
    "pytest_collection_modifyitems",
    "pytest_runtest_logreport",
    "pytest_terminal_summary",
    "unmarked_slow_tests",
]

SLOW_SECONDS = 1.0

BROWSER_FIXTURES = frozenset({"chromium", "page", "browser"})
INFLUXDB_FIXTURES = frozenset({"influxd"})
#: Calls in a test's own source that start a process or a server binary.
PROCESS_CALLS = (
    "run_cli(",
    "start_cli(",
    "create_subprocess_exec(",
    "subprocess.run(",
    "subprocess.Popen(",
    "subprocess.check_output(",
    "sys.executable",
    "new_venv(",
)
SLOW_DIRECTORIES = ("tests/e2e/", "tests/bench/")

#: Node-id prefixes measured above SLOW_SECONDS that the rules above miss
#: (a simulator of a realistic size, a long hypothesis run, many passes).
MEASURED_SLOW: tuple[str, ...] = (
    # Waits for a fake API that answers after 2 s, so the requests ahead are caught in flight.
    "tests/providers/test_request_lookahead.py::test_stopping_early_cancels_the_requests_fetched_ahead",
    # Property tests: hundreds of examples (5-20 s; CI runs them derandomized).
    "tests/reliability/test_rel_config_input.py::test_hostile_documents_give_settings_or_config_error",
    "tests/reliability/test_rel_parsers.py::test_mutated_pages_give_records_or_malformed_data",
    "tests/storage/test_speedups.py::test_c_encoder_gives_python_bytes_for_any_records",
    # Inflating compression bombs up to the response limit (3-4.5 s).
    "tests/providers/test_http_hostile.py::test_a_compression_bomb_is_refused_after_inflating",
    "tests/providers/test_hostile_simulator.py::test_oversized_and_compressed_pages_are_set_aside[gzip_bomb",
    # Two full simulated organisations served byte for byte (2.6 s).
    "tests/simulator/test_truth.py::test_same_seed_serves_the_same_bytes_and_another_seed_does_not",
    # LiteLLM hours of 10,000-12,000 logged requests walked page by page (1.0-1.9 s each);
    # the fast tier keeps the walk's busy-hour cap and late-rows tests.
    "tests/providers_extra/test_litellm_walk.py::test_a_crowded_second_is_asked_again_with_the_largest_page",
    "tests/providers_extra/test_litellm_walk.py::test_a_second_larger_than_the_largest_page_is_united_over_walks",
    "tests/providers_extra/test_litellm_walk.py::test_a_second_that_cannot_be_verified_is_set_aside_not_counted_short",
    "tests/providers_extra/test_litellm_walk.py::test_12000_requests_in_one_hour_are_counted_exactly",
    "tests/providers_extra/test_set_aside.py::test_litellm_slices_past_a_capped_count",
    # A 35-day Anthropic backfill in day buckets, both readings of ending_at (1.3-1.6 s);
    # the fast tier keeps the hour-bucket cases.
    "tests/providers/test_anthropic_windows.py::test_backfill_is_exact_to_the_cent_whichever_way_ending_at_is_read[1d-35",
)

_ROOT = Path(__file__).resolve().parents[1]
_SOURCES = tuple(f"{_ROOT / folder}{os.sep}" for folder in ("tests", "plugins", "src"))
_slow_ids: set[str] = set()
_durations: dict[str, float] = {}


_sources: dict[object, str] = {}


def _source_of(obj: object) -> str:
    """The source of a function, class or fixture ("" if unknown), read once."""
    target = getattr(obj, "_get_wrapped_function", None)  # a pytest fixture definition
    if callable(target):
        obj = target()
    obj = getattr(obj, "__func__", obj)  # a bound method (class-level fixtures)
    key = getattr(obj, "__code__", obj)  # stable even when wrappers are rebuilt
    try:
        return _sources[key]
    except KeyError:
        pass
    except TypeError:  # unhashable: read it every time
        return _read_source(obj)
    _sources[key] = _read_source(obj)
    return _sources[key]


def _read_source(obj: object) -> str:
    """The source of *obj* if it is defined in this repository's code, else "":
    a fixture of pytest or of an installed plugin (``tmp_path``, ``page``) is
    not read, and only the tier rules above decide what it means."""
    try:
        obj = inspect.unwrap(obj)  # type: ignore[arg-type]
        filename = inspect.getsourcefile(obj)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    if filename is None or not filename.startswith(_SOURCES):
        return ""
    lines, starts, classes = _index(filename)
    code = getattr(obj, "__code__", None)
    if code is not None and code.co_firstlineno in starts:
        first, last = code.co_firstlineno, starts[code.co_firstlineno]
    elif inspect.isclass(obj) and obj.__qualname__ in classes:
        first, last = classes[obj.__qualname__]
    else:
        try:
            return inspect.getsource(obj)  # type: ignore[arg-type]
        except (OSError, TypeError):
            return ""
    return "".join(lines[first - 1 : last])


#: file -> its lines, the first and last line of each def and class (the first
#: line is its first decorator's), and each class's by qualified name.
_indexes: dict[str, tuple[list[str], dict[int, int], dict[str, tuple[int, int]]]] = {}


def _index(filename: str) -> tuple[list[str], dict[int, int], dict[str, tuple[int, int]]]:
    """One parse per file: ``inspect.getsource`` tokenizes again for every
    function and parses the whole file again for every class (a second of
    collection for the thousand tests)."""
    if filename in _indexes:
        return _indexes[filename]
    starts: dict[int, int] = {}
    classes: dict[str, tuple[int, int]] = {}
    try:
        text = Path(filename).read_text(encoding="utf-8")
        tree = ast.parse(text)
    except (OSError, SyntaxError, ValueError):
        text, tree = "", ast.Module(body=[], type_ignores=[])

    def visit(statements: list[ast.stmt], prefix: str) -> None:
        for node in statements:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                last = node.end_lineno or node.lineno
                starts[first] = last
                if isinstance(node, ast.ClassDef):
                    classes[prefix + node.name] = (first, last)
                    visit(node.body, f"{prefix}{node.name}.")
                else:
                    visit(node.body, f"{prefix}{node.name}.<locals>.")
                continue
            for field in ("body", "orelse", "finalbody", "handlers"):
                block = getattr(node, field, None)
                if isinstance(block, list):
                    visit(block, prefix)

    visit(tree.body, "")
    _indexes[filename] = (text.splitlines(keepends=True), starts, classes)
    return _indexes[filename]


_spawners_by_module: dict[str, frozenset[str]] = {}


def _spawners(module: ModuleType) -> frozenset[str]:
    """Names in *module* that start a process: its own or the test tree's
    functions and classes whose source makes a :data:`PROCESS_CALLS` call, or
    calls such a name (to a fixpoint: helpers of helpers count)."""
    cached = _spawners_by_module.get(module.__name__)
    if cached is not None:
        return cached
    sources = {
        name: _source_of(obj)
        for name, obj in vars(module).items()
        if (
            inspect.isfunction(obj) or inspect.isclass(obj) or hasattr(obj, "_get_wrapped_function")
        )
        and str(getattr(obj, "__module__", "")).startswith(("tests", "plugins", module.__name__))
    }
    found = {name for name, text in sources.items() if any(c in text for c in PROCESS_CALLS)}
    while True:
        more = {
            name
            for name, text in sources.items()
            if name not in found and any(f"{other}(" in text for other in found)
        }
        if not more:
            break
        found |= more
    _spawners_by_module[module.__name__] = frozenset(found)
    return _spawners_by_module[module.__name__]


def _starts_a_process(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    function = getattr(item, "function", None)
    if module is None or function is None:
        return False
    spawners = _spawners(module)
    source = _source_of(function)
    if any(call in source for call in PROCESS_CALLS):
        return True
    if any(f"{name}(" in source for name in spawners):
        return True
    fixture_info = getattr(item, "_fixtureinfo", None)
    definitions = getattr(fixture_info, "name2fixturedefs", {})
    for name in getattr(item, "fixturenames", ()):
        if name in spawners:
            return True
        for definition in definitions.get(name, ()):
            text = _source_of(definition.func)
            if any(call in text for call in PROCESS_CALLS):
                return True
    return False


def _tiers(item: pytest.Item) -> set[str]:
    fixtures = set(getattr(item, "fixturenames", ()))
    source = _source_of(getattr(item, "function", None))
    path = item.path.resolve()
    relative = path.relative_to(_ROOT).as_posix() if path.is_relative_to(_ROOT) else ""
    tiers: set[str] = set()
    if fixtures & BROWSER_FIXTURES:
        tiers.add("browser")
    if fixtures & INFLUXDB_FIXTURES or "influxd_or_skip(" in source:
        tiers.add("influxdb")
    if (
        relative.startswith(SLOW_DIRECTORIES)
        or "costpipe_cli" in fixtures
        or item.nodeid.startswith(MEASURED_SLOW)
        or _starts_a_process(item)
    ):
        tiers.add("slow")
    return tiers


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for tier in sorted(_tiers(item)):
            item.add_marker(getattr(pytest.mark, tier))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # From the report, not the item: under pytest-xdist the process that
    # prints the summary collects nothing and only receives the reports.
    if "slow" in report.keywords or "browser" in report.keywords:
        _slow_ids.add(report.nodeid)
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration


def unmarked_slow_tests() -> list[tuple[float, str]]:
    """(seconds, node id) of the tests reported so far that took longer than
    :data:`SLOW_SECONDS` (setup, call and teardown) without the slow marker."""
    return sorted(
        (seconds, nodeid)
        for nodeid, seconds in _durations.items()
        if seconds > SLOW_SECONDS and nodeid not in _slow_ids
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    unmarked = unmarked_slow_tests()
    if not unmarked:
        return
    terminalreporter.section("tests slower than the fast tier allows")
    terminalreporter.write_line(
        f"These took over {SLOW_SECONDS:g} s without the slow marker (machine load counts "
        "too); if they are slow everywhere, add them to MEASURED_SLOW in tests/tiers.py:"
    )
    for seconds, nodeid in reversed(unmarked):
        terminalreporter.write_line(f"  {seconds:6.2f}s  {nodeid}")
