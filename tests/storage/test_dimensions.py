"""The record's dimensions have one definition: the ``str`` fields of ``CostRecord``.

The key, the line-protocol encoder, the SQLite schema, the JSON codec and the
query layer (both stores and ``check_dimension``) all derive from
``costpipe.records.TEXT_DIMENSIONS``. Each test below walks the dataclass's
``str`` fields, so a dimension added to the record but forgotten by one of them
fails here.
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from costpipe.components import ComponentContext
from costpipe.query.api import QUERYABLE_DIMENSIONS, Breakdown, CostQuery, check_dimension
from costpipe.recordcodec import record_from_json, record_to_json
from costpipe.records import DIMENSIONS, KEY_FIELDS, TEXT_DIMENSIONS, CostRecord
from costpipe.sinks.influxdb.encoder import LineEncoder
from costpipe.sinks.sqlite.store import SCHEMA, SQLiteConfig, SQLiteSink
from costpipe.testing.sink_contract import T0, contract_record
from tests.storage.conftest import InfluxFactory

STR_FIELDS = tuple(f.name for f in msgspec.structs.fields(CostRecord) if f.type is str)
ALL_TIME = CostQuery(T0 - timedelta(days=1), T0 + timedelta(days=1))


def every_dimension_set() -> CostRecord:
    """A record whose every text dimension holds its own name, ``v_<name>``."""
    return contract_record(**{name: f"v_{name}" for name in STR_FIELDS})


def test_text_dimensions_are_the_records_str_fields() -> None:
    assert STR_FIELDS == TEXT_DIMENSIONS
    assert (*STR_FIELDS, "cost_source") == DIMENSIONS
    assert STR_FIELDS == QUERYABLE_DIMENSIONS


def test_key_fields_are_the_dimensions_the_basis_and_the_bucket() -> None:
    assert {*STR_FIELDS, "basis", "start", "width"} == set(KEY_FIELDS)
    assert len(set(KEY_FIELDS)) == len(KEY_FIELDS)


@pytest.mark.parametrize("name", STR_FIELDS)
def test_key_changes_with_every_dimension(name: str) -> None:
    record = every_dimension_set()
    assert record.key != record.replace(**{name: "other"}).key


def test_key_format_is_unchanged() -> None:
    """Stored rows are identified by this exact hash: it must never drift."""
    record = every_dimension_set()
    parts = [
        "v_provider", "v_account", "billed", T0.isoformat(), "3600",
        "v_model", "v_user_id", "v_project_id", "v_api_key_id", "v_line_item",
    ]  # fmt: skip
    expected = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()
    assert expected == record.key


@pytest.mark.parametrize("name", STR_FIELDS)
def test_query_layer_accepts_every_dimension(name: str) -> None:
    assert name == check_dimension(name)


def test_encoder_writes_every_dimension_as_a_tag() -> None:
    series = LineEncoder().series(every_dimension_set())
    tags = dict(pair.split("=", 1) for pair in series.split(",")[1:])
    assert {name: f"v_{name}" for name in STR_FIELDS} | {"cost_source": "billed"} == tags


def test_json_codec_round_trips_every_dimension() -> None:
    record = every_dimension_set()
    data = record_to_json(record)
    assert {name: f"v_{name}" for name in STR_FIELDS} == {n: data[n] for n in STR_FIELDS}
    assert record == record_from_json(data)


async def test_sqlite_groups_by_every_dimension(sqlite_sink: SQLiteSink) -> None:
    await sqlite_sink.write([every_dimension_set()])
    for name in STR_FIELDS:
        expected = [Breakdown(f"v_{name}", Decimal("1.25"))]
        assert expected == await sqlite_sink.reader().breakdown(ALL_TIME, by=name)


async def test_influxdb_groups_by_every_dimension(influx_sink_factory: InfluxFactory) -> None:
    sink = await influx_sink_factory()
    await sink.write([every_dimension_set()])
    for name in STR_FIELDS:
        expected = [Breakdown(f"v_{name}", Decimal("1.25"))]
        assert expected == await sink.reader().breakdown(ALL_TIME, by=name)


async def test_sqlite_adds_the_column_of_a_dimension_an_older_schema_lacks(
    tmp_path: Path,
) -> None:
    """A database created before a dimension existed gains its column at start."""
    path = tmp_path / "old.sqlite"
    old_schema = SCHEMA.replace("    line_item TEXT NOT NULL,\n", "")
    assert old_schema != SCHEMA
    with sqlite3.connect(path) as conn:
        conn.executescript(old_schema)
    sink = SQLiteSink(SQLiteConfig(path=path), ComponentContext("sqlite.old", tmp_path))
    await sink.start()
    await sink.write([every_dimension_set()])
    rows = await sink.reader().breakdown(ALL_TIME, by="line_item")
    await sink.close()
    assert [Breakdown("v_line_item", Decimal("1.25"))] == rows
