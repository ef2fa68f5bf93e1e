"""`costpipe backfill` as a user runs it: a real process, the wire-faithful
simulator with faults on, the SQLite store and a real influxd. Totals per day,
model and project equal the simulator's ground truth: to the cent for billed
money, exactly for tokens; a second backfill changes nothing."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from costpipe.simulator import FaultOptions, Simulator, SimulatorOptions
from costpipe.sinks.influxdb.encoder import stored_tag_value
from costpipe.testing.influxd import InfluxdServer

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
SINCE = datetime(2026, 10, 21, tzinfo=UTC)
UNTIL = datetime(2026, 11, 21, tzinfo=UTC)
CENT = Decimal("0.01")

pytestmark = pytest.mark.slow


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    faults = FaultOptions(rate_429=0.2, rate_5xx=0.1, retry_after_s=1)
    sim = Simulator(SimulatorOptions(seed=11, now=NOW, faults=faults))
    await sim.start()
    yield sim
    await sim.stop()


def write_config(path: Path, sim: Simulator, influx_url: str, database: str) -> None:
    path.write_text(
        f"""
[pipeline]
state_dir = "{path.parent / "state"}"
chunk = "10d"

[[providers.openai]]
name = "sim"
api_key = "${{SIM_OPENAI_KEY}}"
base_url = "{sim.openai_base_url}"
retry_backoff = "1s"
max_retries = 8

[[providers.anthropic]]
name = "sim"
api_key = "${{SIM_ANTHROPIC_KEY}}"
base_url = "{sim.anthropic_base_url}"
retry_backoff = "1s"
max_retries = 8

[[sinks.sqlite]]
path = "{path.parent / "costs.sqlite"}"

[[sinks.influxdb]]
url = "{influx_url}"
database = "{database}"
"""
    )


async def backfill(config: Path, sim: Simulator) -> str:
    env = {
        **os.environ,
        "SIM_OPENAI_KEY": sim.openai_admin_key,
        "SIM_ANTHROPIC_KEY": sim.anthropic_admin_key,
    }
    # The simulator runs on this event loop: the CLI must run alongside it, not block it.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "costpipe",
        "--config",
        str(config),
        "--log-format",
        "json",
        "backfill",
        "--since",
        SINCE.date().isoformat(),
        "--until",
        UNTIL.date().isoformat(),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(240):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()[-3000:]
    return out.decode()


def sqlite_totals(db: Path, dimension: str, basis: str) -> dict[str, tuple[Decimal, ...]]:
    with sqlite3.connect(db) as conn:
        group = "date(ts / 1000000, 'unixepoch')" if dimension == "day" else dimension
        rows = conn.execute(
            f"SELECT {group}, provider, SUM(cost_nanos), SUM(uncached_input_tokens),"
            " SUM(cached_input_tokens), SUM(cache_write_tokens + cache_write_1h_tokens), SUM(output_tokens),"
            # Model requests; Anthropic's web-search rows are checked on their own.
            " SUM(CASE WHEN line_item = 'web_search' THEN 0 ELSE requests END)"
            f" FROM costs WHERE basis = ? GROUP BY 1, 2",
            (basis,),
        ).fetchall()
    result: dict[str, tuple[Decimal, ...]] = {}
    for key, provider, nanos, *tokens in rows:
        result[f"{provider}|{key}"] = (Decimal(nanos) / 10**9, *(Decimal(t) for t in tokens))
    return result


def truth_totals(
    sim: Simulator, dimension: str
) -> tuple[dict[str, Decimal], dict[str, tuple[int, ...]]]:
    """Billed money and usage tokens per group, keyed like :func:`sqlite_totals`."""
    money: dict[str, Decimal] = {}
    tokens: dict[str, tuple[int, ...]] = {}
    for provider in ("openai", "anthropic"):
        for group, totals in sim.truth(provider, SINCE, UNTIL, by=dimension).items():
            if dimension == "project" and provider == "anthropic" and group == "":
                group = "default"
            key = f"{provider}|{group}"
            money[key] = totals.cost_usd
            tokens[key] = (
                totals.uncached_input,
                totals.cached_input,
                totals.cache_write,
                totals.output,
                totals.requests,
            )
    return money, tokens


COLUMN = {"day": "day", "model": "model", "project": "project_id"}


def check_sqlite(db: Path, sim: Simulator) -> None:
    for dimension, column in COLUMN.items():
        money, tokens = truth_totals(sim, dimension)
        billed = sqlite_totals(db, column, "billed")
        usage = sqlite_totals(db, column, "estimated")
        stored_money = {k: v[0].quantize(CENT) for k, v in billed.items() if v[0]}
        expected_money = {k: v.quantize(CENT) for k, v in money.items() if v}
        assert expected_money == stored_money, dimension
        stored_tokens = {k: tuple(int(t) for t in v[1:]) for k, v in usage.items() if any(v[1:])}
        expected_tokens = {k: v for k, v in tokens.items() if any(v)}
        assert expected_tokens == stored_tokens, dimension
    # Anthropic's server_tool_use.web_search_requests: rows of their own, exact.
    lo, hi, now = int(SINCE.timestamp()), int(UNTIL.timestamp()), int(NOW.timestamp())
    searches = sum(b.web_search for b in sim.anthropic.bursts(lo, hi, now))
    with sqlite3.connect(db) as conn:
        stored = conn.execute(
            "SELECT SUM(web_search_calls) FROM costs WHERE provider = 'anthropic' AND line_item = 'web_search'"
        ).fetchone()[0]
    assert searches == stored > 0


async def influx_query(url: str, database: str, query: str) -> list[dict[str, Any]]:
    params = {"db": database, "q": query}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/query", params=params) as response,
    ):
        body = await response.json()
    return list(body["results"][0].get("series", []))


async def check_influx(url: str, database: str, sim: Simulator) -> None:
    money, tokens = truth_totals(sim, "project")
    series = await influx_query(
        url,
        database,
        "SELECT sum(cost_nanos) FROM ai_costs WHERE cost_source = 'billed' GROUP BY provider, project_id",
    )
    stored = {
        f"{s['tags']['provider']}|{s['tags']['project_id']}": (
            Decimal(s["values"][0][1]) / 10**9
        ).quantize(CENT)
        for s in series
    }
    # InfluxDB cannot store some tag values verbatim; the encoder's documented rule applies.
    expected = {
        "|".join(map(stored_tag_value, k.split("|", 1))): v.quantize(CENT)
        for k, v in money.items()
        if v
    }
    assert expected == stored
    series = await influx_query(
        url,
        database,
        "SELECT sum(output_tokens), sum(cached_input_tokens) FROM ai_costs"
        " WHERE cost_source = 'estimated' GROUP BY provider",
    )
    stored_tokens = {s["tags"]["provider"]: (s["values"][0][1], s["values"][0][2]) for s in series}
    expected_tokens: dict[str, tuple[int, int]] = {}
    for key, value in tokens.items():
        provider = key.split("|")[0]
        out, cached = expected_tokens.get(provider, (0, 0))
        expected_tokens[provider] = (out + value[3], cached + value[1])
    assert expected_tokens == stored_tokens


async def test_backfill_matches_ground_truth_and_is_idempotent(
    simulator: Simulator, influxd: InfluxdServer, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    write_config(config, simulator, influxd.url, "e2e_backfill")
    await backfill(config, simulator)

    statuses = [
        status
        for counts in simulator.stats()["by_endpoint"].values()  # type: ignore[attr-defined]
        for status in counts
    ]
    assert "429" in statuses
    assert any(s.startswith("5") for s in statuses), "faults were injected and retried"
    db = tmp_path / "costs.sqlite"
    check_sqlite(db, simulator)
    await check_influx(influxd.url, "e2e_backfill", simulator)

    with sqlite3.connect(db) as conn:
        first = conn.execute("SELECT COUNT(*), SUM(cost_nanos) FROM costs").fetchone()
    count_query = "SELECT count(cost_nanos) FROM ai_costs"
    first_points = await influx_query(influxd.url, "e2e_backfill", count_query)

    await backfill(config, simulator)
    with sqlite3.connect(db) as conn:
        assert first == conn.execute("SELECT COUNT(*), SUM(cost_nanos) FROM costs").fetchone()
    assert first_points == await influx_query(influxd.url, "e2e_backfill", count_query)
    check_sqlite(db, simulator)
    await check_influx(influxd.url, "e2e_backfill", simulator)
