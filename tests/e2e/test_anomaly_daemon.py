"""Anomalies as an operator meets them: a real ``costpipe backfill`` and
``costpipe run --once`` against the simulator, a real SMTP server (aiosmtpd).

Yesterday (UTC) one user's usage was multiplied by 8 in the simulator: the
first pass mails one anomaly naming that user; a second process re-sends nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest

from costpipe.simulator import Simulator
from costpipe.simulator.spikes import Spike
from tests.alerts.conftest import SmtpServer
from tests.conftest import StartSimulator
from tests.processes import CliProcesses

pytestmark = pytest.mark.slow


def write_config(tmp_path: Path, sim: Simulator, smtp_port: int) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[pipeline]
state_dir = "{tmp_path / "state"}"
lookback = "48h"
chunk = "7d"

[[providers.openai]]
name = "acme"
api_key = "{sim.openai_admin_key}"
base_url = "{sim.openai_base_url}"
usage_endpoints = ["completions", "embeddings"]

[[sinks.sqlite]]
path = "{tmp_path / "costs.sqlite"}"

[[anomalies]]
name = "per-user"
group_by = "user_id"
cost_basis = "estimated"
notify = ["ops"]

[[notifiers.email]]
name = "ops"
host = "127.0.0.1"
port = {smtp_port}
starttls = false
from_addr = "costpipe@example.org"
to = ["finops@example.org"]
timeout = "5s"

[health]
enabled = false
"""
    )
    return path


async def test_the_daemon_mails_one_anomaly_for_an_8x_user_day_and_never_again(
    costpipe_cli: CliProcesses, start_simulator: StartSimulator, tmp_path: Path
) -> None:
    sim = await start_simulator(seed=7)  # the real clock
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    user = sim.openai.org.user_ids[0]
    start = int(yesterday.timestamp())
    sim.spikes.add(Spike("user_id", user, Fraction(8), start, start + 86_400, "openai"))
    smtp = SmtpServer()
    smtp.start()
    try:
        config = write_config(tmp_path, sim, smtp.port)
        since = (today - timedelta(days=20)).date().isoformat()
        backfill = await costpipe_cli.run(config, "backfill", "--since", since, limit=300)
        assert backfill.code == 0, backfill.err[-3000:]

        first = await costpipe_cli.run(config, "run", "--once", limit=180)
        assert first.code == 0, first.err[-3000:]
        fired = [e for e in first.events() if e["event"] == "Anomaly detected"]
        assert [(user, f"day:{yesterday.date().isoformat()}")] == [
            (e["group"], e["bucket"]) for e in fired
        ]
        [mail] = smtp.inbox.messages
        text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert user in text
        models = {s.model for s in sim.openai.streams if s.user_id == user}
        assert any(f"model {m} +$" in text for m in models), text

        again = await costpipe_cli.run(config, "run", "--once", limit=180)
        assert again.code == 0, again.err[-3000:]
        assert [] == [e for e in again.events() if e["event"] == "Anomaly detected"]
        assert 1 == len(smtp.inbox.messages)
    finally:
        smtp.stop()
