"""``kill -9`` of ``costpipe run`` while clients stream through its Ollama proxy:
at most the open batch is lost, nothing is counted twice after the restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from costpipe.components import ComponentContext
from costpipe.providers.ollama import OllamaConfig, OllamaProvider
from costpipe.records import Window
from costpipe.simulator.ollama_api import FakeOllama, expected_counts
from costpipe.testing import collect
from tests.conftest import find_free_port
from tests.processes import CliProcesses, kill9, stop_process

TOKEN = "olk-daemon-5e6f7a8b9c0d1e2f"
BATCH = 8
CLIENTS = 4
PROMPT = "stream me a sentence"


def _config(tmp_path: Path, upstream: str, port: int) -> Path:
    config = tmp_path / "costpipe.toml"
    config.write_text(
        f"""
[pipeline]
state_dir = "{tmp_path / "state"}"
interval = "1h"
[health]
enabled = false
[[providers.ollama]]
name = "gpu"
upstream = "{upstream}"
listen = "127.0.0.1:{port}"
journal_batch_events = {BATCH}
journal_flush_interval = "1m"
[providers.ollama.keys]
ci = {{ token = "${{OLLAMA_CI_TOKEN}}", user = "ci-bot", project = "nightly" }}
[[sinks.sqlite]]
path = "{tmp_path / "costs.sqlite"}"
"""
    )
    return config


async def _wait_listening(port: int, process: asyncio.subprocess.Process) -> None:
    for _ in range(400):
        assert process.returncode is None, "the daemon exited"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the proxy never listened")


def _journal_lines(state: Path) -> list[bytes]:
    directory = state / "providers" / "ollama.gpu" / "journal"
    return [
        line
        for path in sorted(directory.glob("*.jsonl"))
        for line in path.read_bytes().splitlines()
        if line.strip()
    ]


async def _clients(
    url: str, stop: asyncio.Event, done: list[int], target: int, reached: asyncio.Event
) -> None:
    """CLIENTS clients sending chats until *stop*; *reached* is set at *target* answers."""

    async def client(index: int) -> None:
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                try:
                    async with session.post(
                        url + "/api/chat",
                        json={
                            "model": "llama3.2",
                            "messages": [{"role": "user", "content": PROMPT}],
                        },
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    ) as response:
                        body = await response.read()
                    if response.status == 200 and body.endswith(b"}\n") and b'"done":true' in body:
                        done.append(index)
                        if len(done) >= target:
                            reached.set()
                except (aiohttp.ClientError, ConnectionError):
                    return

    await asyncio.gather(*(client(i) for i in range(CLIENTS)))


@pytest.mark.asyncio
async def test_kill9_loses_at_most_the_open_batch_and_double_counts_nothing(
    tmp_path: Path, costpipe_cli: CliProcesses
) -> None:
    fake = FakeOllama(chunk_delay=0.001)
    await fake.start()
    port = find_free_port()
    config = _config(tmp_path, fake.base_url, port)
    env = {"OLLAMA_CI_TOKEN": TOKEN}
    try:
        daemon = await costpipe_cli.start(config, "run", env=env)
        await _wait_listening(port, daemon)
        stop, reached = asyncio.Event(), asyncio.Event()
        done: list[int] = []
        url = f"http://127.0.0.1:{port}"
        traffic = asyncio.create_task(_clients(url, stop, done, 60, reached))
        await reached.wait()
        await kill9(daemon)
        completed = len(done)  # answers received in full before the kill
        stop.set()
        await traffic
        after_kill = _journal_lines(tmp_path / "state")
        events = [json.loads(line) for line in after_kill if line.endswith(b"}")]
        # Lost: the open batch (< BATCH events) and the requests finishing at the kill.
        assert completed - len(events) < BATCH + CLIENTS
        assert len(events) <= len(done) + CLIENTS

        daemon = await costpipe_cli.start(config, "run", env=env)
        await _wait_listening(port, daemon)
        stop, reached, more = asyncio.Event(), asyncio.Event(), []
        traffic = asyncio.create_task(_clients(url, stop, more, 20, reached))
        await reached.wait()
        stop.set()
        await traffic
        assert await stop_process(daemon) == 0  # SIGTERM: the open batch is written
        assert daemon.stderr is not None
        log = await daemon.stderr.read()
        lines = _journal_lines(tmp_path / "state")
    finally:
        await fake.stop()

    # A graceful stop loses nothing; the first run's events are all still there, once.
    assert len(events) + len(more) == len([ln for ln in lines if ln.endswith(b"}")])
    assert lines[: len(after_kill)] == after_kill  # appended to, never rewritten
    assert TOKEN.encode() not in b"".join(lines)
    assert b"proxy_listening" in log
    assert TOKEN.encode() not in log

    # Read back as a later pass does, twice: each journal event is one request, once.
    later = datetime.now(UTC) + timedelta(hours=2)
    reader = OllamaProvider(
        OllamaConfig(upstream=fake.base_url),
        ComponentContext("ollama.gpu", tmp_path / "state" / "providers" / "ollama.gpu"),
        clock=lambda: later,
    )
    await reader.start()
    window = Window(later - timedelta(days=1), later)
    first, second = await collect(reader, window), await collect(reader, window)
    await reader.close()
    inp, out = expected_counts(PROMPT)
    total = len(events) + len(more)
    for records in (first, second):
        assert (total, total * inp, total * out) == (
            sum(r.requests for r in records),
            sum(r.uncached_input_tokens for r in records),
            sum(r.output_tokens for r in records),
        )
        assert {(r.user_id, r.project_id) for r in records} == {("ci-bot", "nightly")}
    assert sorted(r.key for r in first) == sorted(r.key for r in second)
