"""Fixtures: a simulator with a fixed clock on a free loopback port, and a session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from costpipe.simulator import Simulator
from tests.conftest import StartSimulator

#: A Wednesday afternoon, deliberately not aligned to any bucket edge.
NOW = datetime(2026, 3, 11, 15, 30, 17, tzinfo=UTC)
#: Midnight three days before NOW.
DAY0 = datetime(2026, 3, 8, tzinfo=UTC)


@pytest.fixture
async def sim(start_simulator: StartSimulator) -> Simulator:
    return await start_simulator(seed=7, now=NOW)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def openai_headers(sim: Simulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.openai_admin_key}"}


@pytest.fixture
def anthropic_headers(sim: Simulator) -> dict[str, str]:
    return {"x-api-key": sim.anthropic_admin_key, "anthropic-version": "2023-06-01"}
