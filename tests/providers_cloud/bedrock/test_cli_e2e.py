"""``costpipe backfill`` and ``costpipe check --connect`` as a user runs them:
a real process, credentials from the AWS SDK's environment chain, the fake AWS,
the SQLite store. Billed money per day equals the fake's truth to the cent;
CloudWatch tokens are exact; a second backfill changes nothing."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from costpipe.components import ComponentContext
from costpipe.config.sections import BudgetConfig
from costpipe.dashboard.periods import Preset
from costpipe.dashboard.viewmodel import Selection, compute_budgets, compute_view
from costpipe.query.api import Basis
from costpipe.simulator import Simulator
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
from tests.conftest import StartSimulator
from tests.processes import CliProcesses

pytestmark = pytest.mark.slow

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
SINCE = datetime(2026, 11, 12, tzinfo=UTC)
UNTIL = datetime(2026, 11, 19, tzinfo=UTC)
CENT = Decimal("0.01")


@pytest.fixture
async def sim(start_simulator: StartSimulator) -> Simulator:
    return await start_simulator(seed=13, now=NOW)


def sdk_env(sim: Simulator, key: str, tmp_path: Path) -> dict[str, str]:
    """The SDK's environment credentials, and no shared files or instance role."""
    found = sim.bedrock.key(key)
    return {
        "AWS_ACCESS_KEY_ID": found.access_key_id,
        "AWS_SECRET_ACCESS_KEY": found.secret_access_key,
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def write_config(tmp_path: Path, sim: Simulator) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[pipeline]
state_dir = "{tmp_path / "state"}"
chunk = "3d"

[[providers.bedrock]]
name = "aws"
endpoint_url = "{sim.bedrock_endpoint_url}"

[[sinks.sqlite]]
path = "{tmp_path / "costs.sqlite"}"
"""
    )
    return config


def stored(db: Path) -> tuple[dict[str, Decimal], dict[str, int]]:
    with sqlite3.connect(db) as conn:
        money = conn.execute(
            "SELECT date(ts / 1000000, 'unixepoch'), SUM(cost_nanos) FROM costs"
            " WHERE provider = 'bedrock' AND basis = 'billed' GROUP BY 1"
        ).fetchall()
        tokens = conn.execute(
            "SELECT SUM(uncached_input_tokens), SUM(cached_input_tokens),"
            " SUM(cache_write_tokens), SUM(output_tokens), SUM(requests) FROM costs"
            " WHERE provider = 'bedrock' AND basis = 'estimated'"
        ).fetchone()
    names = ("InputTokenCount", "CacheReadInputTokenCount", "CacheWriteInputTokenCount",
             "OutputTokenCount", "Invocations")  # fmt: skip
    return (
        {day: (Decimal(nanos) / 10**9).quantize(CENT) for day, nanos in money},
        dict(zip(names, tokens, strict=True)),
    )


async def check_product(db: Path, sim: Simulator) -> None:
    """Item 5: the dashboard's provider filter, a budget filtered to Bedrock and
    allocation read Bedrock rows unchanged, with the same exact money."""
    truth = sim.bedrock.truth_billed(SINCE, UNTIL, sim.now())
    sink = SQLiteSink(SQLiteConfig(path=db), ComponentContext("sqlite.0", db.parent))
    await sink.start()
    try:
        reader = sink.reader()
        selection = Selection(
            Preset.MONTH_TO_DATE, basis=Basis.BILLED, filters={"provider": ("bedrock",)}
        )
        view = await compute_view(reader, selection, now=UNTIL)
        assert view.total == truth
        assert "bedrock" in view.filter_options["provider"]
        budget = BudgetConfig(
            name="bedrock", amount_usd=Decimal(1000), period="month",
            filters={"provider": ["bedrock"]}, cost_basis="billed",
        )  # fmt: skip
        (spent,) = await compute_budgets(reader, [budget], now=UNTIL, timezone="UTC")
        assert spent.spend == truth
    finally:
        await sink.close()
    # Allocation: every billed nanodollar is allocated, each cell (day, linked
    # account, usage type) exactly, and most of it over CloudWatch usage rows:
    # the billed model names and ModelIds meet (allocation/bedrock.py).
    cell = "date(ts / 1000000, 'unixepoch'), project_id, line_item"
    with sqlite3.connect(db) as conn:
        billed = dict(_cells(conn, cell, "billed"))
        allocated = dict(_cells(conn, cell, "allocated"))
        matched, unattributed = conn.execute(
            "SELECT SUM(CASE WHEN user_id = 'unattributed' THEN 0 ELSE cost_nanos END),"
            " SUM(CASE WHEN user_id = 'unattributed' THEN cost_nanos ELSE 0 END)"
            " FROM costs WHERE provider = 'bedrock' AND basis = 'allocated'"
        ).fetchone()
        leftover = {
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT line_item FROM costs WHERE provider = 'bedrock'"
                " AND basis = 'allocated' AND user_id = 'unattributed'"
            )
        }
    assert allocated == billed
    assert matched + unattributed == sum(billed.values()) == int(truth * 10**9)
    # Unattributed: usage types that bill no CloudWatch token count, and Llama,
    # whose usage the price table cannot price (unpriced usage takes no share).
    assert leftover == {
        "USE1-ProvisionedThroughput-Claude3Haiku-ModelUnits-Hours",
        "USE1-Guardrails-TextUnits",
        "USW2-Llama3.1-405B-Instruct-batch-output-tokens",
    }
    assert matched / (matched + unattributed) > 0.75  # measured: 0.802 at seed 13


def _cells(conn: sqlite3.Connection, cell: str, basis: str) -> list[tuple[object, int]]:
    rows = conn.execute(
        f"SELECT {cell}, SUM(cost_nanos) FROM costs"
        " WHERE provider = 'bedrock' AND basis = ? GROUP BY 1, 2, 3",
        (basis,),
    ).fetchall()
    return [(tuple(row[:3]), row[3]) for row in rows]


async def test_backfill_is_exact_to_the_cent(
    sim: Simulator, tmp_path: Path, costpipe_cli: CliProcesses
) -> None:
    config = write_config(tmp_path, sim)
    env = sdk_env(sim, "FULL", tmp_path)
    args = ("backfill", "--since", SINCE.date().isoformat(), "--until", UNTIL.date().isoformat())
    finished = await costpipe_cli.run(config, *args, env=env, limit=240)
    assert finished.code == 0, finished.err[-3000:]
    money, tokens = stored(tmp_path / "costs.sqlite")
    expected = {}
    day = SINCE
    while day < UNTIL:
        expected[day.date().isoformat()] = sim.bedrock.truth_billed(
            day, day + timedelta(days=1), sim.now()
        ).quantize(CENT)
        day += timedelta(days=1)
    assert money == expected
    assert tokens == sim.bedrock.truth_usage(SINCE, UNTIL, sim.now())
    assert env["AWS_SECRET_ACCESS_KEY"] not in finished.out + finished.err

    await check_product(tmp_path / "costs.sqlite", sim)

    again = await costpipe_cli.run(config, *args, env=env, limit=240)
    assert again.code == 0, again.err[-3000:]
    assert stored(tmp_path / "costs.sqlite") == (money, tokens)


async def test_check_connect_names_the_missing_permission(
    sim: Simulator, tmp_path: Path, costpipe_cli: CliProcesses
) -> None:
    config = write_config(tmp_path, sim)
    denied = await costpipe_cli.run(
        config, "check", "--connect", env=sdk_env(sim, "NOCW", tmp_path)
    )
    row = next(line for line in denied.out.splitlines() if line.startswith("bedrock.aws"))
    assert denied.code == 1, denied.out + denied.err
    assert "FAILED" in row
    assert "missing IAM permission cloudwatch:GetMetricData" in denied.out

    allowed = await costpipe_cli.run(
        config, "check", "--connect", env=sdk_env(sim, "FULL", tmp_path)
    )
    row = next(line for line in allowed.out.splitlines() if line.startswith("bedrock.aws"))
    assert " ok " in row, allowed.out + allowed.err
    assert "a month" in allowed.out
