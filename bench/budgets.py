"""Budgets: one ``AlertEngine.evaluate`` pass over 1,000 budgets, over InfluxDB
and over SQLite, against the same pass with each budget asked on its own.

Data: :func:`bench.queries.fill` (the queries section's ~1M points over 90
days) into both stores. Budgets: :func:`bench.queries.budgets` (a third
org-wide, a third per model, a third filtered to one project; monthly, weekly
and daily; both bases).

Per store, in alternation run by run:

* **grouped**: the engine as shipped: one grouped query per (period, basis),
  answered in memory (:mod:`costpipe.query.grouped`);
* **one_by_one**: the engine over a reader that answers every budget with its
  own ``total`` / ``breakdown``, one after another: the behaviour before issue
  16 (one query per budget), measured in the same run as the baseline;
* **queries_only**: the grouped reader's ``spend`` for the same 1,000 requests
  without the engine (state, rules, notifications), to show where a pass's
  time goes; over InfluxDB also **raw**: the same grouped InfluxQL in one
  request over plain aiohttp, reading the body only.

The first pass of each method creates every alert slot; it is reported on its
own and the steady state from the passes after it.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from bench import queries
from bench.common import Bench, ratio, spread
from costpipe.alerts.engine import AlertEngine
from costpipe.alerts.periods import period_at
from costpipe.alerts.spend import budget_request
from costpipe.components import ComponentContext
from costpipe.config.settings import Settings, parse_config
from costpipe.plugins import build_plugin_manager
from costpipe.query.api import CostReader, SpendRequest
from costpipe.sinks.influxdb.config import InfluxDBConfig
from costpipe.sinks.influxdb.reader import InfluxDBReader
from costpipe.sinks.influxdb.writer import InfluxDBSink
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
from costpipe.testing.influxd import InfluxdServer

__all__ = ["run"]

DATABASE = "budgets"


class OneByOne:
    """A real reader asked once per budget, in turn: the engine before grouping."""

    def __init__(self, reader: CostReader) -> None:
        self.reader = reader

    async def spend(self, requests: Sequence[SpendRequest]) -> list[dict[str, Decimal]]:
        answers = []
        for request in requests:
            if request.by is None:
                answers.append({"": await self.reader.total(request.query)})
            else:
                rows = await self.reader.breakdown(request.query, request.by)
                answers.append({row.group: row.cost_usd for row in rows})
        return answers

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)


def settings_for(state: Path, count: int) -> Settings:
    _pm, registry = build_plugin_manager(entry_points=False)
    data = {
        "pipeline": {"state_dir": str(state), "timezone": queries.TIMEZONE},
        "budgets": queries.budgets(count),
    }
    return parse_config(data, registry, env={})


def requests_for(settings: Settings) -> list[SpendRequest]:
    return [
        budget_request(rule, period_at(rule.period, queries.NOW, queries.TIMEZONE, rule.week_start))
        for rule in settings.budgets
    ]


async def passes(engine: AlertEngine, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        await engine.evaluate(queries.NOW, {})
        samples.append((time.perf_counter() - began) * 1000)
    return samples


async def measure(
    bench: Bench, label: str, reader: CostReader, state: Path, count: int, runs: int
) -> None:
    settings = settings_for(state, count)
    requests = requests_for(settings)
    grouped = AlertEngine(settings, reader, {}, state / "grouped", structlog.get_logger())
    single = AlertEngine(settings, OneByOne(reader), {}, state / "single", structlog.get_logger())  # type: ignore[arg-type]
    spend = getattr(reader, "spend")  # noqa: B009 - the GroupedReader method
    try:
        bench.figures[f"{label}_first_pass_grouped_ms"] = spread(await passes(grouped, 1), "ms")
        bench.figures[f"{label}_first_pass_one_by_one_ms"] = spread(await passes(single, 1), "ms")
        mine: list[float] = []
        before: list[float] = []
        only: list[float] = []
        for _ in range(runs):
            mine += await passes(grouped, 1)
            before += await passes(single, 1)
            began = time.perf_counter()
            await spend(requests)
            only.append((time.perf_counter() - began) * 1000)
    finally:
        grouped.close()
        single.close()
    bench.figures[f"{label}_grouped_ms"] = spread(mine, "ms")
    bench.figures[f"{label}_one_by_one_ms"] = spread(before, "ms")
    bench.figures[f"{label}_queries_only_ms"] = spread(only, "ms")
    bench.figures[f"{label}_grouped_vs_one_by_one"] = ratio(mine, before)
    bench.goal(
        f"{count} budgets over {label} <= 1 s",
        statistics.median(mine),
        "<= 1000 ms",
        lambda v: v <= 1000,
    )


async def raw_grouped(
    bench: Bench, server: InfluxdServer, reader: InfluxDBReader, settings: Settings, runs: int
) -> None:
    """The grouped InfluxQL the reader sends, replayed in one request over aiohttp."""
    statements = await reader.spend_statements(requests_for(settings))
    text = ";".join(statements)
    bench.params["influxdb_statements_per_pass"] = len(statements)
    samples = []
    async with aiohttp.ClientSession() as session:
        for _ in range(runs):
            began = time.perf_counter()
            params = {"db": DATABASE, "epoch": "ns", "q": text}
            async with session.get(f"{server.url}/query", params=params) as response:
                await response.read()
            samples.append((time.perf_counter() - began) * 1000)
    bench.figures["influxdb_raw_grouped_influxql_ms"] = spread(samples, "ms")
    queries_only = bench.figures["influxdb_queries_only_ms"]["runs"]
    bench.figures["influxdb_queries_only_vs_raw"] = ratio(queries_only, samples)


async def run(server: InfluxdServer, *, quick: bool, runs: int) -> Bench:
    days, streams, count = (7, 20, 50) if quick else (90, 463, 1000)
    bench = Bench("budgets", params={"days": days, "timezone": queries.TIMEZONE, "runs": runs})
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        influx = InfluxDBSink(
            InfluxDBConfig(url=server.url, database=DATABASE, batch_size=queries.BATCH),
            ComponentContext("influxdb.b", state),
        )
        sqlite = SQLiteSink(
            SQLiteConfig(path=state / "costs.sqlite"), ComponentContext("sqlite.b", state)
        )
        await influx.start()
        await sqlite.start()
        try:
            began = time.perf_counter()
            bench.params["points"] = await queries.fill([influx, sqlite], days, streams)
            bench.params["fill_seconds"] = round(time.perf_counter() - began, 1)
            bench.params["budgets"] = count
            reader = influx.reader()
            await measure(bench, "influxdb", reader, state / "influxdb", count, runs)
            await raw_grouped(bench, server, reader, settings_for(state, count), runs)
            await measure(bench, "sqlite", sqlite.reader(), state / "sqlite", count, runs)
        finally:
            await influx.close()
            await sqlite.close()
    bench.notes.append(
        "grouped: the engine as shipped; one_by_one: the same engine over a reader that"
        " asks each budget's total/breakdown in turn (before issue 16); queries_only:"
        " GroupedReader.spend for the 1,000 requests without the engine; raw: the grouped"
        " InfluxQL in one request over aiohttp"
    )
    return bench
