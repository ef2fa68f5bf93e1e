"""Memory of ``costpipe export``: peak RSS of the real command as the rows grow.

``python -m bench.export [--rows 1000000,3000000] [--stores sqlite,influxdb]``

Each size is a store filled with that many daily records (distinct users,
models and days, so none sum together and the export writes one row per
record, two FOCUS rows per record: input and output tokens), then
``costpipe export --format focus`` (or ``--format csv``: costpipe's columns, one row a
record) runs as a subprocess writing to a file. The
peak is ``VmHWM`` from ``/proc/<pid>/status`` polled every 0.1 s (as
``bench/memory.py`` does for the backfill). A streaming export keeps the peak
flat: the figure at 3M rows is about the figure at 1M. Results go to
``bench/results/export.json`` and are quoted in ``docs/export.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import PYTHONPATH, ROOT, loadavg, machine
from costpipe.components import ComponentContext
from costpipe.records import CostRecord, CostSource
from costpipe.sinks.influxdb.config import InfluxDBConfig
from costpipe.sinks.influxdb.writer import InfluxDBSink
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
from costpipe.testing.influxd import InfluxdServer, find_influxd

__all__ = ["export_peak", "main", "records"]

START = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
USERS_PER_DAY = 10_000
MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini")
BATCH = 5_000


def records(count: int) -> Iterator[list[CostRecord]]:
    """*count* daily usage records in batches: 3 models x 10,000 users a day."""
    batch: list[CostRecord] = []
    for index in range(count):
        day, rest = divmod(index, USERS_PER_DAY * len(MODELS))
        model, user = divmod(rest, USERS_PER_DAY)
        batch.append(
            CostRecord(
                start=START + day * DAY,
                width=DAY,
                provider="openai",
                account="bench",
                cost_source=CostSource.ESTIMATED,
                cost_usd=Decimal(index % 997 + 1).scaleb(-6),
                model=MODELS[model],
                user_id=f"user-{user:05d}",
                project_id=f"proj_{user % 40:02d}",
                uncached_input_tokens=1000 + index % 5000,
                output_tokens=200 + index % 700,
                requests=1 + index % 9,
            )
        )
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def fill(store: str, directory: Path, count: int, influx_url: str) -> None:
    context = ComponentContext(f"{store}.bench", directory / "state")
    context.state_dir.mkdir(parents=True, exist_ok=True)
    if store == "sqlite":
        sink: Any = SQLiteSink(SQLiteConfig(path=directory / "costs.sqlite"), context)
    else:
        config = InfluxDBConfig(url=influx_url, database=directory.name, batch_size=5_000)
        sink = InfluxDBSink(config, context)
    await sink.start()
    try:
        for batch in records(count):
            await sink.write(batch)
    finally:
        await sink.close()


def write_config(directory: Path, influx_url: str) -> Path:
    path = directory / "config.toml"
    path.write_text(
        f'[pipeline]\nstate_dir = "{directory / "state"}"\n\n'
        f'[[sinks.sqlite]]\nname = "bench"\npath = "{directory / "costs.sqlite"}"\n\n'
        f'[[sinks.influxdb]]\nname = "bench"\nurl = "{influx_url}"\ndatabase = "{directory.name}"\n',
        encoding="utf-8",
    )
    return path


def _status_kib(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) in KiB; (0, 0) once the process is gone."""
    found = {"VmHWM:": 0, "VmRSS:": 0}
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if parts and parts[0] in found:
                    found[parts[0]] = int(parts[1])
    except OSError:
        pass
    return found["VmHWM:"], found["VmRSS:"]


def export_peak(
    config: Path, store: str, count: int, out: Path, fmt: str = "focus"
) -> dict[str, Any]:
    """Run one ``costpipe export``; its peak RSS, RSS samples, seconds and rows."""
    days = -(-count // (USERS_PER_DAY * len(MODELS)))
    command = [
        sys.executable, "-m", "costpipe", "--config", str(config), "--log-level", "error",
        "export", "--store", store, "--basis", "estimated", "--format", fmt,
        "--since", START.isoformat(), "--until", (START + days * DAY).isoformat(), "-o", str(out),
    ]  # fmt: skip
    began = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_kib, samples, done = 0, [], threading.Event()

    def poll() -> None:
        nonlocal peak_kib
        tick = 0
        while not done.wait(0.1):
            hwm, rss = _status_kib(process.pid)
            peak_kib = max(peak_kib, hwm)
            tick += 1
            if tick % 20 == 0 and rss:
                samples.append(round(rss / 1024))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    assert process.stderr is not None
    errors = process.stderr.read().decode()
    process.wait()
    done.set()
    poller.join()
    if process.returncode != 0:
        raise RuntimeError(f"export failed ({process.returncode}): {errors[-2000:]}")
    with out.open("rb") as fh:
        rows = sum(1 for _ in fh) - 1
    return {
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "rss_samples_mib": samples,
        "seconds": round(time.perf_counter() - began, 1),
        "rows_written": rows,
        "file_mib": round(out.stat().st_size / 2**20, 1),
        "summary": errors.strip().splitlines()[-1] if errors.strip() else "",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__)
    parser.add_argument("--rows", default="1000000,3000000", help="record counts, comma-separated")
    parser.add_argument("--stores", default="sqlite,influxdb", help="stores, comma-separated")
    parser.add_argument("--format", default="focus", help="focus (two rows a record) or csv (one)")
    parser.add_argument("--output", type=Path, default=Path(ROOT) / "bench/results/export.json")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "runs": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        server = InfluxdServer(Path(tmp) / "influxd", find_influxd())
        server.start()
        try:
            for store in args.stores.split(","):
                for count in (int(n) for n in args.rows.split(",")):
                    directory = Path(tmp) / f"{store}_{count}"
                    directory.mkdir()
                    began = time.perf_counter()
                    asyncio.run(fill(store, directory, count, server.url))
                    filled = round(time.perf_counter() - began, 1)
                    config = write_config(directory, server.url)
                    run = export_peak(config, store, count, directory / "focus.csv", args.format)
                    run["format"] = args.format
                    run["records"] = count
                    run["fill_seconds"] = filled
                    results["runs"][f"{store}_{count}"] = run
                    print(f"{store} {count:>9,} records: {json.dumps(run)}", flush=True)
                    (directory / "focus.csv").unlink()
        finally:
            server.stop()
    results["loadavg_after"] = loadavg()
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
