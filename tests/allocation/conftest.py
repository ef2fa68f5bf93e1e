"""A simulator with 30 days of OpenAI and Anthropic data, backfilled by the real
pipeline into SQLite or InfluxDB (allocation runs at the end of the backfill)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from costpipe.allocation.runner import AllocationRun, RowStore
from costpipe.config.settings import Settings, parse_config
from costpipe.engine.passes import PassRunner
from costpipe.plugins import build_plugin_manager
from costpipe.query.api import CostReader
from costpipe.simulator import Simulator, SimulatorOptions
from costpipe.simulator.server import run_simulator
from costpipe.testing.influxd import InfluxdServer

#: 03:00 UTC: yesterday's bill is in (the cost APIs' daily bucket ended), today's is not;
#: a revision (6 hours back) reaches into yesterday.
NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
DAY = timedelta(days=1)
START = NOW.replace(hour=0) - 30 * DAY
_databases = itertools.count()


@dataclass
class Simulated:
    """The simulator and a configured store holding its last 30 days."""

    simulator: Simulator
    settings: Settings

    def runner(self) -> PassRunner:
        pm, _ = build_plugin_manager(entry_points=False)
        return PassRunner(self.settings, pm, clock=lambda: NOW)

    async def backfill(self, since: datetime = START, until: datetime = NOW) -> AllocationRun:
        """The real pipeline over ``[since, until)``; what its allocation did."""
        async with self.runner() as runner:
            await runner.backfill(since, until)
            assert runner.last_allocation is not None
            return runner.last_allocation

    async def read(self, work: Callable[[CostReader], Any]) -> Any:
        """Run ``await work(reader)`` against the store, opened for the call."""
        async with self.runner() as runner:
            reader = runner.runtime.sinks[0].reader()
            assert isinstance(reader, CostReader)
            assert isinstance(reader, RowStore)
            return await work(reader)


def settings_for(
    sim: Simulator, sink: dict[str, Any], state: Path, only: str | None = None, **extra: Any
) -> Settings:
    """Both providers of *sim* (or the *only* one) into *sink*, with *extra* tables."""
    _, registry = build_plugin_manager(entry_points=False)
    document = {
        "pipeline": {"state_dir": str(state), "chunk": "10d"},
        "providers": {
            "openai": [
                {
                    "name": "acme",
                    "api_key": sim.openai_admin_key,
                    "base_url": sim.openai_base_url,
                    "usage_endpoints": ["completions", "embeddings"],
                }
            ],
            "anthropic": [
                {
                    "name": "acme",
                    "api_key": sim.anthropic_admin_key,
                    "base_url": sim.anthropic_base_url,
                }
            ],
        },
        "sinks": sink,
        **extra,
    }
    if only is not None:
        document["providers"] = {only: document["providers"][only]}
    return parse_config(document, registry, env={})


@pytest.fixture(scope="module", params=["sqlite", "influxdb"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def sink_table(store_kind: str, directory: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    if store_kind == "sqlite":
        return {"sqlite": [{"name": "costs", "path": str(directory / "costs.sqlite")}]}
    server: InfluxdServer = request.getfixturevalue("influxd")
    database = f"alloc_{next(_databases)}"
    return {"influxdb": [{"name": "costs", "url": server.url, "database": database}]}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def simulated(
    store_kind: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Simulated]:
    """30 days of both providers backfilled into the store under test, shared by
    the tests of one module (they run on the module's event loop; a test that
    changes the data comes last in its module)."""
    directory = tmp_path_factory.mktemp(f"alloc-{store_kind}")
    async with run_simulator(SimulatorOptions(seed=7, now=NOW)) as simulator:
        sinks = sink_table(store_kind, directory, request)
        store = Simulated(simulator, settings_for(simulator, sinks, directory / "state"))
        await store.backfill()
        yield store
