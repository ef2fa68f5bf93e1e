"""Store outage: influxd stops in the middle of a ``costpipe run`` and comes back
later. The spool takes the data, ``/healthz`` answers 503 "degraded" meanwhile,
the daemon never exits, the spool drains in order after recovery (late
revisions made during the outage win over the values spooled before them) and
the totals are exact."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from costpipe.simulator import Simulator
from costpipe.testing.influxd import InfluxdServer
from tests.conftest import influxd_or_skip

from .daemon_watch import DaemonWatch, wait_health
from .support import (
    assert_influx_exact,
    assert_sqlite_exact,
    provider_tables,
    sim_env,
    small_options,
    start_cli,
    today_midnight,
)

pytestmark = pytest.mark.slow


def near_midnight() -> bool:
    since = datetime.now(UTC) - today_midnight()
    return since < timedelta(minutes=2) or since > timedelta(hours=23, minutes=58)


def is_event(name: str, **fields: str) -> object:
    return lambda e: e.get("event") == name and all(e.get(k) == v for k, v in fields.items())


async def test_influxd_down_mid_run_spools_then_drains_in_order(tmp_path: Path) -> None:
    if near_midnight():
        pytest.skip("too close to UTC midnight: the daemon's windows would move under the test")
    today = today_midnight()
    server = InfluxdServer(tmp_path / "influxd", influxd_or_skip())
    (tmp_path / "influxd").mkdir()
    server.start()
    sim = Simulator(small_options(31, today))
    await sim.start()
    process = None
    try:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[pipeline]\nstate_dir = "{tmp_path / "state"}"\ninterval = "1s"\n'
            'lookback = "2d"\nchunk = "1d"\n[health]\nport = 0\n'
            + provider_tables(sim)
            + f'[[sinks.sqlite]]\npath = "{tmp_path / "costs.sqlite"}"\n'
            # One quick attempt: the spool, not the sink's retries, rides out the outage.
            + f'[[sinks.influxdb]]\nurl = "{server.url}"\ndatabase = "outage"\n'
            "max_tries = 1\ntimeout_seconds = 2\n"
        )
        process = await start_cli(config, "run", env=sim_env(sim))
        watch = DaemonWatch(process)
        health = await watch.health_url()
        await watch.wait_for(is_event("pass_done", provider="openai.sim"))
        await wait_health(health, 200)

        server.stop()
        body = await wait_health(health, 503)
        assert body["status"] == "degraded"
        assert any("spooled" in p for p in body["problems"]), body
        passes = watch.count("pass_done")
        # Late billing data arrives while the store is down: the spool holds the old
        # and the revised figures, in that order; replay must end with the revised.
        assert sim.revise() > 0
        await watch.wait_for(is_event("pass_done"), count=passes + 2)
        assert process.returncode is None, "the daemon kept running through the outage"

        server.start()
        await wait_health(health, 200)
        await watch.wait_for(is_event("spool_drained"))
        passes = watch.count("pass_done")
        await watch.wait_for(is_event("pass_done"), count=passes + 2)

        process.send_signal(signal.SIGTERM)
        await watch.finish()
        assert process.returncode == 0
        start = today - timedelta(days=2)
        assert_sqlite_exact(tmp_path / "costs.sqlite", sim, start, today)
        await assert_influx_exact(server.url, "outage", sim, start, today)
        assert not list((tmp_path / "state" / "spool").glob("*/*.jsonl")), "spool emptied"
    finally:
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
        await sim.stop()
        server.stop()
