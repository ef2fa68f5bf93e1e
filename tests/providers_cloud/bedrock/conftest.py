"""A simulator with a fixed clock, and Bedrock providers started against its fake AWS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from costpipe.components import ComponentContext
from costpipe.providers.bedrock import BedrockConfig, BedrockProvider
from costpipe.records import CostRecord, Window
from costpipe.simulator import Simulator
from tests.conftest import StartSimulator

#: Not aligned to any bucket edge.
NOW = datetime(2026, 11, 20, 5, 30, 17, tzinfo=UTC)
#: Three whole days that ended well before NOW (a backfill for Cost Explorer).
PAST = Window(datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 11, 18, tzinfo=UTC))

MakeProvider = Callable[..., Awaitable[BedrockProvider]]


@pytest.fixture
async def sim(start_simulator: StartSimulator) -> Simulator:
    return await start_simulator(seed=5, now=NOW)


class Sleeps:
    """An injected sleep: records each wait, never waits, may run a hook once."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.hook: Callable[[], object] | None = None

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.hook is not None:
            hook, self.hook = self.hook, None
            hook()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def make_provider(
    sim: Simulator, tmp_path: Path, sleeps: Sleeps
) -> AsyncIterator[MakeProvider]:
    """``await make_provider(key="FULL", **config)``: a started provider; all close at teardown."""
    async with AsyncExitStack() as stack:

        async def make(key: str = "FULL", name: str = "aws", **options: Any) -> BedrockProvider:
            if key in ("FULL", "NOCE", "NOCW"):
                found = sim.bedrock.key(key)
                key_id, secret = found.access_key_id, found.secret_access_key
            else:
                key_id, secret = key, "not-a-real-secret-0123456789abcdefghijklmn"
            config = BedrockConfig(
                name=name,
                endpoint_url=sim.bedrock_endpoint_url,
                access_key_id=key_id,
                secret_access_key=secret,
                **options,
            )
            context = ComponentContext(instance=f"bedrock.{name}", state_dir=tmp_path / name)
            context.state_dir.mkdir(parents=True, exist_ok=True)
            provider = BedrockProvider(config, context, clock=lambda: NOW, sleep=sleeps)
            await provider.start()
            stack.push_async_callback(provider.close)
            return provider

        yield make


async def collect(provider: BedrockProvider, window: Window) -> list[CostRecord]:
    return [record async for batch in provider.fetch(window) for record in batch]
