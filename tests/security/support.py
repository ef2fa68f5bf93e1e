"""A hostile provider, a config pointing at it, and costpipe as real processes.

The security tests use what an operator uses: ``costpipe simulate
--hostile-names`` plays the compromised provider, and ``costpipe backfill``,
``run --once`` and ``dashboard`` run as child processes with a config written
to disk, so every layer between the provider's JSON and the browser or the
mail server is the shipped one.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from costpipe.testing.network import free_port

__all__ = [
    "KEYS",
    "HostileSimulator",
    "costpipe",
    "days_ago",
    "hostile_simulator",
    "provider_config",
    "serve",
]

#: The admin keys the simulator accepts, as the environment gives them to costpipe.
KEYS = {
    "OPENAI_ADMIN_KEY": "sk-admin-SECURITYTEST0123456789abcdef",
    "ANTHROPIC_ADMIN_KEY": "sk-ant-admin01-SECURITYTEST0123456789abcdef",
}


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "costpipe", "--log-format", "json", *args]


def _environment(extra: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, **KEYS, **extra}


def costpipe(
    config: Path, *args: str, env: Mapping[str, str] | None = None, limit: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run ``costpipe --config <config> <args>`` to completion within *limit* s."""
    return subprocess.run(
        _command("--config", str(config), *args),
        env=_environment(env or {}),
        capture_output=True,
        text=True,
        timeout=limit,
        check=False,
    )


def _wait_for(url: str, process: subprocess.Popen[bytes], limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers (a login redirect or a refusal is an answer)
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {limit}s")


@contextlib.contextmanager
def serve(
    args: list[str], ready_url: str, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A costpipe server process, stopped (SIGTERM, then SIGKILL) when the block ends."""
    process = subprocess.Popen(
        _command(*args),
        env=_environment(env or {}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(ready_url, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class HostileSimulator:
    """``costpipe simulate --hostile-names`` on a free loopback port."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def hostile_simulator() -> Iterator[HostileSimulator]:
    port = free_port()
    args = [
        "simulate",
        "--port",
        str(port),
        "--hostile-names",
        "--openai-admin-key",
        KEYS["OPENAI_ADMIN_KEY"],
        "--anthropic-admin-key",
        KEYS["ANTHROPIC_ADMIN_KEY"],
    ]
    simulator = HostileSimulator(port)
    with serve(args, f"{simulator.base}/_sim/info"):
        yield simulator


def provider_config(simulator: HostileSimulator, state_dir: Path, extra: str = "") -> str:
    """Both admin-key providers against *simulator*, a SQLite store, health on a free port."""
    return f"""
[pipeline]
lookback = "48h"
timezone = "UTC"
state_dir = "{state_dir}"

[[providers.openai]]
api_key = "${{OPENAI_ADMIN_KEY}}"
base_url = "{simulator.base}/v1"

[[providers.anthropic]]
api_key = "${{ANTHROPIC_ADMIN_KEY}}"
base_url = "{simulator.base}"

[[sinks.sqlite]]
path = "{state_dir / "costs.sqlite"}"

[health]
port = {free_port()}
{extra}
"""


def days_ago(days: int) -> datetime:
    """Midnight UTC *days* days before today."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)
