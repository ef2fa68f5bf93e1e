"""Dashboard latency: a control change to updated figures in Chromium, against
the raw store queries for the same aggregation.

Usage: ``python bench/dashboard_bench.py [--days 90] [--streams 100] [--repeat 5]``

This is the SQLite variant; the InfluxDB one (about 1 million points over 90
days, against raw InfluxQL) is a section of the harness:
``python -m bench --only dashboard`` (:mod:`bench.dashboard`).

Fills a SQLite store with :func:`costpipe.dashboard.sample.sample_records`
(``days * 24 * streams`` hourly rows plus daily billed rows), then, for each
group-by in turn on "Last 30 days", estimated basis (the hourly rows):

* **query**: ``reader.breakdown`` + ``reader.series`` for that group-by, awaited
  directly (the aggregation the charts need);
* **view**: :func:`compute_view`, every query of the page (totals, previous
  range, top N, table, series, unpriced, budgets, filter options);
* **browser**: select the group-by in the page and wait until the table header
  and the render counter show the new view (network, Bokeh patch and layout).

Prints medians in milliseconds. Absolute times are noisy; compare ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from costpipe.components import ComponentContext
from costpipe.config.settings import parse_config
from costpipe.dashboard.periods import Preset, preset_range
from costpipe.dashboard.sample import sample_records
from costpipe.dashboard.server import BackgroundDashboard, DashboardServer
from costpipe.dashboard.viewmodel import GROUP_LABELS, Selection, compute_view
from costpipe.plugins import build_plugin_manager
from costpipe.query.api import Basis, CostQuery, Granularity
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dashboards"))
from screenshot import CHROMIUM, CHROMIUM_ARGS

NOW = datetime(2026, 11, 18, 14, 20, tzinfo=UTC)
GROUPS = ("model", "project_id", "user_id", "provider")


async def fill(path: Path, days: int, streams: int) -> int:
    sink = SQLiteSink(SQLiteConfig(path=path), ComponentContext("sqlite.bench", path.parent))
    await sink.start()
    batch, count = [], 0
    for record in sample_records(NOW, days=days, streams_per_hour=streams):
        batch.append(record)
        if len(batch) == 5000:
            await sink.write(batch)
            count += len(batch)
            batch = []
    await sink.write(batch)
    await sink.close()
    return count + len(batch)


async def measure_queries(path: Path, repeat: int, timezone: str) -> tuple[float, float]:
    sink = SQLiteSink(SQLiteConfig(path=path), ComponentContext("sqlite.bench", path.parent))
    await sink.start()
    reader = sink.reader()
    span = preset_range(Preset.LAST_30_DAYS, NOW, timezone)
    query = CostQuery(span.start, span.end, Basis.ESTIMATED)
    raw, view = [], []
    for _ in range(repeat):
        for by in GROUPS:
            t0 = time.perf_counter()
            await asyncio.gather(
                reader.breakdown(query, by, top=8),
                reader.series(query, Granularity.DAY, timezone, by=by),
            )
            raw.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            await compute_view(
                reader,
                Selection(Preset.LAST_30_DAYS, group_by=by, basis=Basis.ESTIMATED),
                now=NOW,
                timezone=timezone,
            )
            view.append(time.perf_counter() - t0)
    await sink.close()
    return statistics.median(raw) * 1000, statistics.median(view) * 1000


def measure_browser(path: Path, state_dir: Path, repeat: int) -> float:
    _pm, registry = build_plugin_manager(entry_points=False)
    document = {
        "pipeline": {"timezone": "Europe/Berlin", "state_dir": str(state_dir)},
        "sinks": {"sqlite": [{"name": "bench", "path": str(path)}]},
    }
    settings = parse_config(document, registry, env={})
    server = DashboardServer(settings, port=0, clock=lambda: NOW)
    samples = []
    with BackgroundDashboard(server) as port, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{port}/")
        range_line = page.get_by_test_id("range")
        expect(range_line).to_have_attribute("data-generation", "1", timeout=60_000)
        page.locator("select", has=page.locator("option", has_text="Last 30 days")).select_option(
            label="Last 30 days"
        )
        expect(range_line).to_have_attribute("data-generation", "2", timeout=60_000)
        page.get_by_role("button", name="Estimated").click()
        expect(range_line).to_have_attribute("data-generation", "3", timeout=60_000)
        generation = 3
        group_select = page.locator("select", has=page.locator("option", has_text="Project"))
        for _ in range(repeat):
            for by in GROUPS:
                label = GROUP_LABELS[by]
                t0 = time.perf_counter()
                group_select.select_option(label=label)
                generation += 1
                expect(range_line).to_have_attribute(
                    "data-generation", str(generation), timeout=60_000
                )
                expect(page.get_by_test_id("breakdown").locator("th").first).to_have_text(label)
                samples.append(time.perf_counter() - t0)
        browser.close()
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "costs.sqlite"
        t0 = time.perf_counter()
        rows = asyncio.run(fill(path, args.days, args.streams))
        print(f"store: SQLite, {rows:,} rows written in {time.perf_counter() - t0:.1f} s")
        raw, view = asyncio.run(measure_queries(path, args.repeat, "Europe/Berlin"))
        # The browser's sync API runs its own loop: keep it off this thread's.
        with ThreadPoolExecutor(1) as pool:
            browser = pool.submit(measure_browser, path, Path(tmp), args.repeat).result()
    print("last 30 days, estimated basis, group-by change, medians:")
    print(f"  raw aggregation (breakdown + series): {raw:8.1f} ms")
    print(f"  compute_view (every page query):      {view:8.1f} ms")
    print(f"  browser, control change -> figures:   {browser:8.1f} ms")
    print(f"  browser / raw: {browser / raw:.1f}x   browser / view: {browser / view:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
