"""Fixtures for provider tests: loopback servers and component contexts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web

from costpipe.components import ComponentContext
from costpipe.pricing.prices import PriceTable
from tests.providers.fakes import Serve


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
