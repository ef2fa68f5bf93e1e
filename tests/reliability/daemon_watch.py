"""Follow a running ``costpipe run``: its JSON log events as they come, and its
``/healthz``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp


class DaemonWatch:
    """Reads the daemon's stderr (JSON lines) in the background."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for line in self.process.stderr:
            text = line.decode(errors="replace")
            self.raw.append(text)
            if text.startswith("{"):
                try:
                    self.events.append(json.loads(text))
                except ValueError:
                    continue
                self._changed.set()
        self._changed.set()

    async def wait_for(
        self, match: Callable[[dict[str, Any]], bool], count: int = 1, limit: float = 60
    ) -> dict[str, Any]:
        """The *count*-th event matching *match* (waiting for it)."""
        async with asyncio.timeout(limit):
            while True:
                found = [e for e in self.events if match(e)]
                if len(found) >= count:
                    return found[count - 1]
                if self.process.returncode is not None and self._task.done():
                    raise AssertionError("daemon exited:\n" + "".join(self.raw[-40:]))
                self._changed.clear()
                await self._changed.wait()

    def count(self, event: str) -> int:
        return sum(1 for e in self.events if e.get("event") == event)

    async def health_url(self) -> str:
        found = await self.wait_for(lambda e: e.get("event") == "health_listening")
        return str(found["url"])

    async def finish(self) -> str:
        """Drain the rest of the output once the process ended."""
        await self.process.wait()
        await self._task
        assert self.process.stdout is not None
        return (await self.process.stdout.read()).decode()


async def healthz(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


async def wait_health(url: str, status: int, limit: float = 60) -> dict[str, Any]:
    async with asyncio.timeout(limit):
        while True:
            code, body = await healthz(url)
            if code == status:
                return body
            await asyncio.sleep(0.1)
