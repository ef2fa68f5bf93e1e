"""Grouped spend queries (``GroupedReader.spend``) against the real stores.

Every answer of a batch must equal what ``total`` / ``breakdown`` return for the
same request on the same store, including awkward tag values that InfluxDB
stores rewritten, enricher tags, filters on missing values and empty filters.
The number of statements a batch costs is counted at the store's boundary: a
recording proxy in front of influxd, a counting wrapper around SQLite's reads.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from costpipe.components import ComponentContext
from costpipe.query.api import Basis, CostQuery, CostReader, GroupedReader, SpendRequest
from costpipe.query.grouped import request_key, spend
from costpipe.records import CostRecord, CostSource
from costpipe.sinks.influxdb.config import InfluxDBConfig
from costpipe.sinks.influxdb.writer import InfluxDBSink
from costpipe.sinks.sqlite.reader import SQLiteReader
from costpipe.sinks.sqlite.store import SQLiteSink
from costpipe.testing.influxd import InfluxdServer
from costpipe.testing.memory import MemoryReader
from costpipe.testing.sink_contract import T0, contract_record
from tests.alerts.counting import CountingDatabase, StatementProxy, statement_proxy
from tests.storage.conftest import InfluxFactory

T = TypeVar("T")
DAY = timedelta(days=1)
AWKWARD = ("ends\\", "semi;colon", 'quote\'s "x"', "line\nbreak", "x" * 300, "ünï", "")


def records() -> list[CostRecord]:
    """Rows over two days and both bases, with awkward values in several dimensions."""
    rows: list[CostRecord] = []
    for i, (model, project, user) in enumerate(
        itertools.product(("gpt-4o", "o3", AWKWARD[0]), AWKWARD, ("alice", "", AWKWARD[3]))
    ):
        record = contract_record(
            start=T0 + timedelta(hours=i % 40),
            model=model,
            project_id=project,
            user_id=user,
            cost_usd=Decimal(f"{i}.000000{i % 7}"),
            cost_source=(CostSource.BILLED, CostSource.ESTIMATED)[i % 2],
            line_item=f"item {i}",
        )
        if i % 3 == 0:
            record = record.with_tags({"team": ("core", AWKWARD[1])[i % 2]})
        rows.append(record)
    return rows


def requests() -> list[SpendRequest]:
    """Ranges x bases x filters x group-bys, including ones that admit nothing."""
    ranges = [(T0, T0 + 2 * DAY), (T0 + timedelta(hours=5), T0 + DAY)]
    filters: list[dict[str, tuple[str, ...]]] = [
        {},
        {"project_id": (AWKWARD[1],)},
        {"project_id": (AWKWARD[0], AWKWARD[4], "absent")},
        {"user_id": ("",)},
        {"model": ("o3",), "user_id": ("alice", AWKWARD[3])},
        {"team": ("core",)},
        {"model": ()},
    ]
    bys = [None, "model", "user_id", "team", "project_id"]
    return [
        SpendRequest(CostQuery(start, end, basis, f), by)
        for (start, end), basis, f, by in itertools.product(ranges, Basis, filters, bys)
    ]


async def one_by_one(reader: CostReader, batch: list[SpendRequest]) -> list[dict[str, Decimal]]:
    answers = []
    for request in batch:
        if request.by is None:
            answers.append({"": await reader.total(request.query)})
        else:
            rows = await reader.breakdown(request.query, request.by)
            answers.append({row.group: row.cost_usd for row in rows})
    return answers


def assert_identical(got: list[dict[str, Decimal]], expected: list[dict[str, Decimal]]) -> None:
    assert len(got) == len(expected)
    for index, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
        # Same groups, same amounts, same Decimal text (exponent included).
        assert {g: str(v) for g, v in mine.items()} == {g: str(v) for g, v in theirs.items()}, (
            requests()[index]
        )


async def test_sqlite_batch_answers_equal_total_and_breakdown(sqlite_sink: SQLiteSink) -> None:
    await sqlite_sink.write(records())
    reader = sqlite_sink.reader()
    assert isinstance(reader, GroupedReader)
    batch = requests()
    assert_identical(await reader.spend(batch), await one_by_one(reader, batch))


async def test_influxdb_batch_answers_equal_total_and_breakdown(
    influx_sink_factory: InfluxFactory,
) -> None:
    sink = await influx_sink_factory()
    await sink.write(records())
    reader = sink.reader()
    assert isinstance(reader, GroupedReader)
    batch = requests()
    assert_identical(await reader.spend(batch), await one_by_one(reader, batch))


async def test_a_reader_without_grouping_is_asked_once_per_distinct_request() -> None:
    rows = records()
    counted = CountingCalls(MemoryReader(lambda: rows))
    batch = requests()
    answers = await spend(counted, [*batch, *batch])
    assert answers == [*await one_by_one(MemoryReader(lambda: rows), batch)] * 2
    distinct = {
        (r.query.start, r.query.basis, str(sorted(r.query.filters.items())), r.by) for r in batch
    }
    assert counted.calls == len(distinct)


# -- counting at the store boundary ---------------------------------------------------


class CountingCalls:
    """A real reader whose ``total`` and ``breakdown`` calls are counted (no ``spend``)."""

    def __init__(self, reader: CostReader) -> None:
        self.reader = reader
        self.calls = 0

    async def total(self, query: CostQuery) -> Decimal:
        self.calls += 1
        return await self.reader.total(query)

    async def breakdown(self, query: CostQuery, by: str, top: int | None = None) -> Any:
        self.calls += 1
        return await self.reader.breakdown(query, by, top)

    def __getattr__(self, name: str) -> Any:
        if name == "spend":
            raise AttributeError(name)
        return getattr(self.reader, name)


@pytest.fixture
async def proxy(influxd: InfluxdServer) -> AsyncIterator[StatementProxy]:
    async with statement_proxy(influxd) as server:
        yield server


async def test_influxdb_sends_one_grouped_statement_per_range_and_basis_in_one_request(
    proxy: StatementProxy, tmp_path: Path
) -> None:
    sink = InfluxDBSink(
        InfluxDBConfig(url=proxy.url, database="grouped_count"),
        ComponentContext("influxdb.count", tmp_path),
    )
    await sink.start()
    try:
        await sink.write(records())
        reader = sink.reader()
        # Stored bases only: ``best`` first asks InfluxDB which days are billed (its
        # own request), then sums one statement per slice (tests/query/test_best_basis.py).
        batch = [
            r for r in requests() if r.query.filters.get("model") != () and r.query.basis.stored
        ]
        await reader.spend(batch)  # the first batch also reads the enricher tag names
        proxy.requests.clear()
        await reader.spend(batch)
    finally:
        await sink.close()
    assert len(proxy.requests) == 1
    selects = [s for s in proxy.requests[0].split(";SELECT ") if s]
    ranges_and_bases = {(r.query.start, r.query.end, r.query.basis) for r in batch}
    assert len(selects) == len(ranges_and_bases) == 6


async def test_sqlite_runs_one_grouped_statement_per_range_and_basis(
    sqlite_sink: SQLiteSink,
) -> None:
    await sqlite_sink.write(records())
    counting = CountingDatabase(sqlite_sink.db)
    reader = SQLiteReader(counting)
    await reader.spend(requests())  # the first batch also reads the enricher tag names
    counting.reads = 0
    await reader.spend(requests())
    # SQLite answers ``best`` in one statement too (a subquery finds the billed days).
    assert counting.reads == len({(r.query.start, r.query.end, r.query.basis) for r in requests()})


def test_requests_that_differ_only_in_filter_order_are_one_request() -> None:
    a = SpendRequest(CostQuery(T0, T0 + DAY, filters={"model": ("b", "a"), "user_id": ("x",)}))
    b = dataclasses.replace(
        a, query=CostQuery(T0, T0 + DAY, filters={"user_id": ("x",), "model": ("a", "b", "a")})
    )
    assert request_key(a) == request_key(b)
    assert request_key(a) != request_key(dataclasses.replace(a, by="model"))
