"""`costpipe check --connect` contacts every provider, store and notifier for
real and prints a table of what works."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from costpipe.simulator import Simulator, SimulatorOptions
from costpipe.testing.network import free_port


class Accepting:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


@pytest.fixture
def smtp_port() -> Iterator[int]:
    port = free_port()
    controller = Controller(Accepting(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator(SimulatorOptions(seed=3))
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def webhook_url() -> AsyncIterator[str]:
    async def accept(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", accept)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield f"http://127.0.0.1:{port}/hook"
    await runner.cleanup()


async def test_check_connect_prints_what_works_and_what_does_not(
    simulator: Simulator, smtp_port: int, webhook_url: str, tmp_path: Path
) -> None:
    dead_port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[pipeline]
state_dir = "{tmp_path / "state"}"

[[providers.openai]]
name = "good"
api_key = "${{GOOD_KEY}}"
base_url = "{simulator.openai_base_url}"

[[providers.anthropic]]
name = "revoked"
api_key = "${{BAD_KEY}}"
base_url = "{simulator.anthropic_base_url}"
max_retries = 0

[[sinks.sqlite]]
path = "{tmp_path / "costs.sqlite"}"

[[sinks.influxdb]]
name = "down"
url = "http://127.0.0.1:{dead_port}"
max_tries = 1

[[notifiers.email]]
name = "ops"
host = "127.0.0.1"
port = {smtp_port}
starttls = false
from_addr = "costpipe@example.com"
to = ["ops@example.com"]

[[notifiers.webhook]]
name = "hook"
url = "{webhook_url}"
format = "json"
"""
    )
    env = {
        **os.environ,
        "GOOD_KEY": simulator.openai_admin_key,
        "BAD_KEY": "sk-ant-admin01-not-a-real-key-123456",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "costpipe",
        "--config",
        str(config),
        "--log-format",
        "json",
        "check",
        "--connect",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    text = out.decode()
    rows = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert 1 == process.returncode, text + err.decode()
    assert " ok " in rows["openai.good"]
    assert "FAILED" in rows["anthropic.revoked"]
    assert "FAILED" in rows["influxdb.down"]
    assert " ok " in rows["sqlite.0"]
    assert " ok " in rows["email.ops"]
    assert " ok " in rows["webhook.hook"]
    assert "not-a-real-key" not in text + err.decode()
