"""SpoolingSink: data is delayed, never dropped, with both real stores."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import structlog

from costpipe.components import ComponentContext
from costpipe.engine.spool import SpoolingSink
from costpipe.errors import SinkUnavailableError
from costpipe.query.api import CostQuery
from costpipe.recordcodec import encode_lines
from costpipe.records import CostRecord
from costpipe.sinks.influxdb.config import InfluxDBConfig
from costpipe.sinks.influxdb.writer import InfluxDBSink
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
from costpipe.testing.influxd import InfluxdServer
from costpipe.testing.sink_contract import T0, contract_record
from tests.conftest import influxd_or_skip

ALL_TIME = CostQuery(T0 - timedelta(days=1), T0 + timedelta(days=30))
HOUR = timedelta(hours=1)


def batch(first: int, count: int, cost: str = "1") -> list[CostRecord]:
    return [
        contract_record(start=T0 + i * HOUR, cost_usd=Decimal(cost))
        for i in range(first, first + count)
    ]


async def locked_sqlite(tmp_path: Path) -> tuple[SQLiteSink, sqlite3.Connection]:
    """A started SQLite sink and a second connection holding an exclusive lock."""
    path = tmp_path / "costs.sqlite"
    sink = SQLiteSink(
        SQLiteConfig(path=path, busy_timeout_ms=20), ComponentContext("sqlite.t", tmp_path)
    )
    await sink.start()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    return sink, blocker


async def test_sqlite_locked_spools_in_order_and_drains(tmp_path: Path) -> None:
    sink, blocker = await locked_sqlite(tmp_path)
    spool = SpoolingSink(sink, tmp_path / "spool", 10_000_000, structlog.get_logger())
    await spool.write(batch(0, 10, "1"))
    # The revision of hours 0-4 comes later and must win after the replay.
    await spool.write(batch(0, 5, "3"))
    assert spool.pending_batches == 2
    assert spool.pending_bytes > 0
    assert await spool.drain() == 0  # still locked: nothing replayed, nothing lost
    blocker.execute("ROLLBACK")
    blocker.close()
    assert await spool.drain() == 2
    assert (spool.pending_batches, spool.pending_bytes) == (0, 0)
    assert Decimal(5 * 3 + 5 * 1) == await sink.reader().total(ALL_TIME)
    await sink.close()


async def test_new_batches_queue_behind_the_spool(tmp_path: Path) -> None:
    """While anything is spooled, a write goes to the spool even if the store is back."""
    sink, blocker = await locked_sqlite(tmp_path)
    spool = SpoolingSink(sink, tmp_path / "spool", 10_000_000, structlog.get_logger())
    await spool.write(batch(0, 3, "1"))
    blocker.execute("ROLLBACK")
    await spool.write(batch(0, 3, "2"))
    assert spool.pending_batches == 2
    assert Decimal(0) == await sink.reader().total(ALL_TIME)
    assert await spool.drain() == 2
    assert Decimal(6) == await sink.reader().total(ALL_TIME)
    blocker.close()
    await sink.close()


async def test_a_restart_picks_up_spooled_batches(tmp_path: Path) -> None:
    sink, blocker = await locked_sqlite(tmp_path)
    first = SpoolingSink(sink, tmp_path / "spool", 10_000_000, structlog.get_logger())
    await first.write(batch(0, 4))
    (tmp_path / "spool" / "000000000099.tmp").write_bytes(b'{"torn')  # interrupted write
    blocker.execute("ROLLBACK")
    blocker.close()
    with structlog.testing.capture_logs() as logs:
        second = SpoolingSink(sink, tmp_path / "spool", 10_000_000, structlog.get_logger())
    assert second.pending_batches == 1
    assert [e["event"] for e in logs] == ["spool_found"]
    assert not list((tmp_path / "spool").glob("*.tmp"))
    assert await second.drain() == 1
    assert Decimal(4) == await sink.reader().total(ALL_TIME)
    await sink.close()


async def test_full_spool_refuses_and_warns_first(tmp_path: Path) -> None:
    sink, blocker = await locked_sqlite(tmp_path)
    one = len(encode_lines(batch(0, 1)))
    spool = SpoolingSink(sink, tmp_path / "spool", int(one * 1.1), structlog.get_logger())
    with structlog.testing.capture_logs() as logs:
        await spool.write(batch(0, 1))
        with pytest.raises(SinkUnavailableError, match="spool is full"):
            await spool.write(batch(1, 1))
    events = [e["event"] for e in logs]
    assert events.index("spool_almost_full") < events.index("spool_full")
    assert spool.pending_batches == 1  # the refused batch was not half-written
    blocker.execute("ROLLBACK")
    blocker.close()
    await sink.close()


async def test_passthroughs_reach_the_sink(tmp_path: Path) -> None:
    sink = SQLiteSink(
        SQLiteConfig(path=tmp_path / "c.sqlite"), ComponentContext("sqlite.p", tmp_path)
    )
    await sink.start()
    spool = SpoolingSink(sink, tmp_path / "spool", 1_000_000, structlog.get_logger())
    await spool.write(batch(0, 2))
    await spool.flush()
    assert spool.pending_batches == 0
    reader = spool.reader()
    assert reader is not None
    assert Decimal(2) == await reader.total(ALL_TIME)
    assert spool.instance == "sqlite.p"
    await spool.close()


async def test_spool_survives_an_influxd_outage(tmp_path: Path) -> None:
    """Stop influxd, keep writing (spooled), restart it, drain: every record is
    there once, and the later revision wins."""
    server = InfluxdServer(tmp_path / "influxd", influxd_or_skip())
    server.start()
    try:
        config = InfluxDBConfig(
            url=server.url, database="outage", max_tries=2, retry_base_seconds=0.01
        )
        sink = InfluxDBSink(config, ComponentContext("influxdb.outage", tmp_path))
        await sink.start()
        spool = SpoolingSink(sink, tmp_path / "spool", 10_000_000, structlog.get_logger())
        await spool.write(batch(0, 24, "1"))
        server.stop()
        await spool.write(batch(24, 24, "2"))
        await spool.write(batch(24, 12, "5"))  # revises hours 24-35
        assert spool.pending_batches == 2
        assert await spool.drain() == 0
        server.start()
        assert await spool.drain() == 2
        assert spool.pending_batches == 0
        expected = Decimal(24 * 1 + 12 * 5 + 12 * 2)
        assert expected == await sink.reader().total(ALL_TIME)
        await sink.close()
    finally:
        server.stop()
