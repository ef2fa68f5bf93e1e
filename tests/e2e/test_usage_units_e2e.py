"""`costpipe backfill` of every OpenAI usage endpoint against the simulator:
each new counter (audio and image tokens, images, speech characters,
transcription seconds, vector-store byte-days, sessions, file- and web-search
calls) is stored exactly as the ground truth counts it, in SQLite and in a real
influxd, in total and per project; the line items keep image sizes and web-search
context levels apart; a second backfill changes nothing."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from costpipe.records import TOKEN_FIELDS
from costpipe.simulator import Simulator, SimulatorOptions, Totals
from costpipe.testing.influxd import InfluxdServer

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
SINCE = datetime(2026, 11, 10, tzinfo=UTC)
UNTIL = datetime(2026, 11, 21, tzinfo=UTC)

#: Record counter -> the truth's name for it (the text categories are short there).
TRUTH_NAME = {
    "uncached_input_tokens": "uncached_input",
    "cached_input_tokens": "cached_input",
    "cache_write_tokens": "cache_write",
    "output_tokens": "output",
}
#: The counters this test pins: every counter of the OpenAI records but the 1-hour
#: cache writes, which OpenAI does not have.
COUNTERS = [name for name in TOKEN_FIELDS if name != "cache_write_1h_tokens"]
NEW = COUNTERS[COUNTERS.index("requests") + 1 :]

pytestmark = pytest.mark.slow


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator(SimulatorOptions(seed=5, now=NOW))
    await sim.start()
    yield sim
    await sim.stop()


async def backfill(sim: Simulator, tmp_path: Path, influx_url: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[pipeline]
state_dir = "{tmp_path / "state"}"

[[providers.openai]]
name = "sim"
api_key = "${{SIM_OPENAI_KEY}}"
base_url = "{sim.openai_base_url}"

[[sinks.sqlite]]
path = "{tmp_path / "costs.sqlite"}"

[[sinks.influxdb]]
url = "{influx_url}"
database = "e2e_units"
"""
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "costpipe",
        "--config",
        str(config),
        "backfill",
        "--since",
        SINCE.date().isoformat(),
        "--until",
        UNTIL.date().isoformat(),
        env={**os.environ, "SIM_OPENAI_KEY": sim.openai_admin_key},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(240):
        _, err = await process.communicate()
    assert process.returncode == 0, err.decode()[-3000:]


def expected(totals: Totals) -> dict[str, int]:
    values = asdict(totals)
    return {name: values[TRUTH_NAME.get(name, name)] for name in COUNTERS}


def sqlite_sums(db: Path, group: str) -> dict[str, dict[str, int]]:
    sums = ", ".join(f"SUM({name})" for name in COUNTERS)
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            f"SELECT {group}, {sums} FROM costs WHERE basis = 'estimated' GROUP BY 1"
        ).fetchall()
    return {str(key): dict(zip(COUNTERS, values, strict=True)) for key, *values in rows}


async def influx_sums(url: str) -> dict[str, int]:
    sums = ", ".join(f'sum("{name}") AS "{name}"' for name in COUNTERS)
    query = f"SELECT {sums} FROM ai_costs WHERE cost_source = 'estimated'"
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/query", params={"db": "e2e_units", "q": query}) as response,
    ):
        body: dict[str, Any] = await response.json()
    [series] = body["results"][0]["series"]
    values = dict(zip(series["columns"], series["values"][0], strict=True))
    return {name: int(values[name]) for name in COUNTERS}


async def test_every_usage_unit_is_stored_exactly_in_sqlite_and_influxdb(
    simulator: Simulator, influxd: InfluxdServer, tmp_path: Path
) -> None:
    await backfill(simulator, tmp_path, influxd.url)
    db = tmp_path / "costs.sqlite"
    total = expected(simulator.truth("openai", SINCE, UNTIL)["total"])
    assert all(total[name] > 0 for name in NEW), total  # every unit is exercised
    assert total == sqlite_sums(db, "'all'")["all"]
    assert total == await influx_sums(influxd.url)

    by_project = {
        project: expected(totals)
        for project, totals in simulator.truth("openai", SINCE, UNTIL, "project").items()
    }
    stored = sqlite_sums(db, "project_id")
    assert {k: v for k, v in by_project.items() if any(v.values())} == {
        k: v for k, v in stored.items() if any(v.values())
    }

    with sqlite3.connect(db) as conn:
        line_items = {row[0] for row in conn.execute("SELECT DISTINCT line_item FROM costs")}
    assert {
        "images, 1024x1024, image.generation",
        "images, 1536x1024, image.edit",
        "images, 1024x1792, image.generation",
        "audio_speeches",
        "audio_transcriptions",
        "moderations",
        "vector_stores",
        "code_interpreter_sessions",
        "file_search_calls",
        "web_search_calls, low",
        "web_search_calls, medium",
        "web_search_calls, high",
    } <= line_items

    # Idempotent: the same keys, the same counts.
    await backfill(simulator, tmp_path, influxd.url)
    assert total == sqlite_sums(db, "'all'")["all"]
    assert total == await influx_sums(influxd.url)
