"""Notifications that cannot be delivered, as an operator meets them: a real
``costpipe run`` process, a real SMTP server (aiosmtpd) or a real port that
refuses or hangs.

* 15.2: ``run --once`` exits 1 when a notification was not delivered, and the
  outbox keeps it: the next ``run --once`` delivers it.
* 15.11: delivery runs beside the schedule: an SMTP server that accepts the
  connection and never answers holds a delivery open while passes go on.
* 15.13: ``/healthz`` turns 503 naming the notifier that cannot deliver.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.alerts.conftest import SmtpServer
from tests.processes import CliProcesses
from tests.reliability.daemon_watch import DaemonWatch, wait_health

pytestmark = pytest.mark.slow

PLUGIN = """
from costpipe import hookimpl
from costpipe.testing.static import StaticProvider

@hookimpl
def register_providers():
    return [StaticProvider]
"""


def write_config(tmp_path: Path, smtp_port: int, *, timeout: str = "5s", attempts: int = 1) -> Path:
    """Static data (about $0.36 per six hours) into SQLite, a $0.01 monthly budget
    that is over at once, and an email notifier on *smtp_port*, *attempts* per pass."""
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
lookback = "48h"

[[providers.static]]
name = "ok"

[[sinks.sqlite]]
path = "{tmp_path / "costs.sqlite"}"

[[budgets]]
name = "tiny"
amount_usd = 0.01
period = "month"
thresholds = [100]
notify = ["ops"]

[alerts]
max_attempts = {attempts}

[[notifiers.email]]
name = "ops"
host = "127.0.0.1"
port = {smtp_port}
starttls = false
from_addr = "costpipe@example.org"
to = ["finops@example.org"]
timeout = "{timeout}"

[health]
port = 0
"""
    )
    return path


def outbox_statuses(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "state" / "alerts" / "alerts.sqlite") as conn:
        return [row[0] for row in conn.execute("SELECT status FROM outbox ORDER BY seq")]


async def test_run_once_exits_1_when_a_notification_is_not_delivered_and_keeps_it(
    costpipe_cli: CliProcesses, tmp_path: Path, free_port: int
) -> None:
    smtp = SmtpServer()  # not started: its port refuses connections
    config = write_config(tmp_path, smtp.port)

    refused = await costpipe_cli.run(config, "run", "--once")
    assert refused.code == 1, refused.err[-3000:]
    assert "notification_failed" in {e["event"] for e in refused.events()}
    assert outbox_statuses(tmp_path) == ["failed"]

    smtp.start()
    try:
        delivered = await costpipe_cli.run(config, "run", "--once")
    finally:
        smtp.stop()
    assert delivered.code == 0, delivered.err[-3000:]
    assert len(smtp.inbox.messages) == 1
    assert outbox_statuses(tmp_path) == ["sent"]


class HangingSmtp:
    """A TCP port that accepts connections and never says a word."""

    def __init__(self) -> None:
        self.open_connections = 0
        self.accepted = asyncio.Event()
        self._writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def _handle(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        self._writers.append(writer)
        self.accepted.set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def hanging_smtp() -> AsyncIterator[HangingSmtp]:
    server = HangingSmtp()
    yield server
    await server.stop()


async def test_a_hanging_smtp_server_does_not_hold_up_the_schedule(
    costpipe_cli: CliProcesses, tmp_path: Path, hanging_smtp: HangingSmtp
) -> None:
    port = await hanging_smtp.start()
    # The notifier would wait an hour for the greeting: before the fix the
    # daemon delivered between passes, and no pass followed the first one.
    config = write_config(tmp_path, port, timeout="1h")
    watch = DaemonWatch(await costpipe_cli.start(config, "run"))

    def pass_done(event: dict[str, object]) -> bool:
        return event.get("event") == "pass_done"

    await watch.wait_for(pass_done)
    async with asyncio.timeout(60):
        await hanging_smtp.accepted.wait()
    passes_when_delivery_hung = watch.count("pass_done")
    await watch.wait_for(pass_done, count=passes_when_delivery_hung + 3, limit=60)
    # The delivery is still waiting on the same silent connection.
    assert hanging_smtp.open_connections == 1
    assert watch.count("notification_failed") == 0


async def test_retries_against_a_refusing_smtp_port_do_not_space_the_passes(
    costpipe_cli: CliProcesses, tmp_path: Path
) -> None:
    """Three attempts back off 1 s, then 2 s: a delivery lasts at least 3 s, and
    passes (every second) go on meanwhile. Before the fix passes and deliveries
    alternated: exactly one pass between two failed deliveries."""
    smtp = SmtpServer()  # not started: refused
    config = write_config(tmp_path, smtp.port, attempts=3)
    watch = DaemonWatch(await costpipe_cli.start(config, "run"))
    await watch.wait_for(lambda e: e.get("event") == "notification_failed", count=3, limit=90)
    order = [e["event"] for e in watch.events if e["event"] in {"pass_done", "notification_failed"}]
    failures = [i for i, event in enumerate(order) if event == "notification_failed"]
    first, second, third = failures[:3]
    assert order[first:second].count("pass_done") >= 2, order
    assert order[second:third].count("pass_done") >= 2, order


async def test_healthz_names_a_notifier_that_cannot_deliver(
    costpipe_cli: CliProcesses, tmp_path: Path
) -> None:
    smtp = SmtpServer()  # not started: refused
    config = write_config(tmp_path, smtp.port)
    watch = DaemonWatch(await costpipe_cli.start(config, "run"))
    url = await watch.health_url()
    await watch.wait_for(lambda e: e.get("event") == "notification_failed")
    body = await wait_health(url, 503)
    [problem] = body["problems"]
    assert problem.startswith("notifier email.ops: 1 notification(s) not delivered")
    assert body["notifiers"]["email.ops"]["undelivered"] == 1
    assert "TransientError" in body["notifiers"]["email.ops"]["last_error"]

    smtp.start()  # the server comes back: the next pass delivers, health recovers
    try:
        body = await wait_health(url, 200)
    finally:
        smtp.stop()
    assert body["notifiers"] == {}
    assert len(smtp.inbox.messages) == 1
