"""Fixtures for provider tests: loopback servers and component contexts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp import web

from costpipe.components import ComponentContext
from costpipe.pricing.prices import PriceTable
from costpipe.providers.base import AuthHint, HttpClient
from tests.providers.fakes import FakeClock, Serve


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start an aiohttp app on 127.0.0.1 with a free port; return its base URL."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
def make_context(tmp_path: Path) -> Callable[..., ComponentContext]:
    def build(
        instance: str = "openai.prod",
        prices: PriceTable | None = None,
        slots: int = 8,
        secret_env: dict[str, str] | None = None,
    ) -> ComponentContext:
        return ComponentContext(
            instance=instance,
            state_dir=tmp_path / instance,
            request_slots=asyncio.Semaphore(slots),
            prices=prices,
            secret_env=secret_env or {},
        )

    return build


class Stats:
    """The counters a provider keeps, and the fake clock the client waits on."""

    def __init__(self) -> None:
        self.pages_fetched = 0
        self.retries = 0
        self.clock = FakeClock()


MakeClient = Callable[..., Awaitable[tuple[HttpClient, Stats]]]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """An HttpClient for ``test.one`` (key ``sk-admin-good``, env var TEST_KEY) whose
    waits go through ``stats.clock``, a FakeClock: nothing sleeps for real."""
    clients: list[HttpClient] = []

    async def make(base_url: str, slots: int = 8, **options: Any) -> tuple[HttpClient, Stats]:
        stats = Stats()
        options = {
            "max_retries": 2,
            "retry_backoff": timedelta(seconds=1),
            "timeout": timedelta(seconds=5),
            "timer": stats.clock.timer(),
            "secrets": ("sk-admin-good",),
            **options,
        }
        client = HttpClient(
            instance="test.one",
            base_url=base_url,
            headers={"Authorization": "Bearer sk-admin-good"},
            slots=asyncio.Semaphore(slots),
            stats=stats,
            log=structlog.get_logger("costpipe"),
            auth=AuthHint("an Admin key", env_var="TEST_KEY"),
            **options,
        )
        await client.start()
        clients.append(client)
        return client, stats

    yield make
    for client in clients:
        await client.close()
