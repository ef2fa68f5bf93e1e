"""Budgets are evaluated from one grouped query per range and basis, not one per budget.

The store's side is counted at its boundary (a recording proxy in front of a
real influxd, a counting wrapper around the SQLite store's database), and the
notifications must be exactly those of the in-memory reader, which answers each
budget with its own ``total``/``breakdown`` (the behaviour before batching).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from costpipe.alerts import AlertEngine
from costpipe.components import ComponentContext
from costpipe.config.settings import BudgetConfig
from costpipe.query.api import CostReader
from costpipe.records import CostRecord, CostSource
from costpipe.sinks.influxdb.config import InfluxDBConfig
from costpipe.sinks.influxdb.writer import InfluxDBSink
from costpipe.sinks.sqlite.reader import SQLiteReader
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
from costpipe.testing import CapturingNotifier, MemorySink
from costpipe.testing.influxd import InfluxdServer
from tests.alerts.conftest import budget, cost, notifier_map, settings
from tests.alerts.counting import CountingDatabase, StatementProxy, statement_proxy

NOV = datetime(2026, 11, 10, tzinfo=UTC)
USERS = ("alice", "bob", "", "carol")
MODELS = ("gpt-4o", "o3")


def spend_rows() -> list[CostRecord]:
    rows = [
        cost(NOV + timedelta(hours=i), f"{7 + i}.125", user=user, item=f"i{i}", model=model)
        for i, (user, model) in enumerate((u, m) for u in USERS for m in MODELS)
    ]
    # Another basis and another month: outside every budget below.
    rows.append(cost(NOV, "900", user="alice", source=CostSource.ESTIMATED))
    rows.append(cost(NOV - timedelta(days=30), "900", user="alice"))
    return rows


def rules(count: int) -> list[BudgetConfig]:
    """*count* monthly billed budgets: ungrouped, grouped, filtered, with (none)."""
    made = []
    for i in range(count):
        shape: dict[str, Any] = [
            {},
            {"group_by": "user_id"},
            {"group_by": "user_id", "include_missing": True},
            {"group_by": "model", "filters": {"user_id": [USERS[i % len(USERS)]]}},
            {"filters": {"model": [MODELS[i % 2]], "user_id": ["alice", "bob"]}},
            {"filters": {"user_id": ["nobody"]}},
        ][i % 6]
        made.append(
            budget(
                name=f"b{i}", amount_usd=10 + i, thresholds=[50, 80, 100], **shape, forecast=True
            )
        )
    return made


async def notifications(reader: CostReader, budgets: list[BudgetConfig], state: Path) -> list[Any]:
    notifier = CapturingNotifier.create("capture.ops")
    engine = AlertEngine(
        settings(*budgets),
        reader,
        notifier_map(notifier),
        state,
        structlog.get_logger("costpipe.alerts"),
        retry_delay=0.01,
    )
    try:
        await engine.evaluate(NOV.replace(day=20), {})
    finally:
        engine.close()
    return sorted((n.id, n.group, n.title, n.summary) for n in notifier.sent)


async def reference(budgets: list[BudgetConfig], state: Path) -> list[Any]:
    memory = MemorySink.create()
    memory.add(*spend_rows())
    return await notifications(memory.reader(), budgets, state)


@pytest.fixture
async def proxy(influxd: InfluxdServer) -> AsyncIterator[StatementProxy]:
    async with statement_proxy(influxd) as server:
        yield server


@pytest.mark.parametrize("count", [1, 24])
async def test_sqlite_budgets_sharing_period_and_basis_cost_one_query(
    tmp_path: Path, count: int
) -> None:
    sink = SQLiteSink(
        SQLiteConfig(path=tmp_path / "c.sqlite"), ComponentContext("sqlite.t", tmp_path)
    )
    await sink.start()
    try:
        await sink.write(spend_rows())
        counting = CountingDatabase(sink.db)
        got = await notifications(SQLiteReader(counting), rules(count), tmp_path / "a")
    finally:
        await sink.close()
    assert counting.reads == 1
    assert got == await reference(rules(count), tmp_path / "b")
    assert got  # the budgets did fire


@pytest.mark.parametrize("count", [1, 24])
async def test_influxdb_budgets_sharing_period_and_basis_cost_one_query(
    proxy: StatementProxy, tmp_path: Path, count: int
) -> None:
    sink = InfluxDBSink(
        InfluxDBConfig(url=proxy.url, database=f"budgets_{count}"),
        ComponentContext("influxdb.t", tmp_path),
    )
    await sink.start()
    try:
        await sink.write(spend_rows())
        proxy.requests.clear()
        got = await notifications(sink.reader(), rules(count), tmp_path / "a")
    finally:
        await sink.close()
    assert len(proxy.requests) == 1
    assert proxy.requests[0].count("SELECT ") == 1
    assert got == await reference(rules(count), tmp_path / "b")
    assert got


async def test_a_rule_on_an_unknown_dimension_fails_alone(tmp_path: Path) -> None:
    sink = SQLiteSink(
        SQLiteConfig(path=tmp_path / "c.sqlite"), ComponentContext("sqlite.t", tmp_path)
    )
    await sink.start()
    try:
        await sink.write(spend_rows())
        broken = budget(name="broken", group_by="no_such_tag")
        with capture_logs() as logs:
            got = await notifications(sink.reader(), [*rules(6), broken], tmp_path / "a")
    finally:
        await sink.close()
    assert got == await reference(rules(6), tmp_path / "b")
    failures = [e for e in logs if e["event"] == "budget_evaluation_failed"]
    assert [e["rule"] for e in failures] == ["broken"]
    assert "unknown dimension" in failures[0]["error"]


async def test_an_unreachable_store_fails_every_rule_and_sends_nothing(tmp_path: Path) -> None:
    sink = InfluxDBSink(
        InfluxDBConfig(url="http://127.0.0.1:9", database="down", retry_base_seconds=0.01),
        ComponentContext("influxdb.down", tmp_path),
    )
    await sink.start()
    try:
        with capture_logs() as logs:
            got = await notifications(sink.reader(), rules(3), tmp_path / "a")
    finally:
        await sink.close()
    assert got == []
    failures = [e["rule"] for e in logs if e["event"] == "budget_evaluation_failed"]
    assert failures == ["b0", "b1", "b2"]


class ShortAnswers:
    """A real reader whose ``spend`` drops its last answer (a buggy plugin store)."""

    def __init__(self, reader: SQLiteReader) -> None:
        self.reader = reader

    async def spend(self, requests: Any) -> Any:
        answers = await self.reader.spend(requests)
        return answers[:-1]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)


async def test_a_reader_that_loses_answers_fails_every_rule_without_stopping_the_pass(
    tmp_path: Path,
) -> None:
    sink = SQLiteSink(
        SQLiteConfig(path=tmp_path / "c.sqlite"), ComponentContext("sqlite.t", tmp_path)
    )
    await sink.start()
    try:
        await sink.write(spend_rows())
        with capture_logs() as logs:
            got = await notifications(ShortAnswers(sink.reader()), rules(6), tmp_path / "a")  # type: ignore[arg-type]
    finally:
        await sink.close()
    # Asked alone, each request gets [] back: the pass goes on, every rule is
    # reported failed and none is evaluated on a wrong answer.
    assert got == []
    failures = [e["rule"] for e in logs if e["event"] == "budget_evaluation_failed"]
    assert failures == [f"b{i}" for i in range(6)]
