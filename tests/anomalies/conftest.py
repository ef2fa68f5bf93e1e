"""Fixtures for the anomaly tests: the alert tests' real SMTP server and webhook
receiver, and a simulator whose history the real pipeline backfills into SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from costpipe.config.settings import Settings, parse_config
from costpipe.engine.passes import PassRunner
from costpipe.engine.wiring import alert_engine_for
from costpipe.plugins import build_plugin_manager
from costpipe.simulator import Simulator, SimulatorOptions
from costpipe.simulator.server import run_simulator
from costpipe.simulator.spikes import Spike
from tests.alerts.conftest import DASHBOARD, receiver, sink, smtp_server

__all__ = [
    "DASHBOARD",
    "NOW",
    "SimulatedStore",
    "day_spike",
    "notifier_tables",
    "receiver",
    "simulated_store",
    "sink",
    "smtp_server",
]

#: A Friday afternoon: the current day has 15 complete hours.
NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
DAY = timedelta(days=1)


def day_spike(dimension: str, value: str, factor: int, day: datetime) -> Spike:
    """*value*'s usage multiplied by *factor* over the UTC day starting at *day*."""
    start = int(day.timestamp())
    return Spike(dimension, value, Fraction(factor), start, start + 86_400, "openai")


@dataclass
class SimulatedStore:
    """The simulator's OpenAI organisation backfilled into SQLite by the real pipeline."""

    simulator: Simulator
    directory: Path

    def settings(self, anomalies: list[dict[str, Any]], notifiers: dict[str, Any]) -> Settings:
        _, registry = build_plugin_manager(entry_points=False)
        document = {
            "pipeline": {"state_dir": str(self.directory / "state"), "chunk": "7d"},
            "providers": {
                "openai": [
                    {
                        "name": "acme",
                        "api_key": self.simulator.openai_admin_key,
                        "base_url": self.simulator.openai_base_url,
                        # What the simulator's organisation uses (it serves no other).
                        "usage_endpoints": ["completions", "embeddings"],
                    }
                ]
            },
            "sinks": {"sqlite": [{"name": "costs", "path": str(self.directory / "costs.sqlite")}]},
            "notifiers": notifiers,
            "dashboard": {"url": DASHBOARD},
            "anomalies": anomalies,
        }
        return parse_config(document, registry, env={})

    async def backfill(self, since: datetime, until: datetime) -> None:
        """The real pipeline fetches ``[since, until)`` from the simulator into SQLite."""
        async with self.runner(self.settings([], {}), lambda: until) as runner:
            await runner.backfill(since, until)

    def runner(self, settings: Settings, clock: Callable[[], datetime]) -> PassRunner:
        """A pass runner with the daemon's alert engine, its clock at ``clock()``."""
        pm, _ = build_plugin_manager(entry_points=False)
        return PassRunner(settings, pm, alerts=alert_engine_for, clock=clock)


def notifier_tables(smtp_port: int, webhook_url: str) -> dict[str, Any]:
    """``[[notifiers.email]]`` ops and ``[[notifiers.webhook]]`` hooks, as TOML tables."""
    return {
        "email": [
            {
                "name": "ops",
                "host": "127.0.0.1",
                "port": smtp_port,
                "starttls": False,
                "from_addr": "costpipe@example.org",
                "to": ["finops@example.org"],
                "timeout": "5s",
            }
        ],
        "webhook": [{"name": "hooks", "url": webhook_url, "format": "json", "timeout": "5s"}],
    }


MakeStore = Callable[..., Awaitable[SimulatedStore]]


@pytest.fixture
async def simulated_store(tmp_path: Path) -> AsyncIterator[MakeStore]:
    """``await simulated_store(spikes=[...], days=30)``: a simulator at :data:`NOW`
    with the spikes, and its last *days* backfilled."""
    simulators: list[Any] = []

    async def make(spikes: list[Spike] | None = None, days: int = 30) -> SimulatedStore:
        context = run_simulator(SimulatorOptions(seed=7, now=NOW))
        simulator = await context.__aenter__()
        simulators.append(context)
        for spike in spikes or []:
            simulator.spikes.add(spike)
        store = SimulatedStore(simulator, tmp_path)
        await store.backfill(NOW - days * DAY, NOW)
        return store

    yield make
    for context in simulators:
        await context.__aexit__(None, None, None)
