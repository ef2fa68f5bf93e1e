"""ProviderContract for the Ollama provider, over a journal filled through the proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from costpipe.components import ComponentContext, Provider
from costpipe.providers.ollama import OllamaConfig, OllamaProvider
from costpipe.records import Window
from costpipe.simulator.ollama_api import FakeOllama
from costpipe.testing import ProviderContract
from tests.ollama.conftest import ALICE_TOKEN, BOB_TOKEN, KEYS, Clock

START = datetime(2026, 11, 30, 8, tzinfo=UTC)


async def _filled_provider(fake: FakeOllama, state: Path) -> OllamaProvider:
    clock = Clock(START)
    config = OllamaConfig.model_validate(
        {"upstream": fake.base_url, "listen": "127.0.0.1:0", "keys": KEYS, "gpu_hour_usd": "3.20"}
    )
    provider = OllamaProvider(
        config, ComponentContext("ollama.contract", state, serving=True), clock=clock
    )
    await provider.start()
    assert provider.proxy is not None
    async with aiohttp.ClientSession() as session:
        for hour in range(4):
            clock.now = START + timedelta(hours=hour, minutes=13 + 11 * hour)
            for token in (ALICE_TOKEN, BOB_TOKEN):
                body = {"model": "llama3.2", "prompt": f"hour {hour}", "stream": False}
                async with session.post(
                    provider.proxy.url + "/api/generate",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                ) as response:
                    assert response.status == 200
    clock.now = START + timedelta(hours=4, minutes=5)
    return provider


class TestOllamaContract(ProviderContract):
    @pytest.fixture
    async def provider(self, tmp_path: Path) -> AsyncIterator[OllamaProvider]:
        fake = FakeOllama()
        await fake.start()
        provider = await _filled_provider(fake, tmp_path / "state")
        yield provider
        await provider.close()
        await fake.stop()

    @pytest.fixture
    async def refused_provider(self, provider: OllamaProvider) -> OllamaProvider:
        # Nothing remote is asked during a fetch (it reads the local journal), so
        # no credential can be refused; the two checks that need one are replaced below.
        return provider

    @pytest.fixture
    def contract_window(self) -> Window:
        return Window(START, START + timedelta(hours=4))

    @pytest.mark.skip(reason="fetch reads the local journal: there is no credential to refuse")
    async def test_refused_credential_raises_auth_error_once(self, *args: Any) -> None:
        """Not applicable."""

    @pytest.mark.asyncio
    async def test_secrets_never_logged(
        self, provider: Provider[Any], contract_window: Window, all_secrets: list[str]
    ) -> None:
        """A fetch logs no secret; the bearer tokens are among the secrets looked for."""
        from structlog.testing import capture_logs

        from costpipe.testing import collect

        assert ALICE_TOKEN in all_secrets
        with capture_logs() as logs:
            assert await collect(provider, contract_window)
        for secret in all_secrets:
            assert secret not in repr(logs)
