"""Points a store refuses are a failure the user sees and can repair (15.1).

A real influxd with a real field-type conflict (``cost_usd`` written as a
string first, in both shards the backfill touches), the simulator's OpenAI
API and real ``costpipe`` processes:

* ``backfill`` exits 1 with one summary line for the sink (how many, why,
  where, how to replay), and logs at most one line per batch, not per point;
* ``deadletter list`` shows the file, the count and the reason;
* after fixing one shard, ``deadletter replay`` sends everything, keeps what is
  refused again and exits 1; after fixing the other, it empties the file, exits
  0 and InfluxDB holds every point;
* a daemon's ``/healthz`` and ``/metrics`` show the refused points.
"""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from costpipe.testing.influxd import InfluxdServer
from tests.conftest import StartSimulator
from tests.processes import CliProcesses
from tests.reliability.daemon_watch import DaemonWatch, wait_health

pytestmark = pytest.mark.slow

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
SINCE = "2026-11-12"  # InfluxDB's weekly shards start on Mondays: 11-09 and 11-16
UNTIL = "2026-11-20"
SINK = "influxdb.main"


async def influx(url: str, database: str, query: str) -> dict[str, object]:
    data = {"q": query, "db": database}
    async with aiohttp.ClientSession() as session, session.post(f"{url}/query", data=data) as r:
        body: dict[str, object] = await r.json()
        assert r.status == 200, body
        return body


async def write_conflict(url: str, database: str, moments: list[datetime]) -> None:
    """``cost_usd`` as a string at each moment: every later float in that shard conflicts."""
    await influx(url, database, f'CREATE DATABASE "{database}"')
    lines = "\n".join(
        f'ai_costs,provider=legacy cost_usd="n/a" {int(m.timestamp()) * 10**9}' for m in moments
    )
    params = urllib.parse.urlencode({"db": database})
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/write?{params}", data=lines.encode()) as response,
    ):
        assert response.status == 204, await response.text()


async def shard_ids(url: str, database: str) -> dict[str, int]:
    """Shard id by start date (``2026-11-09``)."""
    body = await influx(url, database, "SHOW SHARDS")
    found: dict[str, int] = {}
    for series in body["results"][0]["series"]:  # type: ignore[index]
        # A database of another test with no shard yet is listed without "values".
        for row in series.get("values", []):
            if row[1] == database:
                found[row[4][:10]] = row[0]
    return found


async def stored_points(url: str, database: str) -> int:
    body = await influx(url, database, "SELECT count(cost_nanos) FROM ai_costs")
    series = body["results"][0].get("series")  # type: ignore[index]
    return int(series[0]["values"][0][1]) if series else 0


def backfill_config(tmp_path: Path, openai_url: str, influx_url: str, database: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[pipeline]
state_dir = "{tmp_path / "state"}"

[[providers.openai]]
name = "sim"
api_key = "${{SIM_OPENAI_KEY}}"
base_url = "{openai_url}"

[[sinks.influxdb]]
name = "main"
url = "{influx_url}"
database = "{database}"
"""
    )
    return path


async def test_refused_points_fail_the_backfill_and_replay_after_the_fix(
    start_simulator: StartSimulator,
    influxd: InfluxdServer,
    costpipe_cli: CliProcesses,
    tmp_path: Path,
) -> None:
    database = "dead_letters_e2e"
    await write_conflict(
        influxd.url,
        database,
        [datetime(2026, 11, 12, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC)],
    )
    sim = await start_simulator(seed=5, now=NOW)
    config = backfill_config(tmp_path, sim.openai_base_url, influxd.url, database)
    env = {"SIM_OPENAI_KEY": sim.openai_admin_key}
    dead_letter_file = tmp_path / "state" / "sinks" / SINK / "dead-letter.jsonl"

    done = await costpipe_cli.run(
        config, "backfill", "--since", SINCE, "--until", UNTIL, env=env, limit=180
    )
    assert done.code == 1, done.err[-3000:]
    refused = len(dead_letter_file.read_text().splitlines())
    assert refused > 100
    [summary] = [line for line in done.out.splitlines() if line.startswith(f"sink {SINK}:")]
    assert f"{refused} point(s) refused by the store" in summary
    assert "field type conflict" in summary
    assert str(dead_letter_file) in summary
    assert f"costpipe deadletter replay --sink {SINK}" in summary
    events = done.events()
    batches = sum(e["batches"] for e in events if e["event"] == "pass_done")
    logged = [e for e in events if e["event"] == "points_dead_lettered"]
    assert 1 <= len(logged) <= batches < refused  # one line per batch at most, never per point
    assert sum(e["points"] for e in logged) == refused

    listed = await costpipe_cli.run(config, "deadletter", "list", env=env)
    assert listed.code == 0, listed.err
    assert f"{SINK}: {refused} point(s) in {dead_letter_file}" in listed.out
    assert f"{refused} × partial write: field type conflict" in listed.out

    # Fix the second week only: what falls in the first is refused again and kept.
    shards = await shard_ids(influxd.url, database)
    await influx(influxd.url, database, f"DROP SHARD {shards['2026-11-16']}")
    partly = await costpipe_cli.run(config, "deadletter", "replay", env=env)
    assert partly.code == 1, partly.err
    kept = len(dead_letter_file.read_text().splitlines())
    accepted = await stored_points(influxd.url, database)
    assert 0 < kept < refused
    assert accepted + kept == refused
    assert f"{SINK}: {refused} re-sent, {accepted} accepted, {kept} refused again" in partly.out
    assert not dead_letter_file.with_name("dead-letter.jsonl.replaying").exists()

    await influx(influxd.url, database, f"DROP SHARD {shards['2026-11-09']}")
    fixed = await costpipe_cli.run(config, "deadletter", "replay", "--sink", "main", env=env)
    assert fixed.code == 0, fixed.out + fixed.err
    assert f"{SINK}: {kept} re-sent, {kept} accepted" in fixed.out
    assert not dead_letter_file.exists()
    assert await stored_points(influxd.url, database) == refused

    listed = await costpipe_cli.run(config, "deadletter", "list", env=env)
    assert f"{SINK}: no dead letters" in listed.out


PLUGIN = """
from costpipe import hookimpl
from costpipe.testing.static import StaticProvider

@hookimpl
def register_providers():
    return [StaticProvider]
"""


async def test_healthz_and_metrics_show_points_a_store_refused(
    influxd: InfluxdServer, costpipe_cli: CliProcesses, tmp_path: Path
) -> None:
    database = "dead_letters_daemon"
    now = datetime.now(UTC)
    await write_conflict(influxd.url, database, [now - timedelta(hours=3), now])
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "static_source.py").write_text(PLUGIN)
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[pipeline]
plugin_dirs = ["{tmp_path / "plugins"}"]
state_dir = "{tmp_path / "state"}"
interval = "1h"
lookback = "2h"

[[providers.static]]
name = "ok"

[[sinks.influxdb]]
name = "main"
url = "{influxd.url}"
database = "{database}"

[health]
port = 0
"""
    )
    watch = DaemonWatch(await costpipe_cli.start(config, "run"))
    url = await watch.health_url()
    await watch.wait_for(lambda e: e.get("event") == "pass_done")
    body = await wait_health(url, 503)
    points = body["dead_letters"][SINK]["points"]
    assert points == 6  # two hourly buckets of three rows
    [problem] = body["problems"]
    assert problem.startswith(f"sink {SINK}: 6 point(s) refused by the store, kept in ")
    assert problem.endswith(f"costpipe deadletter replay --sink {SINK}")

    async with (
        aiohttp.ClientSession() as session,
        session.get(url.replace("healthz", "metrics")) as r,
    ):
        text = await r.text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("costpipe_points_dead_lettered_total", (("sink", SINK),))] == 6
    assert samples[("costpipe_dead_letter_points", (("sink", SINK),))] == 6


async def test_run_once_exits_1_when_a_store_refused_points(
    influxd: InfluxdServer, costpipe_cli: CliProcesses, tmp_path: Path
) -> None:
    database = "dead_letters_once"
    now = datetime.now(UTC)
    await write_conflict(influxd.url, database, [now - timedelta(hours=3), now])
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "static_source.py").write_text(PLUGIN)
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[pipeline]
plugin_dirs = ["{tmp_path / "plugins"}"]
state_dir = "{tmp_path / "state"}"
lookback = "2h"

[[providers.static]]
name = "ok"

[[sinks.influxdb]]
name = "main"
url = "{influxd.url}"
database = "{database}"
"""
    )
    done = await costpipe_cli.run(config, "run", "--once")
    assert done.code == 1, done.err[-3000:]
    [refused] = [e for e in done.events() if e["event"] == "points_refused"]
    assert refused["summary"].startswith(f"sink {SINK}: 6 point(s) refused by the store")
    assert refused["summary"].endswith(f"costpipe deadletter replay --sink {SINK}")
