"""Errors are logged once per change of state, not once per pass (15.12).

A real ``costpipe run`` whose only store (InfluxDB) is down and whose second
provider's key is refused: over several passes, ``budget_evaluation_failed``,
``unpriced_check_failed`` and the provider's failure are each logged once.
The reminder interval is driven with an injected clock in the unit test below.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from costpipe.episodes import DEFAULT_REMINDER, FailureLog, reminder_interval
from tests.processes import CliProcesses
from tests.reliability.daemon_watch import DaemonWatch

PLUGIN = """
from costpipe import hookimpl
from costpipe.testing.static import StaticProvider

@hookimpl
def register_providers():
    return [StaticProvider]
"""

PASSES = 5


def write_config(tmp_path: Path, influx_port: int) -> Path:
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "static_source.py").write_text(PLUGIN)
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[pipeline]
plugin_dirs = ["{plugins}"]
state_dir = "{tmp_path / "state"}"
interval = "1s"
lookback = "3h"

[[providers.static]]
name = "ok"

[[providers.static]]
name = "refused"
fail = "auth"

[[sinks.influxdb]]
url = "http://127.0.0.1:{influx_port}"
database = "down"
max_tries = 1
timeout_seconds = 2

[[budgets]]
name = "monthly"
amount_usd = 100
notify = ["ops"]

[[budgets]]
name = "daily"
amount_usd = 10
period = "day"
notify = ["ops"]

[alerts]
unpriced_notify = ["ops"]

[[notifiers.webhook]]
name = "ops"
url = "http://127.0.0.1:{influx_port}/hook"

[health]
port = 0
"""
    )
    return path


@pytest.mark.slow
async def test_a_store_that_stays_down_is_logged_once_not_on_every_pass(
    costpipe_cli: CliProcesses, tmp_path: Path, free_port: int
) -> None:
    config = write_config(tmp_path, free_port)  # nothing listens: InfluxDB is down
    watch = DaemonWatch(await costpipe_cli.start(config, "run"))
    await watch.wait_for(
        lambda e: e.get("event") == "pass_done" and e.get("provider") == "static.ok",
        count=PASSES,
        limit=90,
    )
    assert watch.count("budget_evaluation_failed") == 2  # one per rule, not per pass
    assert {e["rule"] for e in watch.events if e["event"] == "budget_evaluation_failed"} == {
        "monthly",
        "daily",
    }
    assert watch.count("unpriced_check_failed") == 1
    assert watch.count("provider_failed") == 1
    assert watch.count("provider_still_failing") == 0  # the reminder is an hour away


def test_failure_log_reminds_at_most_every_interval_and_says_when_it_recovered() -> None:
    start = datetime(2026, 11, 20, 12, tzinfo=UTC)
    failures = FailureLog(structlog.get_logger("test"), timedelta(hours=1))
    with capture_logs() as logs:
        for minute in range(0, 150, 5):  # a pass every 5 minutes for 2.5 hours
            failures.failed(
                "rule",
                "budget_evaluation_failed",
                start + timedelta(minutes=minute),
                ConnectionRefusedError("influxdb down"),
                rule="r",
            )
        failures.failed(
            "rule",
            "budget_evaluation_failed",
            start + timedelta(minutes=150),
            PermissionError("401"),
            rule="r",
        )
        failures.succeeded("rule", "budget_evaluation_recovered", rule="r")
        failures.succeeded("rule", "budget_evaluation_recovered", rule="r")
    summary = [(e["event"], e["log_level"], e.get("still_failing", False)) for e in logs]
    assert summary == [
        ("budget_evaluation_failed", "error", False),  # 12:00, with the error
        ("budget_evaluation_failed", "warning", True),  # 13:00 reminder
        ("budget_evaluation_failed", "warning", True),  # 14:00 reminder
        ("budget_evaluation_failed", "error", False),  # another kind of failure
        ("budget_evaluation_recovered", "info", False),  # once
    ]
    assert logs[0]["error"] == "ConnectionRefusedError('influxdb down')"
    assert logs[2]["failures"] == 25
    assert "error" not in logs[1]  # a reminder does not repeat the exception


def test_reminder_interval_is_stale_after_else_an_hour() -> None:
    assert reminder_interval(timedelta(minutes=30)) == timedelta(minutes=30)
    assert reminder_interval(None) == DEFAULT_REMINDER == timedelta(hours=1)
