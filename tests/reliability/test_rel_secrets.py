"""Secrets never leak. Every secret (provider keys, InfluxDB password and token,
SMTP password, webhook URL, dashboard basic auth) is a unique marker; every
command runs, healthy and failing (401s, unreachable servers): no marker appears
in stdout or stderr (JSON and console logs), error messages, spool or
dead-letter files, status.json or the alert outbox database."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

import pytest

from costpipe.simulator import Simulator
from costpipe.testing.influxd import InfluxdServer

from .support import provider_tables, run_cli, sim_env, small_options, today_midnight

pytestmark = pytest.mark.slow

MARKERS = {
    "INFLUX_PASSWORD": "mkINFLUXPASS7c1e",
    "INFLUX_TOKEN": "mkINFLUXTOKEN8d2f",
    "SMTP_PASSWORD": "mkSMTPPASS9e3a",
    "WEBHOOK_URL": "http://127.0.0.1:{port}/hooks/mkWEBHOOKPATH4b5c",
    "DASH_AUTH": "admin:mkDASHPASS5c6d",
    "BAD_ANTHROPIC_KEY": "sk-ant-admin01-mkANTHROPICKEY7e8f",
}
#: A password in a provider's base_url (a proxy's basic auth): not a secret field, so
#: only URL redaction keeps it out of logs, errors and state.
BASE_URL_PASSWORD = "mkBASEURLPASS1a2b"


def closed_port() -> int:
    """A loopback port with nothing listening (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def config_text(state: Path, sim: Simulator, influx_url: str, good_keys: bool) -> str:
    # Failing: Anthropic's key is refused (401); OpenAI's works, so its data meets
    # the unreachable store and is spooled.
    keys = "" if good_keys else "BAD_"
    providers = provider_tables(sim, 0, "s").replace("SIM0_OPENAI_KEY", "OPENAI_KEY")
    providers = providers.replace("SIM0_ANTHROPIC_KEY", keys + "ANTHROPIC_KEY")
    # Anthropic sends its key as x-api-key, so user info in base_url is usable there;
    # verify_tls = false makes the client log its base_url at start.
    proxied = sim.anthropic_base_url.replace("http://", f"http://proxy:{BASE_URL_PASSWORD}@")
    providers = providers.replace(
        f'base_url = "{sim.anthropic_base_url}"\n',
        f'base_url = "{proxied}"\nverify_tls = false\n',
    )
    assert BASE_URL_PASSWORD in providers
    return f"""
[pipeline]
state_dir = "{state}"
lookback = "2d"
chunk = "1d"
[health]
enabled = false
[alerts]
max_attempts = 1
[dashboard]
basic_auth = "${{DASH_AUTH}}"
{providers}
[[sinks.sqlite]]
path = "{state / "costs.sqlite"}"
[[sinks.influxdb]]
url = "{influx_url}"
database = "secrets"
username = "costpipe"
password = "${{INFLUX_PASSWORD}}"
max_tries = 1
timeout_seconds = 2
[[sinks.influxdb]]
name = "tokened"
url = "{influx_url}"
database = "secrets2"
token = "${{INFLUX_TOKEN}}"
max_tries = 1
timeout_seconds = 2
[[notifiers.webhook]]
name = "hook"
url = "${{WEBHOOK_URL}}"
timeout = "2s"
[[notifiers.email]]
name = "mail"
host = "127.0.0.1"
port = {closed_port()}
starttls = false
username = "costpipe"
password = "${{SMTP_PASSWORD}}"
from_addr = "costpipe@example.org"
to = ["ops@example.org"]
timeout = "2s"
[[budgets]]
name = "tiny"
amount_usd = 0.01
period = "month"
thresholds = [100]
notify = ["hook", "mail"]
"""


def leaks(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s in text]


async def test_no_secret_reaches_output_or_state(influxd: InfluxdServer, tmp_path: Path) -> None:
    today = today_midnight()
    sim = Simulator(small_options(71, today))
    await sim.start()
    try:
        markers = {**MARKERS, "WEBHOOK_URL": MARKERS["WEBHOOK_URL"].format(port=closed_port())}
        env = sim_env(
            sim,
            extra={
                **markers,
                "OPENAI_KEY": sim.openai_admin_key,
                "ANTHROPIC_KEY": sim.anthropic_admin_key,
            },
        )
        secrets = [
            *markers.values(),
            markers["DASH_AUTH"].split(":")[1],
            "mkWEBHOOKPATH4b5c",
            sim.openai_admin_key,
            sim.anthropic_admin_key,
            BASE_URL_PASSWORD,
        ]
        since = (today - timedelta(days=2)).date().isoformat()
        outputs: list[str] = []
        states: list[Path] = []
        variants = {
            "healthy": (influxd.url, True),
            "failing": (f"http://127.0.0.1:{closed_port()}", False),
        }
        for name, (influx_url, good) in variants.items():
            state = tmp_path / name
            state.mkdir()
            states.append(state)
            config = tmp_path / f"{name}.toml"
            config.write_text(config_text(state, sim, influx_url, good))
            for fmt in ("json", "console"):
                for args in (
                    ("check",),
                    ("check", "--connect"),
                    ("run", "--once"),
                    ("backfill", "--since", since),
                ):
                    result = await run_cli(config, *args, env=env, log_format=fmt)
                    assert "Traceback" not in result.err, (name, args, result.err[-2000:])
                    outputs.append(f"== {name} {fmt} {args}\n{result.out}\n{result.err}")
        text = "\n".join(outputs)
        # The runs did what they were meant to (else the test proves nothing).
        assert "401" in text or "refused" in text
        assert "spool" in text
        assert "tls_verification_disabled" in text  # the base_url was logged, redacted
        assert (states[0] / "alerts" / "alerts.sqlite").exists()
        assert list((states[1] / "spool").rglob("*.jsonl")), "the failing store spooled"
        assert leaks(text, secrets) == []
        for state in states:
            for path in state.rglob("*"):
                if path.is_file():
                    content = path.read_bytes().decode("utf-8", "replace")
                    assert leaks(content, secrets) == [], path
    finally:
        await sim.stop()
