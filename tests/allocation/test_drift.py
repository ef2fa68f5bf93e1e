"""The drift alert on the simulator: a bill 10 % above the estimate of one model
fires once per provider and closed day, through a real webhook; 2 % does not."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costpipe.config.settings import Settings
from costpipe.engine.passes import PassRunner
from costpipe.engine.wiring import alert_engine_for
from costpipe.plugins import build_plugin_manager
from costpipe.simulator import Simulator, SimulatorOptions
from costpipe.simulator.server import run_simulator
from tests.alerts.conftest import WebhookReceiver
from tests.allocation.conftest import NOW, settings_for

pytestmark = pytest.mark.slow

DAY = timedelta(days=1)
GPT_4O = "gpt-4o-2024-08-06"
# The simulator's list prices (costpipe.simulator.catalog) for the models and
# tiers the bundled table does not price, so that only the marked-up model drifts.
MATCHING_PRICES = [
    {"provider": "openai", "model": "gpt-9-experimental", "input": "5.00", "output": "20.00",
     "cached_input": "2.50", "name": "sim"},
    {"provider": "openai", "model": "gpt-4o-mini-2024-07-18", "tier": "flex", "input": "0.075",
     "output": "0.30", "cached_input": "0.0375", "name": "sim"},
]  # fmt: skip


def marked_down(factor: str) -> list[dict[str, Any]]:
    """gpt-4o priced at the simulator's price / *factor*: the bill is *factor* times
    the estimate (standard and batch tiers)."""
    f = Decimal(factor)
    tiers = {"": ("2.50", "10.00", "1.25"), "batch": ("1.25", "5.00", "1.25")}
    return [
        {
            "provider": "openai",
            "model": GPT_4O,
            "tier": tier,
            "input": str(Decimal(i) / f),
            "output": str(Decimal(o) / f),
            "cached_input": str(Decimal(c) / f),
            "name": "stale",
        }
        for tier, (i, o, c) in tiers.items()
    ]


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with run_simulator(SimulatorOptions(seed=7, now=NOW)) as sim:
        yield sim


@pytest.fixture
async def hooks() -> AsyncIterator[WebhookReceiver]:
    server = WebhookReceiver()
    await server.start()
    yield server
    await server.stop()


def drift_settings(sim: Simulator, tmp_path: Path, url: str, factor: str) -> Settings:
    return settings_for(
        sim,
        {"sqlite": [{"name": "costs", "path": str(tmp_path / "costs.sqlite")}]},
        tmp_path / "state",
        prices=[*MATCHING_PRICES, *marked_down(factor)],
        alerts={"drift_tolerance": "5", "drift_notify": ["hooks"]},
        notifiers={"webhook": [{"name": "hooks", "url": url, "format": "json", "timeout": "5s"}]},
        only="openai",
    )


async def passes(settings: Settings, count: int) -> None:
    """A backfill of the last three days, then *count* scheduled passes, each
    evaluating the alerts and delivering them."""
    pm, _ = build_plugin_manager(entry_points=False)
    async with PassRunner(settings, pm, alerts=alert_engine_for, clock=lambda: NOW) as runner:
        await runner.backfill(NOW.replace(hour=0) - 3 * DAY, NOW)
        for _ in range(count):
            await runner.scheduled_pass()
            assert await runner.deliver_pending_alerts()


async def test_a_bill_ten_percent_above_one_models_estimate_fires_once_per_day(
    simulator: Simulator, hooks: WebhookReceiver, tmp_path: Path
) -> None:
    await passes(drift_settings(simulator, tmp_path, hooks.url, "1.1"), count=2)
    bodies = [json.loads(r.body) for r in hooks.requests]
    assert [b["kind"] for b in bodies] == ["drift"] * len(bodies)
    days = sorted(b["details"]["day"] for b in bodies)
    # One per closed day of the lookback, however many passes saw it.
    assert len(days) == len(set(days)) >= 1
    assert (NOW - DAY).date().isoformat() in days
    assert NOW.date().isoformat() not in days
    for body in bodies:
        assert body["details"]["models"] == GPT_4O
        assert body["details"]["provider"] == "openai"


async def test_a_bill_within_tolerance_fires_nothing(
    simulator: Simulator, hooks: WebhookReceiver, tmp_path: Path
) -> None:
    await passes(drift_settings(simulator, tmp_path, hooks.url, "1.02"), count=1)
    assert [] == [json.loads(r.body)["kind"] for r in hooks.requests]
