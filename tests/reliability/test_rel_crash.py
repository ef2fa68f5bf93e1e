"""Crash safety: ``kill -9`` of ``costpipe backfill`` and ``costpipe run`` at
seeded random moments, then a restart. The stores (SQLite and a real influxd)
end with exactly the simulator's ground truth, and every budget alert reaches
the webhook receiver under one stable id: never lost, and repeated only with
the same id (a kill between the receiver's acknowledgement and the outbox's
"sent" commit may repeat it; the id lets the receiver drop it)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from costpipe.simulator import Simulator
from costpipe.testing.influxd import InfluxdServer

from .support import (
    assert_influx_exact,
    assert_sqlite_exact,
    kill9,
    provider_tables,
    run_cli,
    seeded_rng,
    sim_env,
    small_options,
    start_cli,
    today_midnight,
)
from .webhook_receiver import WebhookReceiver

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
SINCE = datetime(2026, 10, 21, tzinfo=UTC)
UNTIL = datetime(2026, 11, 20, tzinfo=UTC)
KILLS = 5

pytestmark = pytest.mark.slow


@pytest.fixture
async def slow_sim() -> AsyncIterator[Simulator]:
    # Latency stretches a backfill over a couple of seconds, so kills land mid-way;
    # 429s and 5xx make the kills land during retries too.
    sim = Simulator(small_options(21, NOW, latency_ms=15, rate_429=0.1, rate_5xx=0.05))
    await sim.start()
    yield sim
    await sim.stop()


def requests(sim: Simulator) -> int:
    return int(sim.stats()["total"])  # type: ignore[call-overload]


async def wait_pages(sim: Simulator, total: int, process: asyncio.subprocess.Process) -> None:
    """Until the simulator has answered *total* requests or the process ended."""
    # Polling: the counter belongs to another server, there is no event to wait on.
    while requests(sim) < total and process.returncode is None:  # noqa: ASYNC110
        await asyncio.sleep(0.005)


async def test_backfill_killed_at_random_pages_then_resumed_is_exact(
    slow_sim: Simulator, influxd: InfluxdServer, tmp_path: Path
) -> None:
    seed, rng = seeded_rng("backfill kill -9")
    config = tmp_path / "config.toml"
    database = f"rel_crash_backfill_{seed}"
    config.write_text(
        f'[pipeline]\nstate_dir = "{tmp_path / "state"}"\nchunk = "2d"\n'
        + provider_tables(slow_sim)
        + f'[[sinks.sqlite]]\npath = "{tmp_path / "costs.sqlite"}"\n'
        + f'[[sinks.influxdb]]\nurl = "{influxd.url}"\ndatabase = "{database}"\n'
    )
    env = sim_env(slow_sim)
    args = ("backfill", "--since", SINCE.date().isoformat(), "--until", UNTIL.date().isoformat())
    # A full backfill is ~75 pages plus retries; kill after a random number of
    # further pages each time, so the five kills fall at different points.
    killed_at: list[int] = []
    for _ in range(KILLS):
        process = await start_cli(config, *args, env=env)
        target = int(slow_sim.stats()["total"]) + rng.randint(2, 20)  # type: ignore[call-overload]
        async with asyncio.timeout(60):
            await wait_pages(slow_sim, target, process)
        killed_at.append(int(slow_sim.stats()["total"]))  # type: ignore[call-overload]
        await kill9(process)
    print(f"killed after simulator request #{killed_at}")
    assert killed_at == sorted(set(killed_at)), "each kill fell at a new point"

    final = await run_cli(config, *args, env=env)
    assert final.code == 0, final.err[-3000:]
    events = [e["event"] for e in final.events()]
    assert "backfill_resumed" in events, "the restart resumed from the checkpoint"
    assert_sqlite_exact(tmp_path / "costs.sqlite", slow_sim, SINCE, UNTIL)
    await assert_influx_exact(influxd.url, database, slow_sim, SINCE, UNTIL)


def outbox(state_dir: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(state_dir / "alerts" / "alerts.sqlite") as conn:
        return conn.execute("SELECT id, target, status FROM outbox ORDER BY seq").fetchall()


async def test_run_killed_at_random_moments_loses_and_doubles_nothing(
    influxd: InfluxdServer, tmp_path: Path
) -> None:
    seed, rng = seeded_rng("run kill -9")
    today = today_midnight()
    if datetime.now(UTC) - today < timedelta(minutes=2) or datetime.now(UTC) - today > timedelta(
        hours=23, minutes=58
    ):
        pytest.skip("too close to UTC midnight: the daemon's windows would move under the test")
    # The simulator's clock stops at today's midnight; the daemon runs on the real
    # clock, so its trailing window [now - 3d, now) covers the days up to it exactly.
    sim = Simulator(small_options(22, today, latency_ms=10, rate_429=0.1))
    await sim.start()
    receiver = WebhookReceiver(hold=1)
    await receiver.start()
    try:
        week_start = (today - timedelta(days=2)).strftime("%A").lower()
        database = f"rel_crash_run_{seed}"
        state = tmp_path / "state"
        config = tmp_path / "config.toml"
        config.write_text(
            f'[pipeline]\nstate_dir = "{state}"\ninterval = "1s"\nlookback = "3d"\nchunk = "1d"\n'
            "[health]\nport = 0\n"
            + provider_tables(sim)
            + f'[[sinks.sqlite]]\npath = "{tmp_path / "costs.sqlite"}"\n'
            + f'[[sinks.influxdb]]\nurl = "{influxd.url}"\ndatabase = "{database}"\n'
            + f'[[notifiers.webhook]]\nname = "hook"\nurl = "{receiver.url}"\ntimeout = "60s"\n'
            + '[[budgets]]\nname = "weekly"\namount_usd = 1\nperiod = "week"\n'
            + f'week_start = "{week_start}"\ngroup_by = "provider"\nthresholds = [100]\n'
            + 'notify = ["hook"]\n'
        )
        env = sim_env(sim)
        moments = sorted(round(rng.uniform(0.3, 4.0), 2) for _ in range(KILLS - 1))
        print(f"kill -9 at {moments} s after start, and once mid-delivery of a webhook")
        for delay in [*moments, None]:
            process = await start_cli(config, "run", env=env)
            if delay is None:
                # The receiver holds the first delivery open: kill while it is in flight.
                async with asyncio.timeout(60):
                    await receiver.in_flight.wait()
            else:
                await asyncio.sleep(delay)
            await kill9(process)
        final = await run_cli(config, "run", "--once", env=env)
        assert final.code == 0, final.err[-3000:]

        start, end = today - timedelta(days=3), today
        assert_sqlite_exact(tmp_path / "costs.sqlite", sim, start, end)
        await assert_influx_exact(influxd.url, database, sim, start, end)

        rows = outbox(state)
        assert {status for _, _, status in rows} == {"sent"}, rows
        ids = {ident for ident, _, _ in rows}
        assert len(ids) == 2, "one alert per provider for this week"
        delivered = receiver.ids()
        assert set(delivered) == ids, "every stored alert was delivered, nothing else"
        assert set(receiver.acked) == ids, "every alert was acknowledged at least once"
        # The held delivery was never acknowledged: it must have been sent again,
        # with the same id; any other repeat needs a kill between ack and commit.
        assert sum(delivered.values()) - len(ids) <= KILLS
        groups = {ident: body["group"] for ident, body in receiver.deliveries}
        assert sorted(groups.values()) == ["anthropic", "openai"]
        for ident, body in receiver.deliveries:
            assert body["group"] == groups[ident], "a repeat carries the same alert"
    finally:
        await receiver.stop()
        await sim.stop()
