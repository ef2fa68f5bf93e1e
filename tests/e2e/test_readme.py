"""Every command and config snippet in README.md is run or validated here.

A README command without a runner below fails the suite, so the README and
the tests cannot drift apart. (`bash scripts/test.sh` is the command CI runs.)
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from costpipe.config.settings import parse_config
from costpipe.plugins import build_plugin_manager
from costpipe.simulator import Simulator, SimulatorOptions
from costpipe.testing.network import free_port

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")

pytestmark = pytest.mark.slow


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def commands() -> list[str]:
    found = []
    for block in blocks("sh"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line:
                found.append(line)
    return found


INSTALL_AND_DEMO = (
    "python3 -m venv .venv && .venv/bin/pip install -e '.[dashboard]' && .venv/bin/costpipe demo"
)
TEST_COMMAND = "bash scripts/test.sh"


def test_the_two_fresh_machine_commands_are_the_documented_ones() -> None:
    assert INSTALL_AND_DEMO == commands()[0]
    assert TEST_COMMAND == commands()[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "exec bash scripts/test.sh" in ci, "CI must run the README's test command"


def test_every_toml_snippet_is_a_valid_config() -> None:
    _pm, registry = build_plugin_manager(entry_points=False)
    env = {
        "OPENAI_ADMIN_KEY": "sk-admin-x",
        "ANTHROPIC_ADMIN_KEY": "sk-ant-admin01-x",
        "SMTP_PASSWORD": "pw-123456",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X",
    }
    snippets = blocks("toml")
    assert len(snippets) >= 3
    base = snippets[0]
    parse_config(tomllib.loads(base), registry, env)
    for extra in snippets[1:]:
        parse_config(tomllib.loads(base + "\n" + extra), registry, env)


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator(SimulatorOptions(seed=5))
    await sim.start()
    yield sim
    await sim.stop()


def readme_config(sim: Simulator, folder: Path) -> Path:
    """The README's config, pointed at the simulator instead of the real APIs."""
    text = blocks("toml")[0]
    text = text.replace('state_dir = ".costpipe"', f'state_dir = "{folder / "state"}"')
    text = text.replace('path = ".costpipe/costs.sqlite"', f'path = "{folder / "costs.sqlite"}"')
    text = text.replace(
        'api_key = "${OPENAI_ADMIN_KEY}"',
        f'api_key = "${{OPENAI_ADMIN_KEY}}"\nbase_url = "{sim.openai_base_url}"',
    )
    text = text.replace(
        'api_key = "${ANTHROPIC_ADMIN_KEY}"',
        f'api_key = "${{ANTHROPIC_ADMIN_KEY}}"\nbase_url = "{sim.anthropic_base_url}"',
    )
    text += f"\n[health]\nport = 0\n[dashboard]\nport = {free_port()}\n"
    path = folder / "config.toml"
    path.write_text(text)
    return path


class Runner:
    def __init__(self, sim: Simulator, folder: Path) -> None:
        self.config = readme_config(sim, folder)
        self.env = {
            **os.environ,
            "COSTPIPE_CONFIG": str(self.config),
            "OPENAI_ADMIN_KEY": sim.openai_admin_key,
            "ANTHROPIC_ADMIN_KEY": sim.anthropic_admin_key,
            "PYTHONUNBUFFERED": "1",
        }

    async def start(self, command: str) -> asyncio.subprocess.Process:
        args = shlex.split(command)
        assert "costpipe" == args[0]
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "costpipe",
            "--log-format",
            "json",
            *args[1:],
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    async def finish(self, command: str) -> tuple[int, str]:
        process = await self.start(command)
        async with asyncio.timeout(240):
            out, err = await process.communicate()
        return int(process.returncode or 0), out.decode() + err.decode()

    async def until(self, process: asyncio.subprocess.Process, pattern: str) -> str:
        stream = process.stderr if "event" in pattern else process.stdout
        assert stream is not None
        seen = []
        async with asyncio.timeout(120):
            while line := (await stream.readline()).decode():
                seen.append(line)
                if re.search(pattern, line):
                    return line
        raise AssertionError(f"{pattern!r} never appeared: {''.join(seen)[-2000:]}")

    async def interrupt(self, process: asyncio.subprocess.Process, sig: int) -> int:
        process.send_signal(sig)
        async with asyncio.timeout(30):
            await process.communicate()
        return int(process.returncode or 0)


async def run_check(runner: Runner, command: str) -> None:
    code, output = await runner.finish(command)
    assert 0 == code, output
    assert "openai.0" in output
    assert "anthropic.0" in output


async def run_backfill(runner: Runner, command: str) -> None:
    code, output = await runner.finish(command)
    assert 0 == code, output
    assert re.search(r"openai\.0: ok, [1-9]\d* records", output), output
    assert re.search(r"anthropic\.0: ok, [1-9]\d* records", output), output


async def run_daemon(runner: Runner, command: str) -> None:
    process = await runner.start(command)
    await runner.until(process, r'"event": "pass_done"')
    assert 0 == await runner.interrupt(process, signal.SIGTERM)


async def run_dashboard(runner: Runner, command: str) -> None:
    process = await runner.start(command)
    line = await runner.until(process, r"http://127\.0\.0\.1:\d+/")
    url = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
    assert url is not None
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url.group(1), timeout=30).read())
    assert b"<html" in body.lower()
    assert 0 == await runner.interrupt(process, signal.SIGINT)


async def run_export(runner: Runner, command: str) -> None:
    # The file goes to the test's folder, not the working directory.
    output = command.split(" -o ")[1].split()[0]
    target = runner.config.parent / output
    code, text = await runner.finish(command.replace(f" -o {output}", f" -o {target}"))
    assert 0 == code, text
    assert "equal to the store's total" in text, text
    assert target.stat().st_size > 0


RUNNERS: dict[str, Callable[[Runner, str], Awaitable[None]]] = {
    "costpipe check": run_check,
    "costpipe backfill": run_backfill,
    "costpipe run": run_daemon,
    "costpipe dashboard": run_dashboard,
    "costpipe export": run_export,
}


async def test_every_costpipe_command_in_the_readme_runs(
    simulator: Simulator, tmp_path: Path
) -> None:
    runner = Runner(simulator, tmp_path)
    listed = [c for c in commands() if c.startswith("costpipe ")]
    assert listed, "the README shows how to run costpipe"
    for command in listed:
        prefix = " ".join(command.split()[:2])
        assert prefix in RUNNERS, f"README command without a test: {command}"
        await RUNNERS[prefix](runner, command)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to copy the checkout")
def test_install_and_demo_on_a_fresh_checkout(tmp_path: Path) -> None:
    """The README's first command, in a clean copy of the repository with a new venv."""
    checkout = tmp_path / "costpipe"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(checkout)], check=True, timeout=120)
    install, demo = INSTALL_AND_DEMO.rsplit(" && ", 1)
    subprocess.run(install, shell=True, cwd=checkout, check=True, timeout=900, capture_output=True)
    # The demo serves forever: start it, wait for the dashboard and the alert, stop it.
    process = subprocess.Popen(
        [*shlex.split(demo), "--port", "0", "--days", "1"],
        cwd=checkout,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    seen: list[str] = []
    try:
        for line in process.stdout:
            seen.append(line)
            if "daemon running" in line:
                break
    finally:
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=60)[0]
    output = "".join(seen) + rest
    assert 0 == process.returncode, output
    assert "dashboard: http://127.0.0.1:" in output
    # `.[dashboard]` has no cloud SDK: the demo leaves Bedrock out and says how to add it.
    assert "pip install 'costpipe[bedrock]' adds it to the demo" in output
    assert (checkout / ".costpipe-demo" / "costs.sqlite").exists()
