"""Shared tools of the reliability suite: run the real CLI against the in-process
simulator, read totals back from SQLite and InfluxDB, compare with ground truth.

The simulator runs on the test's event loop, so the CLI must always run as a
child process driven by ``asyncio.create_subprocess_exec`` (never blocking)."""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from costpipe.simulator import Simulator, SimulatorOptions
from costpipe.sinks.influxdb.encoder import stored_tag_value

# The CLI process helpers moved to tests/processes.py (shared by every suite, with
# deadlines that kill instead of hanging); re-exported under their old names.
from tests.processes import Finished as Finished
from tests.processes import kill9 as kill9
from tests.processes import run_cli as run_cli
from tests.processes import start_cli as start_cli

#: A small organisation: every kind of row (awkward values included), few of them.
SMALL_ORG = {"projects": 2, "users": 2, "api_keys": 2, "models_per_user": 1}


def small_options(seed: int, now: datetime | None, **faults: Any) -> SimulatorOptions:
    from costpipe.simulator import FaultOptions

    return SimulatorOptions(seed=seed, now=now, faults=FaultOptions(**faults), **SMALL_ORG)  # type: ignore[arg-type]


def seeded_rng(name: str) -> tuple[int, random.Random]:
    """A seed for this run (``$COSTPIPE_REL_SEED`` reproduces one), printed so a
    failure can be replayed; pytest shows it with the failure output."""
    seed = int(os.environ.get("COSTPIPE_REL_SEED") or random.SystemRandom().randrange(10**6))
    print(f"{name}: seed {seed} (rerun with COSTPIPE_REL_SEED={seed})")
    return seed, random.Random(seed)


def today_midnight() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


def sim_env(*sims: Simulator, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for index, sim in enumerate(sims):
        env[f"SIM{index}_OPENAI_KEY"] = sim.openai_admin_key
        env[f"SIM{index}_ANTHROPIC_KEY"] = sim.anthropic_admin_key
    env.update(extra or {})
    return env


def provider_tables(
    sim: Simulator,
    index: int = 0,
    name: str = "sim",
    kinds: tuple[str, ...] = ("openai", "anthropic"),
    **extra: str,
) -> str:
    """``[[providers.openai]]`` and ``[[providers.anthropic]]`` for *sim*, daily buckets
    (so windows and truth line up on UTC midnights), quick retries."""
    options = "".join(f"{k} = {v}\n" for k, v in extra.items())
    openai, anthropic = (
        f"""
[[providers.openai]]
name = "{name}"
api_key = "${{SIM{index}_OPENAI_KEY}}"
base_url = "{sim.openai_base_url}"
bucket_width = "1d"
retry_backoff = "1s"
retry_wait_max = "2s"
max_retries = 10
{options}
""",
        f"""
[[providers.anthropic]]
name = "{name}"
api_key = "${{SIM{index}_ANTHROPIC_KEY}}"
base_url = "{sim.anthropic_base_url}"
bucket_width = "1d"
retry_backoff = "1s"
retry_wait_max = "2s"
max_retries = 10
{options}
""",
    )
    return ("openai" in kinds) * openai + ("anthropic" in kinds) * anthropic


Totals = dict[str, tuple[Decimal, int, int, int, int, int]]

#: Stores keep money in integer nanodollars, each record rounded half-even
#: (docs/storage.md): a group of n records may differ from the exact sum of the
#: provider's texts by at most n half-nanodollars, never more.
HALF_NANO = Decimal("0.0000000005")


def sqlite_totals(db: Path, name: str | None = None) -> tuple[Totals, Totals, dict[str, int]]:
    """(billed, usage, billed rows) per ``provider|project`` from the SQLite store:
    money in dollars, then the five disjoint token counts. With *name*, only the
    provider instances of that name (``openai.<name>``, ``anthropic.<name>``)."""
    billed: Totals = {}
    usage: Totals = {}
    counts: dict[str, int] = {}
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT basis, provider, project_id, SUM(cost_nanos), SUM(uncached_input_tokens),"
            " SUM(cached_input_tokens), SUM(cache_write_tokens + cache_write_1h_tokens), SUM(output_tokens),"
            # Model requests: Anthropic's web-search rows count searches, not requests.
            " SUM(CASE WHEN line_item = 'web_search' THEN 0 ELSE requests END), COUNT(*)"
            " FROM costs WHERE ? IS NULL OR account = provider || '.' || ?"
            " GROUP BY 1, 2, 3",
            (name, name),
        ).fetchall()
    for basis, provider, project, nanos, *tokens, count in rows:
        key = f"{provider}|{project}"
        target = billed if basis == "billed" else usage
        target[key] = (Decimal(nanos) / 10**9, *(int(t) for t in tokens))  # type: ignore[assignment]
        if basis == "billed":
            counts[key] = count
    return billed, usage, counts


def sqlite_rows(db: Path) -> list[tuple[Any, ...]]:
    """Every stored row's identity and figures: two stores that hold exactly the
    same data give equal lists."""
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT key, cost_nanos, uncached_input_tokens, cached_input_tokens,"
            " cache_write_tokens, output_tokens, requests FROM costs ORDER BY key"
        ).fetchall()


def truth(
    sim: Simulator,
    start: datetime,
    end: datetime,
    providers: tuple[str, ...] = ("openai", "anthropic"),
) -> tuple[dict[str, Decimal], dict[str, tuple[int, ...]]]:
    """Ground truth per ``provider|project``: billed money and usage tokens."""
    money: dict[str, Decimal] = {}
    tokens: dict[str, tuple[int, ...]] = {}
    for provider in providers:
        for group, t in sim.truth(provider, start, end, by="project").items():
            if provider == "anthropic" and group == "":
                group = "default"
            key = f"{provider}|{group}"
            money[key] = t.cost_usd
            tokens[key] = (t.uncached_input, t.cached_input, t.cache_write, t.output, t.requests)
    return money, tokens


def assert_sqlite_exact(
    db: Path,
    sim: Simulator,
    start: datetime,
    end: datetime,
    providers: tuple[str, ...] = ("openai", "anthropic"),
    name: str | None = None,
) -> None:
    """Stored tokens equal the truth exactly; money to the documented nanodollar
    rounding of each record (a lost or doubled record is far outside it)."""
    money, tokens = truth(sim, start, end, providers)
    billed, usage, counts = sqlite_totals(db, name)

    def mine(key: str) -> bool:
        return key.split("|")[0] in providers

    stored_money = {k: v[0] for k, v in billed.items() if v[0] and mine(k)}
    expected_money = {k: v for k, v in money.items() if v}
    assert stored_money.keys() == expected_money.keys(), "billed groups differ"
    for key, value in expected_money.items():
        assert abs(stored_money[key] - value) <= counts[key] * HALF_NANO, (
            f"billed money of {key}: stored {stored_money[key]}, truth {value}"
        )
    stored_tokens = {k: v[1:] for k, v in usage.items() if any(v[1:]) and mine(k)}
    assert stored_tokens == {k: v for k, v in tokens.items() if any(v)}, "tokens differ"


async def influx_query(url: str, database: str, query: str) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/query", params={"db": database, "q": query}) as response,
    ):
        body = await response.json()
    return list(body["results"][0].get("series", []))


async def assert_influx_exact(
    url: str, database: str, sim: Simulator, start: datetime, end: datetime
) -> None:
    money, tokens = truth(sim, start, end)
    series = await influx_query(
        url,
        database,
        "SELECT sum(cost_nanos), count(cost_nanos) FROM ai_costs WHERE cost_source = 'billed'"
        " GROUP BY provider, project_id",
    )
    stored = {
        f"{s['tags']['provider']}|{s['tags']['project_id']}": Decimal(s["values"][0][1]) / 10**9
        for s in series
    }
    counts = {
        f"{s['tags']['provider']}|{s['tags']['project_id']}": int(s["values"][0][2]) for s in series
    }
    # InfluxDB cannot store some tag values verbatim; the encoder's documented rule applies.
    expected = {"|".join(map(stored_tag_value, k.split("|", 1))): v for k, v in money.items() if v}
    assert stored.keys() == expected.keys(), "InfluxDB billed groups differ"
    for key, value in expected.items():
        assert abs(stored[key] - value) <= counts[key] * HALF_NANO, f"InfluxDB money of {key}"
    series = await influx_query(
        url,
        database,
        "SELECT sum(output_tokens), sum(cached_input_tokens), sum(uncached_input_tokens)"
        " FROM ai_costs WHERE cost_source = 'estimated' GROUP BY provider",
    )
    stored_tokens = {s["tags"]["provider"]: tuple(s["values"][0][1:4]) for s in series}
    expected_tokens: dict[str, tuple[int, int, int]] = {}
    for key, value in tokens.items():
        provider = key.split("|")[0]
        out, cached, uncached = expected_tokens.get(provider, (0, 0, 0))
        expected_tokens[provider] = (out + value[3], cached + value[1], uncached + value[0])
    assert stored_tokens == expected_tokens, "InfluxDB tokens differ"


def days(n: int) -> timedelta:
    return timedelta(days=n)
