"""The commands and budgets over allocated data, in SQLite and InfluxDB:
``costpipe reconcile`` prints what the store holds, budgets read every basis,
``costpipe reprice`` re-allocates the days it repriced."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog

from costpipe.alerts.engine import AlertEngine
from costpipe.allocation.cells import UNATTRIBUTED, nanos
from costpipe.allocation.runner import RowStore
from costpipe.cli_reprice import after_reprice, reprice_store
from costpipe.components import Sink
from costpipe.config.settings import BudgetConfig, Settings
from costpipe.engine.runtime import build_component
from costpipe.pricing.prices import PriceTable
from costpipe.query.api import Basis, CostQuery, CostReader
from costpipe.records import Window
from costpipe.simulator import Simulator, SimulatorOptions
from costpipe.simulator.server import run_simulator
from costpipe.testing.memory import CapturingNotifier
from tests.allocation.conftest import NOW, Simulated, settings_for, sink_table
from tests.processes import CliProcesses

pytestmark = pytest.mark.slow

DAY = timedelta(days=1)
SINCE = NOW.replace(hour=0) - 3 * DAY
UNPRICED = "gpt-9-experimental"


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    async with run_simulator(SimulatorOptions(seed=7, now=NOW)) as sim:
        yield sim


@pytest.fixture
async def three_days(
    simulator: Simulator, store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Simulated:
    """The last three days of both providers, backfilled and allocated."""
    sinks = sink_table(store_kind, tmp_path, request)
    store = Simulated(simulator, settings_for(simulator, sinks, tmp_path / "state"))
    await store.backfill(SINCE, NOW)
    return store


def toml_config(store: Simulated, path: Path) -> Path:
    """The store as a config file (the commands need no provider)."""
    lines = ["[pipeline]", f'state_dir = "{path.parent / "cli-state"}"', ""]
    for spec in store.settings.sinks:
        plugin, name = spec.instance.split(".", 1)
        lines += [f"[[sinks.{plugin}]]", f'name = "{name}"']
        for key, value in spec.config.model_dump(include={"path", "url", "database"}).items():
            lines.append(f'{key} = "{value}"')
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_reconcile_prints_what_the_store_holds(
    three_days: Simulated, costpipe_cli: CliProcesses, tmp_path: Path
) -> None:
    config = toml_config(three_days, tmp_path / "config.toml")
    args = ("--since", SINCE.date().isoformat(), "--until", NOW.isoformat(), "--by", "model")
    done = await costpipe_cli.run(config, "reconcile", *args, "--format", "json")
    assert done.code == 0, done.err
    rows = json.loads(done.out)
    assert len(rows) > 40

    async def check(reader: CostReader) -> None:
        for row in rows:
            day = datetime.fromisoformat(row["day"]).replace(tzinfo=UTC)
            filters = {"provider": (row["provider"],), "model": (row["group"],)}
            for basis, field in ((Basis.BILLED, "billed_usd"), (Basis.ESTIMATED, "estimated_usd")):
                expected = await reader.total(CostQuery(day, min(day + DAY, NOW), basis, filters))
                assert expected == Decimal(row[field]), (row, basis)
            assert Decimal(row["difference_usd"]) == Decimal(row["billed_usd"]) - Decimal(
                row["estimated_usd"]
            )

    await three_days.read(check)
    flagged = {(r["provider"], r["group"]) for r in rows if r["flagged"]}
    # A model without a price is all drift; gpt-4o is priced at the simulator's list price.
    assert ("openai", UNPRICED) in flagged
    assert ("openai", "gpt-4o-2024-08-06") not in flagged
    table = await costpipe_cli.run(config, "reconcile", *args, "--tolerance", "200")
    assert table.code == 0, table.err
    assert table.out.splitlines()[-1].endswith(" 0 beyond 200 %")


@pytest.mark.parametrize("basis", ["billed", "estimated", "allocated", "best"])
async def test_budgets_read_every_basis(three_days: Simulated, basis: str, tmp_path: Path) -> None:
    """A budget on each basis notifies with that basis's month-to-date spend."""
    rule = BudgetConfig.model_validate(
        {"name": f"all-{basis}", "amount_usd": 1, "thresholds": [100], "notify": ["capture"]}
        | ({} if basis == "best" else {"cost_basis": basis})
    )
    assert basis == rule.cost_basis
    settings: Settings = three_days.settings
    settings.budgets = [rule]
    notifier = CapturingNotifier.create("capture.test")

    async def evaluate(reader: CostReader) -> Decimal:
        log = structlog.get_logger("test")
        engine = AlertEngine(settings, reader, {"capture": notifier}, tmp_path / "alerts", log)
        try:
            await engine.evaluate(NOW, {})
        finally:
            engine.close()
        return await reader.total(CostQuery(NOW.replace(day=1, hour=0), NOW, Basis(basis)))

    spent = await three_days.read(evaluate)
    assert spent > 0
    assert [spent] == [n.spend_usd for n in notifier.sent]


async def test_reprice_reallocates_the_days_it_repriced(three_days: Simulated) -> None:
    """An unpriced model's cells are unattributed; once a price exists, reprice
    gives its money to its users, and every cell still adds up to its bill."""
    settings = three_days.settings
    spec = settings.sinks[0]
    sink: Any = build_component(settings, spec)
    assert isinstance(sink, Sink)
    await sink.start()
    try:
        reader = sink.reader()
        assert isinstance(reader, RowStore)
        span = CostQuery(SINCE, NOW, Basis.ALLOCATED, {"model": (UNPRICED,)})
        before = await reader.stored_rows(span)
        assert {UNATTRIBUTED} == {r.user_id for r in before}
        billed = await reader.stored_rows(
            CostQuery(SINCE, NOW, Basis.BILLED, {"model": (UNPRICED,)})
        )
        price = {"provider": "openai", "model": UNPRICED, "input": "5", "output": "20", "name": "t"}
        from costpipe.pricing.config import PriceConfig

        table = PriceTable.bundled().with_overrides([PriceConfig.model_validate(price)])
        result = await reprice_store(reader, sink, table, Window(SINCE, NOW), ("openai",))
        assert result.touched
        await after_reprice(settings, reader, sink, result)
        after = [r for r in await reader.stored_rows(span) if nanos(r.cost_usd)]
        assert UNATTRIBUTED not in {r.user_id for r in after}
        assert sum(nanos(r.cost_usd) for r in billed) == sum(nanos(r.cost_usd) for r in after)
    finally:
        await sink.close()
