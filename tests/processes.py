"""The costpipe CLI as a child process, with deadlines that always hold.

Tests that start ``costpipe run`` or ``backfill`` must never hang the suite: a
process that outlives its deadline is killed, and the test fails with the tail
of what it printed instead of waiting on it. Processes are started with
``asyncio.create_subprocess_exec`` because the simulator and other servers run
on the test's own event loop (a blocking ``subprocess.run`` would starve them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CliProcesses", "Finished", "kill9", "run_cli", "start_cli", "stop_process"]

#: Seconds a stopped process gets between SIGTERM and SIGKILL.
STOP_GRACE = 10.0


async def start_cli(
    config: Path, *args: str, env: Mapping[str, str], log_format: str = "json"
) -> asyncio.subprocess.Process:
    """``python -m costpipe --config <config> --log-format <fmt> <args>``, pipes open."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "costpipe",
        "--config",
        str(config),
        "--log-format",
        log_format,
        *args,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


@dataclass
class Finished:
    code: int
    out: str
    err: str

    def events(self) -> list[dict[str, Any]]:
        """The JSON log lines (stderr), in order."""
        found = []
        for line in self.err.splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line))
        return found


async def _collect(process: asyncio.subprocess.Process, out: list[bytes], err: list[bytes]) -> None:
    async def drain(stream: asyncio.StreamReader | None, into: list[bytes]) -> None:
        if stream is not None:
            while chunk := await stream.read(65536):
                into.append(chunk)

    await asyncio.gather(drain(process.stdout, out), drain(process.stderr, err))
    await process.wait()


async def run_cli(
    config: Path, *args: str, env: Mapping[str, str], limit: float = 120, log_format: str = "json"
) -> Finished:
    """Run the CLI to completion within *limit* seconds; past it, the process is
    killed and the test fails with the end of its output."""
    process = await start_cli(config, *args, env=env, log_format=log_format)
    out: list[bytes] = []
    err: list[bytes] = []
    try:
        await asyncio.wait_for(_collect(process, out, err), limit)
    except TimeoutError:
        await stop_process(process, grace=0)
        tail = b"".join(err).decode(errors="replace")[-4000:]
        raise AssertionError(
            f"costpipe {' '.join(args)} still running after {limit}s; killed. stderr:\n{tail}"
        ) from None
    assert process.returncode is not None
    return Finished(process.returncode, b"".join(out).decode(), b"".join(err).decode())


async def stop_process(process: asyncio.subprocess.Process, grace: float = STOP_GRACE) -> int:
    """SIGTERM, then SIGKILL after *grace* seconds; returns the exit code. Never
    waits longer than *grace* plus the moment a SIGKILL takes."""
    if process.returncode is None:
        if grace > 0:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), grace)
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    await process.wait()
    assert process.returncode is not None
    return process.returncode


async def kill9(process: asyncio.subprocess.Process) -> None:
    """SIGKILL (a crash, as far as costpipe can tell) and reap the process."""
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
    await process.communicate()


@dataclass
class CliProcesses:
    """The ``costpipe_cli`` fixture: starts CLI processes and guarantees none
    outlives the test (each is stopped at teardown, killed past its grace)."""

    env: dict[str, str]
    started: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def start(
        self, config: Path, *args: str, env: Mapping[str, str] | None = None
    ) -> asyncio.subprocess.Process:
        process = await start_cli(config, *args, env={**self.env, **(env or {})})
        self.started.append(process)
        return process

    async def run(
        self,
        config: Path,
        *args: str,
        env: Mapping[str, str] | None = None,
        limit: float = 120,
    ) -> Finished:
        return await run_cli(config, *args, env={**self.env, **(env or {})}, limit=limit)

    async def stop_all(self) -> None:
        await asyncio.gather(*(stop_process(p) for p in self.started))
