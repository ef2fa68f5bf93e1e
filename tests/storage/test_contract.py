"""Both built-in stores pass the sink contract against real servers."""

from __future__ import annotations

import pytest

from costpipe.sinks.influxdb.encoder import stored_tag_value
from costpipe.sinks.influxdb.writer import InfluxDBSink
from costpipe.sinks.sqlite.store import SQLiteSink
from costpipe.testing import SinkContract
from tests.storage.conftest import InfluxFactory


class TestSQLiteSink(SinkContract):
    @pytest.fixture
    async def sink(self, sqlite_sink: SQLiteSink) -> SQLiteSink:
        return sqlite_sink


class TestInfluxDBSink(SinkContract):
    stored = staticmethod(stored_tag_value)

    @pytest.fixture
    async def sink(self, influx_sink_factory: InfluxFactory) -> InfluxDBSink:
        return await influx_sink_factory()
