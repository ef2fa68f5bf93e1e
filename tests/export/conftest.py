"""A store pair filled by a real ``costpipe backfill`` from the simulator.

The simulator (wire-faithful OpenAI and Anthropic billing APIs, hostile names
included) runs on its own event loop in a thread, so the CLI runs in-process
with ``asyncio.run`` exactly as a user's command does. Both stores (SQLite and
a real influxd) are written by the same backfill, once per test module.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costpipe import cli
from costpipe.components import ComponentContext
from costpipe.query.api import CostQuery
from costpipe.simulator import Simulator, SimulatorOptions
from costpipe.sinks.influxdb.config import InfluxDBConfig
from costpipe.sinks.influxdb.writer import InfluxDBSink
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
from costpipe.testing.influxd import InfluxdServer

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
SINCE = datetime(2026, 11, 2, tzinfo=UTC)
UNTIL = datetime(2026, 11, 9, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Stores:
    config: Path
    sqlite: Path
    influx_url: str
    database: str
    since: datetime = SINCE
    until: datetime = UNTIL


class SimulatorThread:
    """The simulator on an event loop of its own, for in-process CLI calls."""

    def __init__(self, options: SimulatorOptions) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.sim = Simulator(options)

    def __enter__(self) -> Simulator:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(30)
        return self.sim

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def write_config(path: Path, sim: Simulator, influx_url: str, database: str) -> None:
    path.write_text(
        f"""
[pipeline]
state_dir = "{path.parent / "state"}"
chunk = "10d"

[[providers.openai]]
name = "sim"
api_key = "{sim.openai_admin_key}"
base_url = "{sim.openai_base_url}"

[[providers.anthropic]]
name = "sim"
api_key = "{sim.anthropic_admin_key}"
base_url = "{sim.anthropic_base_url}"

[[sinks.sqlite]]
name = "main"
path = "{path.parent / "costs.sqlite"}"

[[sinks.influxdb]]
name = "main"
url = "{influx_url}"
database = "{database}"
""",
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, influxd: InfluxdServer) -> Iterator[Stores]:
    """Seven days of the simulator's data in SQLite and InfluxDB, by a real backfill."""
    base = tmp_path_factory.mktemp("export-stores")
    config = base / "config.toml"
    database = f"export_{base.name.replace('-', '_')}"
    with SimulatorThread(SimulatorOptions(seed=11, now=NOW)) as sim:
        write_config(config, sim, influxd.url, database)
        code = cli.main(
            [
                "--config",
                str(config),
                "--log-level",
                "error",
                "backfill",
                "--since",
                SINCE.isoformat(),
                "--until",
                UNTIL.isoformat(),
            ]
        )
    assert code == 0, "the backfill that fills the stores failed"
    return Stores(config, base / "costs.sqlite", influxd.url, database)


STORES = ("sqlite", "influxdb")


async def store_total(stores: Stores, store: str, query: CostQuery) -> Decimal:
    """What the query layer of *store* says *query* sums to."""
    sink = open_sink(stores, store)
    await sink.start()
    try:
        reader = sink.reader()
        assert reader is not None
        return await reader.total(query)
    finally:
        await sink.close()


def open_sink(stores: Stores, store: str) -> SQLiteSink | InfluxDBSink:
    state = stores.config.parent / "state" / "test"
    state.mkdir(parents=True, exist_ok=True)
    if store == "sqlite":
        return SQLiteSink(SQLiteConfig(path=stores.sqlite), ComponentContext("sqlite.t", state))
    config = InfluxDBConfig(url=stores.influx_url, database=stores.database)
    return InfluxDBSink(config, ComponentContext("influxdb.t", state))


def run_export(stores: Stores, store: str, *options: str, output: Path | None = None) -> int:
    """``costpipe export`` in-process over the module's range (options may override it)."""
    argv = ["--config", str(stores.config), "--log-level", "error", "export", "--store", store]
    if "--since" not in options:
        argv += ["--since", stores.since.isoformat(), "--until", stores.until.isoformat()]
    argv += list(options)
    if output is not None:
        argv += ["-o", str(output)]
    return cli.main(argv)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of an exported file, whichever format its suffix names; decimals
    as Decimal (never float), empty CSV cells and JSON nulls as None."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_table(path).to_pylist())
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line, parse_float=Decimal) for line in text.splitlines()]
    return [
        {k: (v if v != "" else None) for k, v in row.items()}
        for row in csv.DictReader(io.StringIO(text, newline=""))
    ]
