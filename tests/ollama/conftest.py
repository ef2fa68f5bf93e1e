"""The fake Ollama, a serving Ollama provider in front of it and an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from costpipe.components import ComponentContext
from costpipe.providers.ollama import OllamaConfig, OllamaProvider
from costpipe.records import CostRecord, Window
from costpipe.simulator.ollama_api import FakeOllama
from costpipe.testing import collect

#: Bearer tokens of the test's callers (long enough to be searched for as secrets).
ALICE_TOKEN = "olk-alice-7f3a9c2e51d04b88"
BOB_TOKEN = "olk-bob-0c4d8e1f2a3b5c6d"
KEYS = {
    "alice": {"token": ALICE_TOKEN, "user": "alice", "project": "research"},
    "bob": {"token": BOB_TOKEN, "user": "bob", "project": "support"},
}
#: Traffic happens at TRAFFIC; the hour is complete (fetchable) at AFTER.
TRAFFIC = datetime(2026, 11, 30, 10, 17, tzinfo=UTC)
AFTER = datetime(2026, 11, 30, 11, 2, tzinfo=UTC)
HOUR = Window(datetime(2026, 11, 30, 10, tzinfo=UTC), datetime(2026, 11, 30, 11, tzinfo=UTC))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Clock:
    """A settable wall clock for the provider and its proxy."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Setup:
    fake: FakeOllama
    provider: OllamaProvider
    clock: Clock
    session: aiohttp.ClientSession

    @property
    def proxy_url(self) -> str:
        assert self.provider.proxy is not None
        return self.provider.proxy.url

    async def post(
        self, base: str, path: str, body: dict[str, Any], token: str | None = ALICE_TOKEN
    ) -> tuple[int, str, bytes]:
        headers = bearer(token) if token else {}
        async with self.session.post(base + path, json=body, headers=headers) as response:
            return response.status, response.headers.get("Content-Type", ""), await response.read()

    async def records(self) -> list[CostRecord]:
        """The complete hour's records, fetched as a pass after the hour would."""
        self.clock.now = AFTER
        return await collect(self.provider, HOUR)


StartProvider = Callable[..., Awaitable[OllamaProvider]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeOllama]:
    fake = FakeOllama(fixed_time=datetime(2026, 11, 30, 10, 17, 5, tzinfo=UTC))
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def start_provider(tmp_path: Path) -> AsyncIterator[StartProvider]:
    started: list[OllamaProvider] = []

    async def start(
        upstream: str, clock: Clock, *, serving: bool = True, **options: Any
    ) -> OllamaProvider:
        config = OllamaConfig.model_validate(
            {"upstream": upstream, "listen": "127.0.0.1:0", "keys": KEYS, **options}
        )
        context = ComponentContext(
            instance="ollama.gpu", state_dir=tmp_path / "ollama", serving=serving
        )
        provider = OllamaProvider(config, context, clock=clock)
        await provider.start()
        started.append(provider)
        return provider

    yield start
    for provider in started:
        await provider.close()


@pytest.fixture
async def setup(fake: FakeOllama, start_provider: StartProvider) -> AsyncIterator[Setup]:
    clock = Clock(TRAFFIC)
    provider = await start_provider(fake.base_url, clock)
    async with aiohttp.ClientSession() as session:
        yield Setup(fake, provider, clock, session)
