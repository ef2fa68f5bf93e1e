"""`costpipe backfill` and `costpipe check --connect` as a user runs them: a real
process signing in with a service-account key (real gcloud-aio-auth, a JWT
signed by a key generated here), the BigQuery fake polling, paging and
throttling, the SQLite store. Per-day billed money (gross and credits) equals
the fake's ground truth to the cent; the dashboard's provider filter and a
provider-filtered budget read the rows unchanged."""

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
from costpipe.simulator.gcp_billing_api import API_ROOT, TOKEN_PATH
from costpipe.sinks.sqlite.reader import SQLiteReader
from costpipe.sinks.sqlite.store import SQLiteDatabase

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
SINCE = datetime(2026, 11, 10, tzinfo=UTC)
UNTIL = datetime(2026, 11, 20, tzinfo=UTC)
CENT = Decimal("0.01")

pytestmark = pytest.mark.slow


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(SimulatorOptions(seed=5, now=NOW))
    simulator.gcp.incomplete_polls = 1
    await simulator.start()
    yield simulator
    await simulator.stop()


async def run_cli(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "costpipe",
        "--config",
        str(config),
        "--log-format",
        "json",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    async with asyncio.timeout(180):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def provider_table(sim: Simulator, tmp_path: Path, name: str, email: str, extra: str = "") -> str:
    key = sim.gcp.service_account_file(email, tmp_path / f"{name}.json", sim.base_url + TOKEN_PATH)
    return f"""
[[providers.gcp_billing]]
name = "{name}"
table = "{sim.gcp.table}"
api_root = "{sim.base_url}{API_ROOT}"
credentials_file = "{key}"
retry_backoff = "1s"
{extra}
"""


def per_day(sim: Simulator, day: datetime) -> Decimal:
    gross, credits = sim.gcp.truth(day, day + timedelta(days=1), NOW)
    return gross + credits


async def test_backfill_equals_truth_per_day(sim: Simulator, tmp_path: Path) -> None:
    config = tmp_path / "costpipe.toml"
    db = tmp_path / "costs.sqlite"
    config.write_text(
        f'[pipeline]\nstate_dir = "{tmp_path / "state"}"\nchunk = "5d"\n'
        + provider_table(sim, tmp_path, "gcp", sim.gcp.reader, 'label_keys = ["team"]')
        + f'\n[[sinks.sqlite]]\npath = "{db}"\n'
    )
    code, out, err = await run_cli(
        config, "backfill", "--since", SINCE.date().isoformat(), "--until", UNTIL.date().isoformat()
    )
    assert code == 0, err[-3000:]
    assert sim.gcp.throttled > 0
    assert sim.gcp.polls > 0
    with sqlite3.connect(db) as conn:
        stored = dict(
            conn.execute(
                "SELECT date(ts / 1000000, 'unixepoch'), SUM(cost_nanos) FROM costs "
                "WHERE provider = 'gcp_billing' AND basis = 'billed' GROUP BY 1"
            ).fetchall()
        )
        allocated = dict(
            conn.execute(
                "SELECT date(ts / 1000000, 'unixepoch'), SUM(cost_nanos) FROM costs "
                "WHERE provider = 'gcp_billing' AND basis = 'allocated' GROUP BY 1"
            ).fetchall()
        )
        credits = conn.execute(
            "SELECT SUM(cost_nanos) FROM costs WHERE provider = 'gcp_billing' "
            "AND basis = 'billed' AND line_item LIKE '%[credit %'"
        ).fetchone()[0]
    day = SINCE
    while day < UNTIL:
        # The fake's amounts have 9 decimals: integer nanodollars are exact.
        assert Decimal(stored[day.date().isoformat()]) / 10**9 == per_day(sim, day), day
        day += timedelta(days=1)
    assert len(stored) == 10
    # Allocation runs unchanged on the cloud rows: with no usage stream, each day's
    # bill (credits included) is carried over whole, not lost.
    assert allocated == stored
    assert Decimal(credits) / 10**9 == sim.gcp.truth(SINCE, UNTIL, NOW)[1]
    await check_dashboard_and_budget(db, sim)
    for email in sim.gcp.grants:
        assert sim.gcp.token_for(email) not in out + err
    assert "PRIVATE KEY" not in out + err


async def test_check_connect_names_each_missing_permission(sim: Simulator, tmp_path: Path) -> None:
    config = tmp_path / "costpipe.toml"
    emails = {e.split("@")[0]: e for e in sim.gcp.grants}
    config.write_text(
        f'[pipeline]\nstate_dir = "{tmp_path / "state"}"\n'
        + provider_table(sim, tmp_path, "good", emails["costpipe-reader"])
        + provider_table(sim, tmp_path, "nojobs", emails["no-job-user"])
        + provider_table(sim, tmp_path, "nodata", emails["no-data-viewer"])
        + provider_table(sim, tmp_path, "wrongtable", sim.gcp.reader).replace(
            sim.gcp.table, sim.gcp.table + "_typo"
        )
        + f'\n[[sinks.sqlite]]\npath = "{tmp_path / "c.sqlite"}"\n'
    )
    code, out, err = await run_cli(config, "check", "--connect")
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert code == 1, out + err
    assert " ok " in rows["gcp_billing.good"], out
    assert "FAILED" in rows["gcp_billing.nojobs"]
    assert "roles/bigquery.jobUser" in rows["gcp_billing.nojobs"]
    assert "bigquery.jobs.create" in rows["gcp_billing.nojobs"]
    assert "FAILED" in rows["gcp_billing.nodata"]
    assert "roles/bigquery.dataViewer" in rows["gcp_billing.nodata"]
    assert "FAILED" in rows["gcp_billing.wrongtable"]
    assert "Not found: Table" in rows["gcp_billing.wrongtable"]
    for email in sim.gcp.grants:
        assert sim.gcp.token_for(email) not in out + err


async def check_dashboard_and_budget(db: Path, sim: Simulator) -> None:
    """The dashboard's provider filter and a budget filtered to the provider read
    the backfilled rows through the same query layer, unchanged."""
    database = SQLiteDatabase(db)
    try:
        reader = SQLiteReader(database)
        budget = BudgetConfig(
            name="gcp",
            amount_usd=Decimal(1),
            period="month",
            cost_basis="billed",
            filters={"provider": ["gcp_billing"]},
        )
        view = await compute_view(
            reader,
            Selection(
                preset=Preset.LAST_7_DAYS,
                basis=Basis.BILLED,
                filters={"provider": ("gcp_billing",)},
            ),
            now=UNTIL,
            budgets=[budget],
        )
    finally:
        database.close()
    assert "gcp_billing" in view.filter_options["provider"]
    gross, credits = sim.gcp.truth(view.range.start, view.range.end, NOW)
    assert abs(view.total - (gross + credits)) < CENT
    (card,) = view.budgets
    month = sim.gcp.truth(SINCE, UNTIL, NOW)
    assert abs(card.spend - (month[0] + month[1])) < CENT


async def test_workload_identity_through_the_metadata_server(
    sim: Simulator, tmp_path: Path
) -> None:
    """No credentials_file: the token comes from the metadata server (GKE Workload
    Identity), which gcloud-aio-auth finds through GCE_METADATA_HOST."""
    config = tmp_path / "costpipe.toml"
    config.write_text(
        f'[pipeline]\nstate_dir = "{tmp_path / "state"}"\n'
        f'[[providers.gcp_billing]]\nname = "gke"\ntable = "{sim.gcp.table}"\n'
        f'api_root = "{sim.base_url}{API_ROOT}"\nretry_backoff = "1s"\n'
        f'\n[[sinks.sqlite]]\npath = "{tmp_path / "c.sqlite"}"\n'
    )
    host = sim.base_url.removeprefix("http://")
    code, out, err = await run_cli(config, "check", "--connect", env={"GCE_METADATA_HOST": host})
    assert code == 0, out + err
    assert " ok " in next(line for line in out.splitlines() if line.startswith("gcp_billing.gke"))
    sim.gcp.metadata_identity = next(e for e in sim.gcp.grants if "no-job-user" in e)
    code, out, err = await run_cli(config, "check", "--connect", env={"GCE_METADATA_HOST": host})
    assert code == 1
    assert "roles/bigquery.jobUser" in out
