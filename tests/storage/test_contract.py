"""Both built-in stores pass the sink contract against real servers."""

from __future__ import annotations

import pytest

from costpipe.lineprotocol import stored_tag_value
from costpipe.sinks.influxdb import InfluxDBSink
from costpipe.sinks.sqlite import SQLiteSink
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
