"""Stored costs and dead letters are the operator's alone: with the usual umask
022 every file a store creates is 0600 and every directory it creates 0700 (they
were 0644 in 0755 directories, readable by every local user)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from costpipe.components import ComponentContext
from costpipe.sinks.deadletter import DeadLetterFile
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
from costpipe.testing.influxd import InfluxdServer
from costpipe.testing.sink_contract import T0, contract_record
from tests.storage.conftest import InfluxFactory


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes_under(root: Path) -> dict[str, int]:
    """Mode of every file and directory below *root* (root itself excluded)."""
    return {str(p.relative_to(root)): mode(p) for p in sorted(root.rglob("*"))}


async def test_sqlite_store_files_and_new_directory_are_private(
    tmp_path: Path, umask_022: None
) -> None:
    path = tmp_path / "new" / "deeper" / "costs.sqlite"
    sink = SQLiteSink(SQLiteConfig(path=path), ComponentContext("sqlite.t", tmp_path / "ctx"))
    await sink.start()
    await sink.write([contract_record()])
    await sink.reader().tag_names()  # a reader connection as well
    found = modes_under(tmp_path / "new")
    await sink.close()
    assert {"deeper/costs.sqlite-wal", "deeper/costs.sqlite-shm"} <= found.keys()
    expected = {name: 0o700 if (tmp_path / "new" / name).is_dir() else 0o600 for name in found}
    assert expected == found
    assert 0o700 == mode(tmp_path / "new")


async def test_sqlite_store_tightens_a_database_created_world_readable(
    tmp_path: Path, umask_022: None
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    path = shared / "costs.sqlite"
    path.touch(mode=0o644)
    sink = SQLiteSink(SQLiteConfig(path=path), ComponentContext("sqlite.t", tmp_path))
    await sink.start()
    await sink.close()
    assert 0o600 == mode(path)
    # The operator's existing directory is theirs: it is not changed.
    assert 0o755 == mode(shared)


async def test_a_reader_that_comes_first_creates_a_private_database(
    tmp_path: Path, umask_022: None
) -> None:
    """The dashboard may open the store before the daemon ever wrote to it."""
    path = tmp_path / "costs.sqlite"
    sink = SQLiteSink(SQLiteConfig(path=path), ComponentContext("sqlite.t", tmp_path))
    await sink.db.read(lambda conn: conn.execute("SELECT 1").fetchall())
    await sink.close()
    assert 0o600 == mode(path)


async def test_dead_letter_file_and_its_directory_are_private(
    tmp_path: Path, umask_022: None
) -> None:
    letters = DeadLetterFile(tmp_path / "sinks" / "influxdb.x" / "dead-letter.jsonl", "x")
    await letters.add([(contract_record(), "ai_costs x=1", "refused")])
    await letters.add([(contract_record(), "ai_costs x=2", "refused")])
    assert {"sinks": 0o700, "sinks/influxdb.x": 0o700} | {
        "sinks/influxdb.x/dead-letter.jsonl": 0o600
    } == modes_under(tmp_path)
    assert 2 == len(letters.path.read_text().splitlines())


async def test_influxdb_dead_letters_are_private(
    influxd: InfluxdServer, influx_sink_factory: InfluxFactory, umask_022: None
) -> None:
    """A point InfluxDB refuses (field type conflict) lands in a 0600 file."""
    sink = await influx_sink_factory()
    async with sink._require_http().session.post(
        f"{influxd.url}/write",
        params={"db": sink.config.database},
        data=b'ai_costs,provider=other requests="oops" 1772409600000000000\n',
    ) as response:
        assert 204 == response.status
    await sink.write([contract_record(start=T0, cost_usd=Decimal(1))])
    await sink.write([contract_record(start=T0 + timedelta(days=90), cost_usd=Decimal(1))])
    assert 0o600 == mode(sink.dead_letters.path)
    assert 0o700 == mode(sink.dead_letters.path.parent)
