"""How fast the simulator serves large organisations (rows per second over HTTP).

    .venv/bin/python bench/simulator_bench.py [--users 2000] [--days 1]

Serves OpenAI hourly completions usage grouped by user and model, all pages,
and reports rows, pages, seconds and rows/s; then the same window's truth.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

import aiohttp

from costpipe.simulator import SimulatorOptions, run_simulator

NOW = datetime(2026, 3, 11, 15, tzinfo=UTC)


async def main(users: int, days: int) -> None:
    options = SimulatorOptions(
        seed=1, now=NOW, users=users, projects=max(4, users // 50), api_keys=max(5, users // 20)
    )
    start = NOW - timedelta(days=days)
    async with run_simulator(options) as sim, aiohttp.ClientSession() as session:
        print(f"streams: openai {len(sim.openai.streams)}, anthropic {len(sim.anthropic.streams)}")
        for label in ("cold", "warm"):
            rows = pages = 0
            cursor: str | None = None
            began = time.perf_counter()
            while True:
                params = [
                    ("start_time", str(int(start.timestamp()))),
                    ("bucket_width", "1h"),
                    ("limit", "24"),
                    ("group_by", "user_id"),
                    ("group_by", "model"),
                    *([("page", cursor)] if cursor else []),
                ]
                async with session.get(
                    sim.openai_base_url + "/organization/usage/completions",
                    params=params,
                    headers={"Authorization": f"Bearer {sim.openai_admin_key}"},
                ) as response:
                    page = await response.json()
                pages += 1
                rows += sum(len(b["results"]) for b in page["data"])
                if not page["has_more"]:
                    break
                cursor = page["next_page"]
            took = time.perf_counter() - began
            print(f"{label}: {rows} rows in {pages} pages, {took:.2f} s, {rows / took:,.0f} rows/s")
        began = time.perf_counter()
        sim.truth("openai", start, NOW, "user")
        print(f"truth by user: {time.perf_counter() - began:.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--days", type=int, default=1)
    ns = parser.parse_args()
    asyncio.run(main(ns.users, ns.days))
