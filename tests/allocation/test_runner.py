"""Re-allocating stored days in SQLite and InfluxDB: only changes are written, a
row a revision made obsolete is zeroed in place, totals never drift."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costpipe.allocation import runner
from costpipe.allocation.runner import RowStore, days_of, reallocate
from costpipe.components import ComponentContext, Sink
from costpipe.query.api import Basis, CostQuery, CostReader
from costpipe.records import CostRecord, CostSource, Window
from costpipe.sinks.influxdb.config import InfluxDBConfig
from costpipe.sinks.influxdb.writer import InfluxDBSink
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
from costpipe.testing.influxd import InfluxdServer

DAY = datetime(2026, 11, 18, tzinfo=UTC)
ITEM = "gpt-4o-2024-08-06, output"


def usage(user: str, hour: int, output: int, cost: str, source: CostSource) -> CostRecord:
    return CostRecord(
        start=DAY + timedelta(hours=hour),
        width=timedelta(hours=1),
        provider="openai",
        account="acme",
        cost_source=source,
        cost_usd=Decimal(cost),
        model="gpt-4o-2024-08-06",
        user_id=user,
        project_id="proj_a",
        line_item="completions",
        output_tokens=output,
    )


BILL = CostRecord(
    start=DAY,
    width=timedelta(days=1),
    provider="openai",
    account="acme",
    cost_source=CostSource.BILLED,
    cost_usd=Decimal("3.00"),
    model="gpt-4o-2024-08-06",
    project_id="proj_a",
    line_item=ITEM,
)


@pytest.fixture(params=["sqlite", "influxdb"])
async def sink(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Sink[Any]]:
    """A started, empty SQLite or InfluxDB sink (the session's influxd)."""
    built: Sink[Any]
    if request.param == "sqlite":
        config = SQLiteConfig(path=tmp_path / "costs.sqlite")
        built = SQLiteSink(config, ComponentContext("sqlite.alloc", tmp_path))
    else:
        server: InfluxdServer = request.getfixturevalue("influxd")
        config_influx = InfluxDBConfig(url=server.url, database=f"alloc_{uuid.uuid4().hex[:12]}")
        built = InfluxDBSink(config_influx, ComponentContext("influxdb.alloc", tmp_path))
    await built.start()
    yield built
    await built.close()


async def per_user(reader: CostReader) -> dict[str, Decimal]:
    rows = await reader.breakdown(
        CostQuery(DAY, DAY + timedelta(days=1), Basis.ALLOCATED), "user_id"
    )
    return {row.group: row.cost_usd for row in rows}


async def test_a_usage_row_that_stops_sharing_is_zeroed_and_the_day_stays_exact(
    sink: Sink[Any],
) -> None:
    reader = sink.reader()
    assert isinstance(reader, RowStore)
    assert isinstance(reader, CostReader)
    est = CostSource.ESTIMATED
    await sink.write(
        [BILL, usage("alice", 9, 100, "1.00", est), usage("bob", 10, 200, "2.00", est)]
    )
    first = await reallocate(reader, [sink], [DAY.date()])
    assert (2, 0) == (first.written, first.zeroed)
    assert {"alice": Decimal("1.00"), "bob": Decimal("2.00")} == await per_user(reader)

    # A revision: bob's row turns out unpriced (same key), so it takes no share.
    await sink.write([usage("bob", 10, 200, "0", CostSource.UNPRICED)])
    second = await reallocate(reader, [sink], [DAY.date()])
    assert (1, 1) == (second.written, second.zeroed)
    assert {"alice": Decimal("3.00"), "bob": Decimal(0)} == await per_user(reader)
    day = CostQuery(DAY, DAY + timedelta(days=1), Basis.ALLOCATED)
    assert Decimal("3.00") == await reader.total(day)
    # One row per identity: the zeroed row was overwritten, not added.
    assert 2 == len(await reader.stored_rows(day))

    third = await reallocate(reader, [sink], [DAY.date()])
    assert (0, 0, []) == (third.written, third.zeroed, third.changed_days)


def test_days_of_windows_are_the_utc_days_they_overlap() -> None:
    windows = [Window(DAY - timedelta(hours=1), DAY + timedelta(hours=25))]
    assert [(DAY + timedelta(days=d)).date() for d in (-1, 0, 1)] == days_of(windows)
    assert [] == days_of([Window(DAY, DAY)])


class CountingSink:
    """Records what each write() was handed (allocation's rows, in order)."""

    def __init__(self) -> None:
        self.writes: list[list[CostRecord]] = []

    async def write(self, records: Sequence[CostRecord]) -> None:
        self.writes.append(list(records))


async def test_a_long_backfill_keeps_no_cells_and_writes_a_day_in_slices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: memory must not grow with the days re-allocated (the cells of
    every day were kept for one log line), and a day's rows reach a sink in
    slices of WRITE_SLICE, in order, none lost."""
    monkeypatch.setattr(runner, "WRITE_SLICE", 7)
    store = SQLiteSink(SQLiteConfig(path=tmp_path / "c.sqlite"), ComponentContext("s", tmp_path))
    await store.start()
    try:
        est = CostSource.ESTIMATED
        rows: list[CostRecord] = []
        for offset in range(3):
            day = timedelta(days=offset)
            rows.append(BILL.replace(start=DAY + day, cost_usd=Decimal("30.00")))
            rows += [
                usage(f"user{n}", n % 24, 10, "1.00", est).replace(
                    start=DAY + day + timedelta(hours=n % 24)
                )
                for n in range(20)
            ]
        # A bill nothing used: its money stays unattributed.
        rows.append(
            BILL.replace(model="gpt-9", line_item="gpt-9, output", cost_usd=Decimal("2.50"))
        )
        await store.write(rows)
        counting = CountingSink()
        days = [(DAY + timedelta(days=n)).date() for n in range(3)]
        run = await reallocate(store.reader(), [counting], days)  # type: ignore[arg-type]
    finally:
        await store.close()
    assert [] == run.allocation.cells
    assert [] == run.allocation.records
    assert 250_000_000 * 10 == run.unattributed_nanos
    assert all(len(batch) <= 7 for batch in counting.writes)
    written = [r for batch in counting.writes for r in batch]
    assert run.written == len(written)
    # Each day's 20 users share its bill exactly, and the days stay in order.
    assert [Decimal("30.00")] * 3 == [
        sum(
            (r.cost_usd for r in written if r.start.date() == d and r.user_id.startswith("user")),
            Decimal(0),
        )
        for d in days
    ]
