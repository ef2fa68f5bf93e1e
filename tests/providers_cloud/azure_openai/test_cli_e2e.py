"""`costpipe backfill` and `costpipe check --connect` as a user runs them: a real
process signing in through the simulator's managed-identity endpoint (real
azure-identity), the Query API fake paging and throttling, the SQLite store.
Per-day billed money equals the fake's ground truth to the cent; Azure Monitor
token counts equal the fake's exactly; allocation conserves each day's bill; the
dashboard's provider filter and a provider-filtered budget read the rows unchanged."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from costpipe.config.sections import BudgetConfig
from costpipe.dashboard.periods import Preset
from costpipe.dashboard.viewmodel import Selection, compute_view
from costpipe.query.api import Basis
from costpipe.simulator import Simulator, SimulatorOptions
from costpipe.simulator.azure_openai_api import MSI_PATH
from costpipe.simulator.azure_openai_world import MONITORED
from costpipe.sinks.sqlite.reader import SQLiteReader
from costpipe.sinks.sqlite.store import SQLiteDatabase

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
SINCE = datetime(2026, 10, 21, tzinfo=UTC)
UNTIL = datetime(2026, 11, 20, tzinfo=UTC)  # the fake's today is not complete yet
CENT = Decimal("0.01")

pytestmark = pytest.mark.slow


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(SimulatorOptions(seed=5, now=NOW))
    simulator.azure.throttle_seconds = 1
    simulator.azure.throttle_every = 4
    await simulator.start()
    yield simulator
    await simulator.stop()


def environment(sim: Simulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MSI_", "IDENTITY_"))}
    env["IDENTITY_ENDPOINT"] = sim.base_url + MSI_PATH
    env["IDENTITY_HEADER"] = sim.azure.identity_header
    return env


async def run_cli(config: Path, sim: Simulator, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "costpipe",
        "--config",
        str(config),
        "--log-format",
        "json",
        *args,
        env=environment(sim),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(180):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def monitored(sim: Simulator) -> list[str]:
    return [
        f"{sim.azure.scope}/resourceGroups/{r.group}/providers/Microsoft.CognitiveServices/"
        f"accounts/{r.account}"
        for r in sim.azure.resources
        if r.account in MONITORED
    ]


def all_resources(sim: Simulator) -> list[str]:
    return [
        f"{sim.azure.scope}/resourceGroups/{r.group}/providers/Microsoft.CognitiveServices/"
        f"accounts/{r.account}"
        for r in sim.azure.resources
    ]


def provider_table(sim: Simulator, name: str, extra: str = "") -> str:
    return f"""
[[providers.azure_openai]]
name = "{name}"
scope = "{sim.azure.scope}"
management_url = "{sim.base_url}"
retry_backoff = "1s"
{extra}
"""


async def test_backfill_equals_truth_per_day(sim: Simulator, tmp_path: Path) -> None:
    config = tmp_path / "costpipe.toml"
    db = tmp_path / "costs.sqlite"
    config.write_text(
        f'[pipeline]\nstate_dir = "{tmp_path / "state"}"\nchunk = "10d"\n'
        + provider_table(sim, "azure", f"resources = {monitored(sim)!r}".replace("'", '"'))
        + f'\n[[sinks.sqlite]]\npath = "{db}"\n'
    )
    code, out, err = await run_cli(
        config,
        sim,
        "backfill",
        "--since",
        SINCE.date().isoformat(),
        "--until",
        UNTIL.date().isoformat(),
    )
    assert code == 0, err[-3000:]
    assert sim.azure.throttled > 0
    with sqlite3.connect(db) as conn:
        stored = {
            day: (nanos, count)
            for day, nanos, count in conn.execute(
                "SELECT date(ts / 1000000, 'unixepoch'), SUM(cost_nanos), COUNT(*) FROM costs "
                "WHERE provider = 'azure_openai' AND basis = 'billed' GROUP BY 1"
            ).fetchall()
        }
    day = SINCE
    days = 0
    while day < UNTIL:
        truth = sim.azure.truth(day, day + timedelta(days=1), NOW)
        nanos, count = stored[day.date().isoformat()]
        money = Decimal(nanos) / 10**9
        # Stores keep integer nanodollars per record; the fake's amounts carry 11
        # decimals, so each record may round by half a nanodollar, never more.
        assert abs(money - truth) <= count * Decimal("0.0000000005"), day
        assert money.quantize(CENT) == truth.quantize(CENT), day
        day += timedelta(days=1)
        days += 1
    assert days == 30
    with sqlite3.connect(db) as conn:
        prompt, generated, requests = conn.execute(
            "SELECT SUM(uncached_input_tokens), SUM(output_tokens), SUM(requests) FROM costs "
            "WHERE provider = 'azure_openai' AND cost_source IN ('estimated', 'unpriced')"
        ).fetchone()
        allocated = dict(
            conn.execute(
                "SELECT date(ts / 1000000, 'unixepoch'), SUM(cost_nanos) FROM costs "
                "WHERE provider = 'azure_openai' AND basis = 'allocated' GROUP BY 1"
            ).fetchall()
        )
        split = conn.execute(
            "SELECT COUNT(*) FROM costs WHERE provider = 'azure_openai' AND basis = 'allocated'"
            " AND line_item = 'gpt 4o 0806 Outp glbl Tokens' AND user_id != 'unattributed'"
        ).fetchone()[0]
    assert (prompt, generated, requests) == sim.azure.usage_truth(SINCE, UNTIL, NOW)
    # Meter models (gpt-4o from "gpt 4o 0806 ...") match Azure Monitor's ModelName,
    # so part of each bill is split over the deployments' usage rows.
    assert split > 0
    # Allocation runs unchanged on the cloud rows: each day's bill is conserved.
    assert allocated == {day: nanos for day, (nanos, _) in stored.items()}
    await check_dashboard_and_budget(db, sim)
    assert sim.azure.identity_header not in out + err
    assert sim.azure.reader_token not in out + err


async def test_check_connect_names_the_missing_role(sim: Simulator, tmp_path: Path) -> None:
    config = tmp_path / "costpipe.toml"
    config.write_text(
        f'[pipeline]\nstate_dir = "{tmp_path / "state"}"\n'
        + provider_table(sim, "good")
        + provider_table(sim, "norole", f'client_id = "{sim.azure.no_role_client_id}"')
        + provider_table(sim, "nometrics", f"resources = {all_resources(sim)!r}".replace("'", '"'))
        + provider_table(sim, "wrongscope", "").replace(
            sim.azure.scope, "/subscriptions/00000000-0000-0000-0000-000000000000"
        )
        + f'\n[[sinks.sqlite]]\npath = "{tmp_path / "c.sqlite"}"\n'
    )
    code, out, err = await run_cli(config, sim, "check", "--connect")
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert code == 1, out + err
    assert " ok " in rows["azure_openai.good"], out
    assert "FAILED" in rows["azure_openai.norole"]
    assert "Cost Management Reader" in out + err
    assert "Microsoft.CostManagement/query/action" in out + err
    assert "FAILED" in rows["azure_openai.wrongscope"]
    assert "subscription could not be found" in rows["azure_openai.wrongscope"]
    assert "check `scope`" in rows["azure_openai.wrongscope"]
    assert "FAILED" in rows["azure_openai.nometrics"]
    assert "Monitoring Reader" in rows["azure_openai.nometrics"]
    assert "Microsoft.Insights/metrics/read" in rows["azure_openai.nometrics"]
    assert sim.azure.no_role_token not in out + err


async def check_dashboard_and_budget(db: Path, sim: Simulator) -> None:
    """The dashboard's provider filter and a budget filtered to the provider read
    the backfilled rows through the same query layer, unchanged."""
    database = SQLiteDatabase(db)
    try:
        reader = SQLiteReader(database)
        at = UNTIL  # the dashboard at midnight after the last backfilled day
        budget = BudgetConfig(
            name="azure",
            amount_usd=Decimal(1),
            period="month",
            cost_basis="billed",
            filters={"provider": ["azure_openai"]},
        )
        view = await compute_view(
            reader,
            Selection(
                preset=Preset.LAST_7_DAYS,
                basis=Basis.BILLED,
                filters={"provider": ("azure_openai",)},
            ),
            now=at,
            budgets=[budget],
        )
    finally:
        database.close()
    assert "azure_openai" in view.filter_options["provider"]
    truth = sim.azure.truth(view.range.start, view.range.end, NOW)
    assert abs(view.total - truth) < CENT
    month = datetime(2026, 11, 1, tzinfo=UTC)
    (card,) = view.budgets
    assert abs(card.spend - sim.azure.truth(month, UNTIL, NOW)) < CENT
