"""``CachingReader``: each distinct question reaches the store once per ``max_age``.

Counted at the store's boundary (a recording proxy in front of a real influxd),
and every answer compared with the plain reader's on the same store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from costpipe.alerts.periods import period_at
from costpipe.alerts.spend import budget_request
from costpipe.components import ComponentContext
from costpipe.config.settings import BudgetConfig
from costpipe.dashboard.viewmodel import Selection, compute_view
from costpipe.query.api import OTHER, Basis, CostQuery, CostReader, Granularity
from costpipe.query.cache import CachingReader, fold_top
from costpipe.records import CostRecord, CostSource
from costpipe.sinks.influxdb.config import InfluxDBConfig
from costpipe.sinks.influxdb.writer import InfluxDBSink
from costpipe.sinks.sqlite.store import SQLiteSink
from costpipe.testing.influxd import InfluxdServer
from costpipe.testing.memory import MemoryReader
from costpipe.testing.sink_contract import T0, contract_record
from tests.alerts.counting import StatementProxy, statement_proxy

NOW = T0 + timedelta(days=3, hours=5)
WIDE = CostQuery(T0 - timedelta(days=40), NOW, Basis.ESTIMATED)


def rows() -> list[CostRecord]:
    made = []
    for i in range(60):
        made.append(
            contract_record(
                start=T0 + timedelta(hours=i),
                model=f"m{i % 11}",
                project_id=f"p{i % 4}",
                user_id=("", "alice", "bob")[i % 3],
                cost_usd=Decimal(f"{i % 11}.5") if i % 11 != 7 else Decimal("4.5"),  # ties
                cost_source=CostSource.ESTIMATED,
                line_item=f"l{i}",
            )
        )
    return made


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def proxy(influxd: InfluxdServer) -> AsyncIterator[StatementProxy]:
    async with statement_proxy(influxd) as server:
        yield server


@pytest.fixture
async def influx(proxy: StatementProxy, tmp_path: Path) -> AsyncIterator[InfluxDBSink]:
    sink = InfluxDBSink(
        InfluxDBConfig(url=proxy.url, database=f"cache_{id(proxy)}"),
        ComponentContext("influxdb.cache", tmp_path),
    )
    await sink.start()
    await sink.write(rows())
    yield sink
    await sink.close()


def statements(proxy: StatementProxy) -> list[str]:
    return [s for request in proxy.requests for s in request.split(";SELECT ")]


async def test_a_group_by_change_asks_only_the_changed_statements(
    influx: InfluxDBSink, proxy: StatementProxy
) -> None:
    plain = influx.reader()
    cached = CachingReader(plain, max_age=60, clock=Clock())
    by_model = Selection(group_by="model", basis=Basis.ESTIMATED)
    by_project = Selection(group_by="project_id", basis=Basis.ESTIMATED)
    first = await compute_view(cached, by_model, now=NOW, timezone="Europe/Berlin")
    assert first == await compute_view(plain, by_model, now=NOW, timezone="Europe/Berlin")
    proxy.requests.clear()
    second = await compute_view(cached, by_project, now=NOW, timezone="Europe/Berlin")
    asked = statements(proxy)
    # Only the series by project: the totals, unpriced usage and the breakdown by
    # project (asked for the project filter's options in the first view) are kept.
    assert len(asked) == 1, asked
    assert 'GROUP BY time(1d), "project_id"' in asked[0]
    proxy.requests.clear()
    assert second == await compute_view(plain, by_project, now=NOW, timezone="Europe/Berlin")
    assert len(statements(proxy)) > 2


async def test_identical_calls_in_flight_are_one_statement(
    influx: InfluxDBSink, proxy: StatementProxy
) -> None:
    cached = CachingReader(influx.reader(), max_age=60, clock=Clock())
    proxy.requests.clear()
    answers = await asyncio.gather(*(cached.total(WIDE) for _ in range(5)))
    assert len(set(answers)) == 1
    assert answers[0] > 0
    assert len(proxy.requests) == 1


async def test_answers_are_asked_again_after_max_age(
    influx: InfluxDBSink, proxy: StatementProxy
) -> None:
    clock = Clock()
    cached = CachingReader(influx.reader(), max_age=30, clock=clock)
    before = await cached.total(WIDE)
    await influx.write(
        [contract_record(start=T0, line_item="late", cost_source=CostSource.ESTIMATED)]
    )
    proxy.requests.clear()
    clock.now += 30
    assert await cached.total(WIDE) == before  # still within max_age
    assert proxy.requests == []
    clock.now += 0.001
    assert await cached.total(WIDE) == before + Decimal("1.25")
    assert len(proxy.requests) == 1


async def test_a_failed_answer_is_not_kept() -> None:
    data = rows()
    cached = CachingReader(MemoryReader(lambda: data), max_age=60, clock=Clock())
    with pytest.raises(ValueError, match="unknown dimension"):
        await cached.breakdown(WIDE, "team")
    data.append(
        contract_record(start=T0, cost_source=CostSource.ESTIMATED).with_tags({"team": "a"})
    )
    assert [row.group for row in await cached.breakdown(WIDE, "team")] == ["", "a"]


@pytest.mark.parametrize("top", [0, 1, 3, 7, 10, 11, 12, None])
async def test_fold_top_is_what_each_store_returns(
    influx: InfluxDBSink, sqlite_sink: SQLiteSink, top: int | None
) -> None:
    await sqlite_sink.write(rows())
    for reader in (influx.reader(), sqlite_sink.reader(), MemoryReader(rows)):
        full = await reader.breakdown(WIDE, "model")
        expected = await reader.breakdown(WIDE, "model", top=top)
        assert [(r.group, str(r.cost_usd)) for r in fold_top(full, top)] == [
            (r.group, str(r.cost_usd)) for r in expected
        ]
    assert any(r.group == OTHER for r in fold_top(full, 3))


async def test_series_and_unpriced_pass_through(influx: InfluxDBSink) -> None:
    plain = influx.reader()
    cached = CachingReader(plain, max_age=60, clock=Clock())
    assert await cached.series(WIDE, Granularity.HOUR, "Europe/Berlin", by="user_id") == (
        await plain.series(WIDE, Granularity.HOUR, "Europe/Berlin", by="user_id")
    )
    assert await cached.unpriced_usage(WIDE) == await plain.unpriced_usage(WIDE)
    assert await cached.tag_names() == await plain.tag_names()


async def test_a_view_asks_each_distinct_statement_once_and_budgets_in_one(
    influx: InfluxDBSink, proxy: StatementProxy
) -> None:
    reader = influx.reader()
    rules = [
        BudgetConfig.model_validate(
            {
                "name": f"b{i}",
                "amount_usd": 10 + i,
                "period": "month",
                "cost_basis": "estimated",
                **shape,
            }
        )
        for i, shape in enumerate(
            [
                {},
                {"group_by": "model"},
                {"filters": {"project_id": ["p1"]}},
                {"group_by": "user_id"},
            ]
        )
    ]
    await reader.tag_names()
    proxy.requests.clear()
    view = await compute_view(
        reader,
        Selection(group_by="model", basis=Basis.ESTIMATED),
        now=NOW,
        timezone="Europe/Berlin",
        budgets=rules,
    )
    asked = statements(proxy)
    assert len(asked) == len(set(asked)), asked
    # tag keys, total, previous total, the model breakdown (bars, table, model
    # options), series, unpriced, provider, project, user, API key and line-item
    # options, and one grouped statement for the four budgets (one period, one basis).
    assert len(asked) == 12, asked
    for rule, card in zip(rules, view.budgets, strict=True):
        query = budget_request(rule, period_at(rule.period, NOW, "Europe/Berlin")).query
        assert card.spend > 0
        if rule.group_by is None:
            assert (card.spend, card.group) == (await reader.total(query), None)
        else:
            first = (await reader.breakdown(query, rule.group_by))[0]
            assert (card.spend, card.group) == (first.cost_usd, first.group)


async def test_a_dashboard_session_reuses_its_snapshot_for_a_minute(
    influx: InfluxDBSink, proxy: StatementProxy
) -> None:
    pytest.importorskip("panel")
    from costpipe.dashboard.app import SNAPSHOT_MAX_AGE, Dashboard, DashboardOptions

    reader = influx.reader()
    clock = [NOW]

    async def source() -> CostReader:
        return reader

    options = DashboardOptions(
        timezone="Europe/Berlin", initial=Selection(group_by="model", basis=Basis.ESTIMATED)
    )
    page = Dashboard(source, options, clock=lambda: clock[0])
    await page.refresh()
    first = page.view
    assert first is not None
    assert first.total > 0
    proxy.requests.clear()
    clock[0] += SNAPSHOT_MAX_AGE - timedelta(seconds=1)
    await page.refresh()
    assert proxy.requests == []  # the same instant: every answer is cached
    assert page.view is not None
    assert page.view.now == first.now
    clock[0] += timedelta(seconds=2)
    await page.refresh()
    assert page.view.now == clock[0]  # a new snapshot, asked afresh
    assert len(statements(proxy)) >= 6
