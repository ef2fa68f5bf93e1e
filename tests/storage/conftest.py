"""Fixtures for the storage tests: started sinks on fresh databases."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from costpipe.components import ComponentContext
from costpipe.sinks.influxdb.config import InfluxDBConfig
from costpipe.sinks.influxdb.writer import InfluxDBSink
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
from costpipe.testing.influxd import InfluxdServer

InfluxFactory = Callable[..., Awaitable[InfluxDBSink]]


@pytest.fixture
async def influx_sink_factory(
    influxd: InfluxdServer, tmp_path: Path
) -> AsyncIterator[InfluxFactory]:
    """Build started InfluxDB sinks, each on its own new database by default."""
    sinks: list[InfluxDBSink] = []

    async def build(server: InfluxdServer | None = None, **options: Any) -> InfluxDBSink:
        server = server or influxd
        options.setdefault("database", f"t_{uuid.uuid4().hex[:12]}")
        options.setdefault("retry_base_seconds", 0.01)
        config = InfluxDBConfig(url=server.url, **options)
        state = tmp_path / f"state-{len(sinks)}"
        state.mkdir()
        sink = InfluxDBSink(config, ComponentContext(f"influxdb.{len(sinks)}", state))
        await sink.start()
        sinks.append(sink)
        return sink

    yield build
    for sink in sinks:
        await sink.close()


@pytest.fixture
async def sqlite_sink(tmp_path: Path) -> AsyncIterator[SQLiteSink]:
    sink = SQLiteSink(
        SQLiteConfig(path=tmp_path / "costs.sqlite"), ComponentContext("sqlite.test", tmp_path)
    )
    await sink.start()
    yield sink
    await sink.close()
