"""Session-wide set-up and the fixtures shared by every test area.

* Hypothesis profiles: ``ci`` (derandomized: the same examples on every run)
  when ``CI`` is set, ``dev`` (random) otherwise, ``fast`` (random, a quarter of
  the examples) for a run outside CI that leaves the ``slow`` tests out (the fast
  tier); ``HYPOTHESIS_PROFILE=thorough`` for a long random run on demand.
* The test tiers: ``slow``, ``browser`` and ``influxdb`` markers are applied
  from what each test uses (:mod:`tests.tiers`); the fast tier is
  ``pytest -n 2 --dist loadfile -m "not slow and not browser"``.
* Fixtures: ``free_port``, ``start_simulator`` (a simulator factory),
  ``make_settings`` (a validated config from a TOML text or a dict),
  ``costpipe_cli`` (CLI processes that never outlive their deadline) and the
  session's ``influxd``.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from _pytest.mark.expression import Expression
from hypothesis import settings as hypothesis_settings

from costpipe.components import ComponentRegistry
from costpipe.config.settings import Settings, parse_config
from costpipe.plugins import build_plugin_manager
from costpipe.simulator import Simulator, SimulatorOptions, run_simulator
from costpipe.testing.influxd import InfluxdNotFound, InfluxdServer, find_influxd
from costpipe.testing.network import free_port as find_free_port
from tests.processes import CliProcesses
from tests.tiers import (
    pytest_collection_modifyitems as pytest_collection_modifyitems,
)
from tests.tiers import pytest_runtest_logreport as pytest_runtest_logreport
from tests.tiers import pytest_terminal_summary as pytest_terminal_summary

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Registered here, before any test module is imported, so that every
# ``@settings(...)`` inherits the loaded profile. Each names its parent: Hypothesis
# loads its own "ci" profile when it detects CI, and a profile registered without a
# parent would inherit that one's derandomize=True.
_BASE = hypothesis_settings.get_profile("default")
hypothesis_settings.register_profile("dev", _BASE, print_blob=True)
hypothesis_settings.register_profile(
    "ci", _BASE, derandomize=True, print_blob=True, database=None, deadline=None
)
hypothesis_settings.register_profile(
    "thorough", _BASE, derandomize=False, max_examples=2000, deadline=None, print_blob=True
)
# The fast tier is run many times a day: a quarter of the examples per run, new
# random ones each time (tests that scale their count from the profile's
# max_examples scale down with it). CI and the full suite keep the default.
hypothesis_settings.register_profile(
    "fast", hypothesis_settings.get_profile("dev"), max_examples=_BASE.max_examples // 4
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if IN_CI else "dev"))


def hypothesis_profile(environ: Mapping[str, str], markexpr: str) -> str:
    """The profile a run uses: ``HYPOTHESIS_PROFILE`` if set, else ``ci`` in CI,
    else ``fast`` when the ``-m`` expression leaves out a test marked ``slow``,
    else ``dev``."""
    if environ.get("HYPOTHESIS_PROFILE"):
        return environ["HYPOTHESIS_PROFILE"]
    if environ.get("CI", "").lower() in {"1", "true", "yes"}:
        return "ci"
    if markexpr and not Expression.compile(markexpr).evaluate(lambda name, **_: name == "slow"):
        return "fast"
    return "dev"


def pytest_configure(config: pytest.Config) -> None:
    # Test modules read ``settings.default`` when imported, after this hook.
    hypothesis_settings.load_profile(hypothesis_profile(os.environ, config.option.markexpr))


def influxd_or_skip() -> str:
    """Path of influxd; a missing influxd fails the test in CI and skips it elsewhere."""
    try:
        return find_influxd()
    except InfluxdNotFound as exc:
        if IN_CI:
            pytest.fail(f"{exc} (required in CI)")
        pytest.skip(str(exc))


def chromium_or_skip() -> str:
    """Path of a Chromium to drive headless (Debian's by default, ``COSTPIPE_CHROMIUM``
    to choose another); missing fails the test in CI and skips it elsewhere."""
    candidates = (
        os.environ.get("COSTPIPE_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    )
    for candidate in candidates:
        if candidate and os.path.exists(candidate):
            return candidate
    message = "no Chromium found (apt-get install chromium, or set COSTPIPE_CHROMIUM)"
    if IN_CI:
        pytest.fail(f"{message} (required in CI)")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _structlog_defaults_after_each_test() -> Iterator[None]:
    """Running the CLI in-process (``cli.main``, as the export tests do) configures
    structlog for the whole process: its level filter, renderer and stream. Put
    the defaults back after every test, so a later test's ``capture_logs`` sees
    every event whatever ran before it."""
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxdServer]:
    """A throw-away influxd on free loopback ports for the whole session.

    Tests share it: give each test its own database. Tests that stop the server
    must start their own :class:`InfluxdServer` instead.
    """
    server = InfluxdServer(Path(tmp_path_factory.mktemp("influxd")), influxd_or_skip())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on (refused connections; or bind it yourself)."""
    return find_free_port()


StartSimulator = Callable[..., Awaitable[Simulator]]


@pytest.fixture
async def start_simulator() -> AsyncIterator[StartSimulator]:
    """Start simulators on free loopback ports; all stop at teardown.

    ``await start_simulator(seed=7, now=NOW, users=2, faults=FaultOptions(...))``
    takes :class:`~costpipe.simulator.SimulatorOptions` fields as keywords.
    """
    async with AsyncExitStack() as stack:

        async def start(seed: int = 7, now: datetime | None = None, **options: Any) -> Simulator:
            return await stack.enter_async_context(
                run_simulator(SimulatorOptions(seed=seed, now=now, **options))
            )

        yield start


@pytest.fixture(scope="session")
def builtin_registry() -> ComponentRegistry:
    """The built-in components only (no entry points, no plugin folders)."""
    return build_plugin_manager(entry_points=False)[1]


MakeSettings = Callable[..., Settings]


@pytest.fixture
def make_settings(builtin_registry: ComponentRegistry, tmp_path: Path) -> MakeSettings:
    """Validated :class:`Settings` from a TOML text or an already-parsed dict.

    ``[pipeline] state_dir`` defaults to the test's ``tmp_path``; ``env`` fills
    ``${VAR}`` references (none from the real environment); ``registry`` swaps
    in test components.
    """

    def build(
        document: str | Mapping[str, Any] = "",
        *,
        env: Mapping[str, str] | None = None,
        registry: ComponentRegistry | None = None,
    ) -> Settings:
        data = tomllib.loads(document) if isinstance(document, str) else dict(document)
        pipeline = {"state_dir": str(tmp_path / "state"), **data.get("pipeline", {})}
        return parse_config(
            {**data, "pipeline": pipeline}, registry or builtin_registry, env=dict(env or {})
        )

    return build


@pytest.fixture
async def costpipe_cli() -> AsyncIterator[CliProcesses]:
    """Run or start ``python -m costpipe``; every started process is stopped at
    teardown (SIGTERM, SIGKILL after a grace period) and ``run`` kills a process
    past its ``limit``: a hung daemon fails its test instead of the suite."""
    processes = CliProcesses(env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield processes
    finally:
        await processes.stop_all()
