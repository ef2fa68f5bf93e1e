"""The simulator and an Azure OpenAI provider signed in through the fake managed identity."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from costpipe.providers.azure_openai import AzureOpenAIProvider
from costpipe.providers.http.retry import Timer
from costpipe.simulator import Simulator
from costpipe.simulator.azure_openai_api import MSI_PATH
from tests.conftest import StartSimulator
from tests.providers_cloud.conftest import RecordingTimer as RecordingTimer
from tests.providers_cloud.conftest import StartProvider

#: An afternoon, not aligned to a day.
NOW = datetime(2026, 11, 20, 15, 30, 17, tzinfo=UTC)
Factory = Callable[..., Awaitable[AzureOpenAIProvider]]
MakeFor = Callable[..., Awaitable[AzureOpenAIProvider]]


@pytest.fixture
async def sim(start_simulator: StartSimulator) -> Simulator:
    return await start_simulator(seed=11, now=NOW)


@pytest.fixture
def managed_identity_for(monkeypatch: pytest.MonkeyPatch) -> Callable[[Simulator], None]:
    """App Service managed identity of a simulator, as azure-identity finds it in
    the environment."""

    def point(sim: Simulator) -> None:
        monkeypatch.setenv("IDENTITY_ENDPOINT", sim.base_url + MSI_PATH)
        monkeypatch.setenv("IDENTITY_HEADER", sim.azure.identity_header)
        for name in ("MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT"):
            monkeypatch.delenv(name, raising=False)

    return point


@pytest.fixture
def managed_identity(sim: Simulator, managed_identity_for: Callable[[Simulator], None]) -> None:
    managed_identity_for(sim)


@pytest.fixture
def make_provider_for(start_cloud_provider: StartProvider) -> MakeFor:
    async def build(
        sim: Simulator, timer: Timer | None = None, **options: object
    ) -> AzureOpenAIProvider:
        settings: dict[str, object] = {
            "scope": sim.azure.scope,
            "management_url": sim.base_url,
            "max_retries": 3,
            **options,
        }
        return await start_cloud_provider(AzureOpenAIProvider, settings, now=NOW, timer=timer)

    return build


@pytest.fixture
def make_provider(
    sim: Simulator,
    managed_identity: None,
    make_provider_for: Callable[..., Awaitable[AzureOpenAIProvider]],
) -> Factory:
    async def build(timer: Timer | None = None, **options: object) -> AzureOpenAIProvider:
        return await make_provider_for(sim, timer, **options)

    return build
