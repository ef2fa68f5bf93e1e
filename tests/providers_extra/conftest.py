"""A simulator with a fixed clock for the OpenRouter and LiteLLM provider tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from costpipe.components import ComponentContext
from costpipe.simulator import Simulator
from tests.conftest import StartSimulator

#: A Wednesday afternoon, not aligned to any bucket edge.
NOW = datetime(2026, 3, 11, 15, 30, 17, tzinfo=UTC)


@pytest.fixture
async def sim(start_simulator: StartSimulator) -> Simulator:
    return await start_simulator(seed=11, now=NOW)


@pytest.fixture
def context_for(tmp_path: Path) -> Callable[..., ComponentContext]:
    def build(instance: str, secret_env: dict[str, str] | None = None) -> ComponentContext:
        return ComponentContext(
            instance=instance,
            state_dir=tmp_path / instance,
            request_slots=asyncio.Semaphore(4),
            secret_env=secret_env or {},
        )

    return build
