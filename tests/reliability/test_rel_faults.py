"""Provider faults: one healthy simulator behind 30 % 429s (with Retry-After),
5xx bursts and pages slower than the client's timeout; a second simulator
whose OpenAI key is revoked mid-run (401) and whose Anthropic API serves a
malformed page. The healthy instances end with exact totals; the broken ones are
reported clearly (log event, status.json, /healthz 503, exit code 1 of
``run --once``) and never disturb the others."""

from __future__ import annotations

import json
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from costpipe.simulator import Simulator

from .daemon_watch import DaemonWatch, wait_health
from .support import (
    assert_sqlite_exact,
    provider_tables,
    run_cli,
    sim_env,
    small_options,
    start_cli,
    today_midnight,
)

pytestmark = pytest.mark.slow


@pytest.fixture
async def sims() -> AsyncIterator[tuple[Simulator, Simulator, Simulator]]:
    since = datetime.now(UTC) - today_midnight()
    if since < timedelta(minutes=2) or since > timedelta(hours=23, minutes=58):
        pytest.skip("too close to UTC midnight: the daemon's windows would move under the test")
    today = today_midnight()
    healthy = Simulator(
        small_options(
            41,
            today,
            rate_429=0.3,
            rate_5xx=0.15,
            server_error_request=2,
            slow_ms=1500,
            slow_rate=0.1,
        )
    )
    revoked = Simulator(small_options(42, today, revoke_key=2))
    malformed = Simulator(small_options(43, today, malformed_page=2))
    for sim in (healthy, revoked, malformed):
        await sim.start()
    yield healthy, revoked, malformed
    for sim in (healthy, revoked, malformed):
        await sim.stop()


def write_config(path: Path, healthy: Simulator, revoked: Simulator, malformed: Simulator) -> None:
    path.write_text(
        f'[pipeline]\nstate_dir = "{path.parent / "state"}"\ninterval = "1s"\n'
        'lookback = "2d"\nchunk = "1d"\n[health]\nport = 0\n'
        + provider_tables(healthy, 0, "good", timeout='"1s"')
        + provider_tables(revoked, 1, "bad", kinds=("openai",))
        + provider_tables(malformed, 2, "bad", kinds=("anthropic",))
        + f'[[sinks.sqlite]]\npath = "{path.parent / "costs.sqlite"}"\n'
    )


async def test_broken_provider_is_reported_and_healthy_ones_are_exact(
    sims: tuple[Simulator, Simulator, Simulator], tmp_path: Path
) -> None:
    healthy, revoked, malformed = sims
    config = tmp_path / "config.toml"
    write_config(config, healthy, revoked, malformed)
    env = sim_env(healthy, revoked, malformed)

    result = await run_cli(config, "run", "--once", env=env)
    assert result.code == 1, result.err[-3000:]
    assert "Traceback" not in result.err
    failed = {e["provider"]: e for e in result.events() if e["event"] == "provider_failed"}
    assert failed["openai.bad"]["outcome"] == "auth"
    assert "401" in failed["openai.bad"]["error"] or "refused" in failed["openai.bad"]["error"]
    assert failed["anthropic.bad"]["outcome"] == "partial"
    assert set(failed) == {"openai.bad", "anthropic.bad"}

    status = json.loads((tmp_path / "state" / "status.json").read_text())["providers"]
    assert status["openai.bad"]["state"] == "auth"
    assert status["openai.bad"]["last_error"]
    assert status["anthropic.bad"]["state"] == "partial"
    assert status["openai.good"]["state"] == status["anthropic.good"]["state"] == "ok"

    stats = healthy.stats()["by_endpoint"]
    statuses = {code for counts in stats.values() for code in counts}  # type: ignore[attr-defined]
    assert {"200", "429"} <= statuses, stats
    assert statuses & {"500", "503", "529"}, stats
    today = today_midnight()
    assert_sqlite_exact(
        tmp_path / "costs.sqlite", healthy, today - timedelta(days=2), today, name="good"
    )

    # The daemon keeps running with a broken provider and says so on /healthz.
    process = await start_cli(config, "run", env=env)
    watch = DaemonWatch(process)
    body = await wait_health(await watch.health_url(), 503)
    assert "provider openai.bad: auth" in body["problems"], body
    assert not any("good" in problem for problem in body["problems"]), body
    process.send_signal(signal.SIGTERM)
    await watch.finish()
    assert process.returncode == 0
    # The malformed page was served once; the re-fetch of the next pass succeeds.
    status = json.loads((tmp_path / "state" / "status.json").read_text())["providers"]
    assert status["openai.bad"]["state"] == "auth"
