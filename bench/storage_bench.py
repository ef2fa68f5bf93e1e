"""Storage benchmark: encoder cost per point and end-to-end write throughput.

Usage: ``.venv/bin/python bench/storage_bench.py [--points 200000] [--series 3000]``

Starts a throw-away influxd (loopback, temp dir), then measures

1. the line-protocol encoder in µs per point (warm series cache);
2. points/s through ``InfluxDBSink.write`` (encode + post, 2 batches in flight);
3. points/s posting the same points, pre-encoded, with plain aiohttp, 2 in flight;

and prints the ratio of 2 to 3. The two alternate for ``--rounds`` rounds, each\nrun into its own new database, and the best of each is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import aiohttp

from costpipe.components import ComponentContext
from costpipe.records import CostRecord, CostSource
from costpipe.sinks.influxdb.config import InfluxDBConfig
from costpipe.sinks.influxdb.encoder import LineEncoder
from costpipe.sinks.influxdb.writer import InfluxDBSink
from costpipe.testing.influxd import InfluxdServer

BATCH = 5000


def make_records(points: int, series: int) -> list[CostRecord]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = []
    for i in range(points):
        s = i % series
        records.append(
            CostRecord(
                start=start + timedelta(hours=i // series),
                width=timedelta(hours=1),
                provider="openai" if s % 2 else "anthropic",
                account=f"org-{s % 3}",
                cost_source=CostSource.ESTIMATED if s % 5 else CostSource.BILLED,
                cost_usd=Decimal(i % 9973) / Decimal(10000),
                model=f"model-{s % 23}",
                user_id=f"user-{s % 97}",
                project_id=f"proj {s % 7}",
                line_item=f"model-{s % 23}, input",
                uncached_input_tokens=i % 5000,
                output_tokens=i % 700,
                requests=1 + i % 9,
                tags=(("team", f"team-{s % 5}"),),
            )
        )
    return records


def bench_encoder(records: list[CostRecord]) -> float:
    encoder = LineEncoder()
    encoder.encode(records[:BATCH])  # warm the series cache as a running daemon would
    began = time.perf_counter()
    for i in range(0, len(records), BATCH):
        encoder.encode(records[i : i + BATCH])
    return (time.perf_counter() - began) / len(records) * 1e6


async def bench_sink(
    server: InfluxdServer, records: list[CostRecord], state: Path, database: str
) -> float:
    config = InfluxDBConfig(url=server.url, database=database, batch_size=BATCH)
    sink = InfluxDBSink(config, ComponentContext("influxdb.bench", state))
    await sink.start()
    began = time.perf_counter()
    await sink.write(records)
    elapsed = time.perf_counter() - began
    await sink.close()
    return len(records) / elapsed


async def bench_raw(server: InfluxdServer, records: list[CostRecord], database: str) -> float:
    encoder = LineEncoder()
    bodies = [encoder.encode(records[i : i + BATCH]) for i in range(0, len(records), BATCH)]
    slots = asyncio.Semaphore(2)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{server.url}/query", params={"q": f"CREATE DATABASE {database}"}):
            pass

        async def post(body: bytes) -> None:
            async with (
                slots,
                session.post(f"{server.url}/write", params={"db": database}, data=body) as response,
            ):
                assert response.status == 204, await response.text()

        began = time.perf_counter()
        await asyncio.gather(*(post(body) for body in bodies))
        elapsed = time.perf_counter() - began
    return len(records) / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--series", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    records = make_records(args.points, args.series)
    print(f"points={len(records)} series={args.series} batch={BATCH}")
    print(f"encoder: {bench_encoder(records):.2f} µs/point")
    with tempfile.TemporaryDirectory() as tmp:
        server = InfluxdServer(Path(tmp) / "influxd")
        server.start()
        try:
            # Alternate the two methods, each run into a new database, and keep
            # the best of each: the machine is shared and noisy.
            raws, sinks = [], []
            for run in range(args.rounds):
                raws.append(await bench_raw(server, records, f"raw_{run}"))
                sinks.append(await bench_sink(server, records, Path(tmp), f"sink_{run}"))
            raw, sink = max(raws), max(sinks)
        finally:
            server.stop()
    print(f"aiohttp, pre-encoded bytes, 2 in flight: {raw:,.0f} points/s")
    print(f"InfluxDBSink.write (encode + post):      {sink:,.0f} points/s")
    print(f"ratio sink / raw: {sink / raw:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
