"""``costpipe alerts list|silence|unsilence|test`` as an operator runs them: real
processes, a real SMTP server and a PagerDuty receiver that checks the event schema."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.alerts.conftest import SmtpServer
from tests.alerts.service_receivers import ROUTING_KEY, ServiceReceiver
from tests.e2e.test_alert_delivery import PLUGIN
from tests.processes import CliProcesses


@pytest.fixture
async def service() -> AsyncIterator[ServiceReceiver]:
    server = ServiceReceiver()
    await server.start()
    yield server
    await server.stop()


def write_config(tmp_path: Path, smtp_port: int, pagerduty_url: str) -> Path:
    """Static data into SQLite, a $0.01 budget that is over at once, email and PagerDuty."""
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "static_source.py").write_text(PLUGIN)
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[pipeline]
plugin_dirs = ["{plugins}"]
state_dir = "{tmp_path / "state"}"

[[providers.static]]
name = "ok"

[[sinks.sqlite]]
path = "{tmp_path / "costs.sqlite"}"

[[budgets]]
name = "tiny"
amount_usd = 0.01
thresholds = [100]
notify = ["ops"]

[alerts]
max_attempts = 1

[[notifiers.email]]
name = "ops"
host = "127.0.0.1"
port = {smtp_port}
starttls = false
from_addr = "costpipe@example.org"
to = ["finops@example.org"]
timeout = "5s"

[[notifiers.pagerduty]]
name = "oncall"
routing_key = "{ROUTING_KEY}"
url = "{pagerduty_url}"

[health]
enabled = false
"""
    )
    return path


async def test_alerts_test_delivers_one_marked_message(
    costpipe_cli: CliProcesses, smtp_server: SmtpServer, service: ServiceReceiver, tmp_path: Path
) -> None:
    """One email and one PagerDuty event, each plainly a test, and exit 0."""
    config = write_config(tmp_path, smtp_server.port, service.pagerduty_url)
    mail = await costpipe_cli.run(config, "alerts", "test", "--notifier", "ops")
    page = await costpipe_cli.run(config, "alerts", "test", "--notifier", "pagerduty.oncall")

    assert 0 == mail.code, mail.err
    assert 0 == page.code, page.err
    (message,) = smtp_server.inbox.messages
    assert message["Subject"].startswith("[costpipe] TEST: ")
    assert "test" == message["X-Costpipe-Kind"]
    assert f"email.ops: test message {message['X-Costpipe-Notification-Id']} delivered" in mail.out
    (event,) = service.events
    assert "info" == event["payload"]["severity"]
    assert event["payload"]["summary"].startswith("TEST: ")
    assert [] == service.refused


async def test_failed_test_send_exits_1_and_says_why(
    costpipe_cli: CliProcesses, service: ServiceReceiver, tmp_path: Path
) -> None:
    smtp = SmtpServer()  # never started: the port refuses connections
    config = write_config(tmp_path, smtp.port, service.pagerduty_url)
    failed = await costpipe_cli.run(config, "alerts", "test", "--notifier", "ops")
    unknown = await costpipe_cli.run(config, "alerts", "test", "--notifier", "nobody")

    assert 1 == failed.code
    assert "email.ops: FAILED, test message not delivered" in failed.out
    assert "unreachable" in failed.out
    assert 2 == unknown.code
    assert "--notifier: 'nobody' matches no single notifier" in unknown.err


async def test_silence_from_the_cli_mutes_the_daemon_and_list_shows_it(
    costpipe_cli: CliProcesses, smtp_server: SmtpServer, service: ServiceReceiver, tmp_path: Path
) -> None:
    """A silence set with the CLI is honoured by `run --once`; `alerts list` shows the
    alert as firing and silenced, the silence itself, and no delivery failure."""
    config = write_config(tmp_path, smtp_server.port, service.pagerduty_url)
    silenced = await costpipe_cli.run(
        config, "alerts", "silence", "--rule", "tiny", "--for", "1h", "--comment", "known"
    )
    assert 0 == silenced.code, silenced.err
    silence_id = silenced.out.split()[1]

    ran = await costpipe_cli.run(config, "run", "--once")
    listed = await costpipe_cli.run(config, "alerts", "list", "--format", "json")
    table = await costpipe_cli.run(config, "alerts", "list")

    assert 0 == ran.code, ran.err[-2000:]
    assert (0, 0) == (listed.code, table.code)
    assert [] == smtp_server.inbox.messages
    with sqlite3.connect(tmp_path / "state" / "alerts" / "alerts.sqlite") as db:
        assert [("silenced",)] == db.execute("SELECT status FROM outbox").fetchall()
    report = json.loads(listed.out)
    (alert,) = report["alerts"]
    assert ("firing", "budget", "tiny") == (alert["state"], alert["kind"], alert["rule"])
    assert alert["delivery"]["email.ops"].startswith(f"silenced: silence {silence_id}")
    assert [silence_id] == [s["id"] for s in report["silences"]]
    assert [] == report["delivery_failures"]
    assert "firing" in table.out
    assert silence_id in table.out

    ended = await costpipe_cli.run(config, "alerts", "unsilence", silence_id)
    again = await costpipe_cli.run(config, "alerts", "unsilence", silence_id)
    assert 0 == ended.code
    assert 2 == again.code
    after = json.loads((await costpipe_cli.run(config, "alerts", "list", "--format", "json")).out)
    assert [] == after["silences"]


async def test_silence_needs_a_matcher_and_a_valid_regex(
    costpipe_cli: CliProcesses, service: ServiceReceiver, tmp_path: Path
) -> None:
    config = write_config(tmp_path, 1, service.pagerduty_url)
    empty = await costpipe_cli.run(config, "alerts", "silence", "--for", "1h", "--comment", "x")
    bad = await costpipe_cli.run(
        config, "alerts", "silence", "model=~(", "--for", "1h", "--comment", "x"
    )
    assert (2, 2) == (empty.code, bad.code)
    assert "give --rule, --group or at least one matcher" in empty.err
    assert "bad regular expression" in bad.err
