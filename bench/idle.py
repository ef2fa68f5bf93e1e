"""Idle RSS of the daemon: ``costpipe run`` with four providers, between passes.

One instance of each provider kind (OpenAI, Anthropic, LiteLLM, OpenRouter)
reads the simulator (its own process, a small organisation), an InfluxDB
sink writes to the harness's influxd, the schedule is an hour, so after the
first pass (2 days of lookback) the daemon waits. When ``/healthz`` reports a
successful pass of every provider, ``VmRSS`` of the daemon's process is sampled
for a few seconds (median); ``VmHWM`` (its peak since ``exec``, the first pass
included) is reported beside it. Each run is a new daemon.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import PYTHONPATH, Bench, simulator_process, spread
from bench.memory import _status_kib
from costpipe.testing.influxd import InfluxdServer

__all__ = ["run"]

KINDS = ("openai", "anthropic", "litellm", "openrouter")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def write_config(directory: Path, sim: dict[str, Any], influx_url: str, port: int) -> Path:
    config = directory / "config.toml"
    config.write_text(
        f"""
[pipeline]
state_dir = "{directory / "state"}"
interval = "1h"
lookback = "2d"

[health]
port = {port}

[[providers.openai]]
name = "sim"
api_key = "${{SIM_OPENAI_KEY}}"
base_url = "{sim["openai"]["base_url"]}"

[[providers.anthropic]]
name = "sim"
api_key = "${{SIM_ANTHROPIC_KEY}}"
base_url = "{sim["anthropic"]["base_url"]}"

[[providers.litellm]]
name = "sim"
api_key = "${{SIM_LITELLM_KEY}}"
base_url = "{sim["litellm"]["base_url"]}"

[[providers.openrouter]]
name = "sim"
api_key = "${{SIM_OPENROUTER_KEY}}"
base_url = "{sim["openrouter"]["base_url"]}"

[[sinks.influxdb]]
url = "{influx_url}"
database = "idle"
""",
        encoding="utf-8",
    )
    return config


async def _all_passed(session: aiohttp.ClientSession, port: int) -> bool:
    try:
        async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
            body = await response.json()
    except (aiohttp.ClientError, ValueError):
        return False
    providers = body.get("providers", {})
    return len(providers) == len(KINDS) and all(p.get("last_success") for p in providers.values())


async def _records(session: aiohttp.ClientSession, port: int) -> int:
    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
        text = await response.text()
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("costpipe_records_ingested_total{")
    )


async def one_daemon(
    directory: Path, sim: dict[str, Any], influx_url: str
) -> tuple[float, float, float, int]:
    """(idle RSS MiB, peak RSS MiB, seconds to the first pass's end, records) of one daemon."""
    port = _free_port()
    config = write_config(directory, sim, influx_url, port)
    env = {
        **os.environ,
        "PYTHONPATH": PYTHONPATH,
        "SIM_OPENAI_KEY": sim["openai"]["admin_keys"][0],
        "SIM_ANTHROPIC_KEY": sim["anthropic"]["admin_keys"][0],
        "SIM_LITELLM_KEY": sim["litellm"]["master_key"],
        "SIM_OPENROUTER_KEY": sim["openrouter"]["management_key"],
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "costpipe",
        "--config",
        str(config),
        "--log-level",
        "error",
        "run",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        began = time.perf_counter()
        async with aiohttp.ClientSession() as session:
            while not await _all_passed(session, port):
                if process.returncode is not None or time.perf_counter() - began > 300:
                    raise RuntimeError("the daemon's first pass did not succeed")
                await asyncio.sleep(0.2)
            first_pass = time.perf_counter() - began
            records = await _records(session, port)
        await asyncio.sleep(2)  # let the pass's garbage go before sampling
        samples = []
        for _ in range(10):
            samples.append(_status_kib(process.pid)[1] / 1024)
            await asyncio.sleep(0.3)
        peak = _status_kib(process.pid)[0] / 1024
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()
    return statistics.median(samples), peak, first_pass, records


async def run(server: InfluxdServer, *, quick: bool, runs: int) -> Bench:
    # The daemon reads up to its own clock: the simulator's data must end now.
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    spec = {"seed": 5, "now": now.isoformat(), "users": 6 if quick else 20, "projects": 3}
    bench = Bench("idle", params={"providers": list(KINDS), "users": spec["users"], "runs": runs})
    idle, peak, first = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        async with simulator_process(spec) as info:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{info.anthropic_base_url}/_sim/info") as response,
            ):
                sim = await response.json()
            for run_index in range(runs):
                directory = Path(tmp) / f"daemon-{run_index}"
                directory.mkdir()
                rss, hwm, seconds, records = await one_daemon(directory, sim, server.url)
                if not records:
                    raise RuntimeError("the daemon's first pass stored no records")
                bench.params["records_first_pass"] = records
                idle.append(rss)
                peak.append(hwm)
                first.append(seconds)
    bench.figures["daemon_idle_rss"] = spread(idle, "MiB")
    bench.figures["daemon_peak_rss_first_pass"] = spread(peak, "MiB")
    bench.figures["seconds_to_first_pass_end"] = spread(first, "s")
    bench.notes.append(
        "costpipe run with one OpenAI, Anthropic, LiteLLM and OpenRouter instance and an"
        " InfluxDB sink, interval 1h: VmRSS after the first pass (2 days), median of 10 samples"
    )
    return bench
