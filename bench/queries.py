"""Queries: the dashboard's aggregations through the InfluxDB ``CostReader``
against the raw InfluxQL of the same aggregation. (Alert evaluation for 1,000
budgets, measured here before, is the ``budgets`` section: :mod:`bench.budgets`.)

Data: :func:`costpipe.dashboard.sample.sample_records` over 90 days (hourly
``estimated`` rows plus daily ``billed`` rows), about 1 million points,
written through the sinks (untimed). The raw baseline sends the statements
the reader builds with plain aiohttp and only reads the body: the server's
time plus the transfer, no parsing.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import Bench, ratio, spread
from costpipe.components import ComponentContext, Sink
from costpipe.dashboard.sample import PROJECT_TEAMS, sample_records
from costpipe.query.api import Basis, CostQuery, Granularity
from costpipe.sinks.influxdb.config import InfluxDBConfig
from costpipe.sinks.influxdb.encoder import timestamp_ns
from costpipe.sinks.influxdb.writer import InfluxDBSink
from costpipe.testing.influxd import InfluxdServer

__all__ = ["run"]

NOW = datetime(2026, 11, 18, 14, tzinfo=UTC)
TIMEZONE = "Europe/Berlin"
BATCH = 5000


async def fill(sinks: list[Sink[Any]], days: int, streams: int) -> int:
    batch, count = [], 0
    for record in sample_records(NOW, days=days, streams_per_hour=streams):
        batch.append(record)
        if len(batch) == BATCH:
            for sink in sinks:
                await sink.write(batch)
            count += len(batch)
            batch = []
    for sink in sinks:
        await sink.write(batch)
    return count + len(batch)


async def timed(make: Callable[[], Awaitable[Any]], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        await make()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def statements(start: datetime, end: datetime) -> dict[str, str]:
    """The InfluxQL the reader sends for each aggregation (see costpipe.sinks.influxdb.reader)."""
    where = (
        f"time >= {timestamp_ns(start)} AND time < {timestamp_ns(end)}"
        " AND \"cost_source\" = 'estimated'"
    )
    select = f'SELECT sum("cost_nanos") FROM "ai_costs" WHERE {where}'
    return {
        "total": select,
        "breakdown_by_model": select + ' GROUP BY "model"',
        "daily_series_by_model_berlin": select
        + f" GROUP BY time(1d), \"model\" fill(none) tz('{TIMEZONE}')",
    }


def budgets(count: int) -> list[dict[str, Any]]:
    """A mix: a third org-wide, a third per model, a third for one project."""
    projects = sorted(PROJECT_TEAMS)
    rules: list[dict[str, Any]] = []
    for i in range(count):
        rule: dict[str, Any] = {
            "name": f"budget-{i}",
            "amount_usd": str(1000 + i),
            "period": ("month", "week", "day")[i % 3],
            "cost_basis": ("billed", "estimated")[i % 2],
        }
        if i % 3 == 1:
            rule["group_by"] = "model"
        elif i % 3 == 2:
            rule["filters"] = {"project_id": [projects[i % len(projects)]]}
        rules.append(rule)
    return rules


async def run(server: InfluxdServer, *, quick: bool, runs: int) -> Bench:
    days, streams = (7, 20) if quick else (90, 463)
    bench = Bench("queries", params={"days": days, "timezone": TIMEZONE, "runs": runs})
    start, end = NOW - timedelta(days=days), NOW
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        influx = InfluxDBSink(
            InfluxDBConfig(url=server.url, database="queries", batch_size=BATCH),
            ComponentContext("influxdb.q", state),
        )
        await influx.start()
        try:
            began = time.perf_counter()
            bench.params["points"] = await fill([influx], days, streams)
            bench.params["fill_seconds"] = round(time.perf_counter() - began, 1)
            reader = influx.reader()
            query = CostQuery(start, end, Basis.ESTIMATED)
            ours: dict[str, Callable[[], Awaitable[Any]]] = {
                "total": lambda: reader.total(query),
                "breakdown_by_model": lambda: reader.breakdown(query, "model", top=8),
                "daily_series_by_model_berlin": lambda: reader.series(
                    query, Granularity.DAY, TIMEZONE, by="model"
                ),
            }
            async with aiohttp.ClientSession() as session:

                async def raw(statement: str) -> None:
                    params = {"db": "queries", "epoch": "ns", "q": statement}
                    async with session.get(f"{server.url}/query", params=params) as response:
                        await response.read()

                for name, statement in statements(start, end).items():
                    await ours[name]()  # warm influxd's caches for both
                    mine: list[float] = []
                    baseline: list[float] = []
                    for _ in range(runs):
                        # Alternate the two, so that load changes hit both.
                        mine += await timed(ours[name], 1)
                        baseline += await timed(functools.partial(raw, statement), 1)
                    bench.figures[f"{name}_reader_ms"] = spread(mine, "ms")
                    bench.figures[f"{name}_raw_ms"] = spread(baseline, "ms")
                    bench.figures[f"{name}_reader_vs_raw"] = ratio(mine, baseline)
        finally:
            await influx.close()
    return bench
