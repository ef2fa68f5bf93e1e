"""The Grafana dashboard: generated from code, and every panel's query, as Grafana
sends it (:mod:`tests.export.grafana_emulation`), answered by a real influxd
holding the simulator's data with the figures costpipe's query layer gives."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from costpipe.alerts.periods import period_at
from costpipe.alerts.spend import budget_request
from costpipe.config.sections import BudgetConfig
from costpipe.export.grafana import queries
from costpipe.export.grafana.__main__ import main as grafana_main
from costpipe.export.grafana.__main__ import read_config
from costpipe.export.grafana.dashboard import dashboard_json
from costpipe.query.api import Basis, CostQuery, CostReader, Granularity
from costpipe.records import TEXT_DIMENSIONS
from costpipe.sinks.influxdb.encoder import MEASUREMENT
from tests.export import grafana_emulation as grafana
from tests.export.conftest import Stores, open_sink

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "dashboards" / "grafana" / "costpipe.json"
NANO = Decimal("1e-9")
T = TypeVar("T")
ALL = {"provider": grafana.ALL, "model": grafana.ALL, "project": grafana.ALL, "user": grafana.ALL}


def test_the_committed_dashboard_is_what_the_generator_builds() -> None:
    budgets, timezone = read_config(ROOT / "config.toml")
    assert budgets  # the sample config's budget has a panel
    assert COMMITTED.read_text(encoding="utf-8") == dashboard_json(budgets, timezone)
    assert 0 == grafana_main(["--config", str(ROOT / "config.toml"), "--check", str(COMMITTED)])


def test_the_queries_read_the_sinks_measurement() -> None:
    assert queries.MEASUREMENT == MEASUREMENT


def with_reader(stores: Stores, work: Callable[[CostReader], Awaitable[T]]) -> T:
    async def run() -> T:
        sink = open_sink(stores, "influxdb")
        await sink.start()
        try:
            reader = sink.reader()
            assert reader is not None
            return await work(reader)
        finally:
            await sink.close()

    return asyncio.run(run())


def dollars(value: Any) -> Decimal:
    """A panel's float dollars back to the nanodollar (exact below 9 million USD)."""
    return Decimal(repr(float(value))).quantize(NANO) if value is not None else Decimal(0)


def panel_query(title_start: str, path: Path = COMMITTED) -> str:
    (panel,) = [p for t, p in grafana.panels(path).items() if t.startswith(title_start)]
    (target,) = panel["targets"]
    query: str = target["query"]
    return query


def ask(stores: Stores, query: str, **values: Any) -> list[dict[str, Any]]:
    start = values.pop("start", stores.since)
    end = values.pop("end", stores.until)
    statement = grafana.interpolate(query, start, end, {**ALL, "tz": "UTC", **values})
    return grafana.run(stores.influx_url, stores.database, statement)


@pytest.mark.parametrize("basis", [b.value for b in Basis if b.stored])
def test_total_panel(stores: Stores, basis: str) -> None:
    series = ask(stores, panel_query("Total spend"), basis=basis)
    shown = dollars(series[0]["values"][0][1]) if series else Decimal(0)
    query = CostQuery(stores.since, stores.until, Basis(basis))
    expected = with_reader(stores, lambda r: r.total(query))
    assert expected > 0
    assert shown == expected


def test_total_panel_with_filters_chosen_from_the_variables(stores: Stores) -> None:
    """Values as the variables' own queries list them (hostile names included)."""
    options = {}
    for name, variable in grafana.variables(COMMITTED).items():
        if variable["type"] == "query":
            (found,) = grafana.run(stores.influx_url, stores.database, variable["query"])
            options[name] = [value for _, value in found["values"]]
    hostile = [m for m in options["model"] if '"' in m or "\\" in m]
    assert hostile
    chosen = {"provider": ["openai", "anthropic"], "model": hostile}
    series = ask(stores, panel_query("Total spend"), basis="estimated", **chosen)
    shown = dollars(series[0]["values"][0][1]) if series else Decimal(0)
    filters = {"provider": ("openai", "anthropic"), "model": tuple(hostile)}
    query = CostQuery(stores.since, stores.until, Basis.ESTIMATED, filters)
    expected = with_reader(stores, lambda r: r.total(query))
    assert expected > 0
    assert shown == expected


@pytest.mark.parametrize("dimension", TEXT_DIMENSIONS)
def test_by_dimension_panel(stores: Stores, dimension: str) -> None:
    series = ask(stores, panel_query("Spend by"), basis="billed", dimension=dimension)
    shown = {s["tags"][dimension]: dollars(s["values"][0][1]) for s in series}
    query = CostQuery(stores.since, stores.until, Basis.BILLED)
    expected = with_reader(stores, lambda r: r.breakdown(query, dimension))
    assert shown == {b.group: b.cost_usd for b in expected}


@pytest.mark.parametrize(
    ("granularity", "zone"), [("1d", "UTC"), ("1d", "America/New_York"), ("1h", "UTC")]
)
def test_trend_panel(stores: Stores, granularity: str, zone: str) -> None:
    series = ask(
        stores, panel_query("Spend per"), basis="estimated", granularity=granularity, tz=zone
    )
    shown = {
        (grafana.from_millis(stamp), dollars(value))
        for item in series
        for stamp, value in item["values"]
        if value is not None
    }
    step = Granularity.DAY if granularity == "1d" else Granularity.HOUR
    query = CostQuery(stores.since, stores.until, Basis.ESTIMATED)
    expected = with_reader(stores, lambda r: r.series(query, step, zone))
    assert len(expected) > 5
    assert shown == {(p.start.astimezone(UTC), p.cost_usd) for p in expected}


def test_unpriced_usage_panel(stores: Stores) -> None:
    (panel,) = [p for t, p in grafana.panels(COMMITTED).items() if t.startswith("Unpriced")]
    (transform,) = panel["transformations"]
    token_columns = transform["options"]["reduce"]["include"]
    series = ask(stores, panel["targets"][0]["query"])
    shown = {}
    for item in series:
        row = dict(zip(item["columns"], item["values"][0], strict=True))
        tokens = sum(int(row[c] or 0) for c in token_columns)  # Grafana's row sum skips nulls
        units = sum(int(v or 0) for c, v in row.items() if c not in token_columns and c != "time")
        if tokens or units:
            shown[item["tags"]["model"]] = tokens
    query = CostQuery(stores.since, stores.until, Basis.ESTIMATED)
    expected = with_reader(stores, lambda r: r.unpriced_usage(query))
    assert expected
    assert shown == expected


def test_freshness_panel(stores: Stores) -> None:
    series = ask(stores, panel_query("Latest stored bucket"))
    shown = {
        (s["tags"]["provider"], s["tags"]["account"]): grafana.from_millis(s["values"][0][0])
        for s in series
    }
    with sqlite3.connect(stores.sqlite) as conn:
        rows = conn.execute(
            "SELECT provider, account, max(ts) FROM costs WHERE ts >= ? AND ts < ? GROUP BY 1, 2",
            (grafana.millis(stores.since) * 1000, grafana.millis(stores.until) * 1000),
        ).fetchall()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert shown == {(p, a): epoch + timedelta(microseconds=ts) for p, a, ts in rows}


def budget_figures(stores: Stores, budget: BudgetConfig, path: Path) -> None:
    """A budget panel's spend over its period so far equals what the alert engine asks."""
    now = stores.until - timedelta(milliseconds=1)
    period = period_at(budget.period, now, "UTC", budget.week_start)
    series = ask(stores, panel_query(f"{budget.name}:", path), start=period.start, end=stores.until)
    tag = budget.group_by
    shown = {
        (s.get("tags") or {}).get(tag, "") if tag else "": dollars(s["values"][0][1])
        for s in series
    }
    request = budget_request(budget, period)
    (expected,) = with_reader(stores, lambda r: r.spend([request]))  # type: ignore[attr-defined]
    assert sum(expected.values()) > 0
    assert shown == {group: cost for group, cost in expected.items() if cost or group in shown}


def test_budget_panel_of_the_committed_dashboard(stores: Stores) -> None:
    budgets, _ = read_config(ROOT / "config.toml")
    budget_figures(stores, budgets[0], COMMITTED)


@pytest.mark.parametrize(
    "budget",
    [
        BudgetConfig(
            name="openai-weekly",
            amount_usd=Decimal(50),
            period="week",
            cost_basis="estimated",
            filters={"provider": ["openai"]},
        ),
        BudgetConfig(
            name="per-project",
            amount_usd=Decimal(20),
            period="month",
            cost_basis="billed",
            group_by="project_id",
            thresholds=[50, 90],
        ),
    ],
    ids=lambda b: b.name,
)
def test_budget_panels_with_filters_and_groups(
    stores: Stores, budget: BudgetConfig, tmp_path: Path
) -> None:
    path = tmp_path / "dashboard.json"
    path.write_text(dashboard_json([budget]), encoding="utf-8")
    (panel,) = [p for t, p in grafana.panels(path).items() if t.startswith(budget.name)]
    assert panel["fieldConfig"]["defaults"]["max"] == float(budget.amount_usd)
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps[1:]] == [
        float(budget.amount_usd) * t / 100 for t in budget.thresholds
    ]
    budget_figures(stores, budget, path)
