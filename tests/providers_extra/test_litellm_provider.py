"""LiteLLM provider against the simulator's /spend/logs/v2."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr

from costpipe.components import ComponentContext
from costpipe.errors import AuthError
from costpipe.providers.litellm import LiteLLMConfig, LiteLLMProvider
from costpipe.records import Window
from costpipe.simulator import Simulator
from costpipe.testing.provider_contract import ProviderContract, collect
from tests.providers_extra.conftest import NOW

Factory = Callable[..., Awaitable[LiteLLMProvider]]

HOUR = timedelta(hours=1)
DAY0 = datetime(2026, 3, 10, tzinfo=UTC)


@pytest.fixture
async def make_provider(
    sim: Simulator, context_for: Callable[..., ComponentContext]
) -> AsyncIterator[Factory]:
    made: list[LiteLLMProvider] = []

    async def build(key: str | None = None, **options: object) -> LiteLLMProvider:
        config = LiteLLMConfig(
            api_key=SecretStr(key or sim.litellm.master_key),
            base_url=sim.litellm_base_url,
            max_retries=0,
            **options,
        )
        provider = LiteLLMProvider(
            config,
            context_for("litellm.proxy", {"api_key": "LITELLM_MASTER_KEY"}),
            clock=lambda: NOW,
        )
        await provider.start()
        made.append(provider)
        return provider

    yield build
    for provider in made:
        await provider.close()


class TestLiteLLMContract(ProviderContract):
    @pytest.fixture
    async def provider(self, make_provider: Factory) -> LiteLLMProvider:
        return await make_provider()

    @pytest.fixture
    async def refused_provider(self, make_provider: Factory, sim: Simulator) -> LiteLLMProvider:
        return await make_provider(sim.litellm.user_key)

    @pytest.fixture
    def contract_window(self) -> Window:
        return Window(DAY0 + 8 * HOUR, DAY0 + 14 * HOUR)

    @pytest.fixture
    def secrets(self, sim: Simulator) -> list[str]:
        return [sim.litellm.master_key, sim.litellm.user_key]


async def test_totals_equal_ground_truth_exactly(make_provider: Factory, sim: Simulator) -> None:
    """A day and a half, walked in 20-row pages and 6-hour pieces (so most pieces
    are sliced), adds up exactly."""
    window = Window(DAY0 - 12 * HOUR, NOW)
    provider = await make_provider(chunk_hours=6, page_size=20)
    records = await collect(provider, window)
    complete = Window(window.start, NOW.replace(minute=0, second=0, microsecond=0))
    truth = sim.litellm.truth(complete.start, complete.end, NOW)
    assert truth["spend"] == sum((r.cost_usd for r in records), Decimal(0))
    assert truth["prompt_tokens"] == sum(r.uncached_input_tokens for r in records)
    assert truth["completion_tokens"] == sum(r.output_tokens for r in records)
    assert truth["requests"] == sum(r.requests for r in records)
    assert provider.pages_fetched > 4


async def test_hourly_records_by_user_team_key_model(make_provider: Factory) -> None:
    provider = await make_provider()
    records = await collect(provider, Window(DAY0, DAY0 + 24 * HOUR))
    assert {r.width for r in records} == {HOUR}
    assert all(r.start.minute == 0 and r.start.second == 0 for r in records)
    assert len({r.key for r in records}) == len(records)
    teams = {r.project_id for r in records}
    assert {"e8d1460f-846c-45d7-9b43-55f3cc52ac32", 'team search, "ranking"=1 ü \\', ""} == teams
    assert {"openai", "azure", "anthropic", "groq"} <= {r.line_item for r in records}
    assert all(len(r.api_key_id) == 64 for r in records)


async def test_rows_logged_after_their_slice_was_read_come_with_the_next_pass(
    make_provider: Factory, sim: Simulator
) -> None:
    """The day fits in one answer (page_size 1000); rows logged into it after
    that answer are not in this pass, which equals what existed when it was
    read, and the next pass (the lookback) counts them, once."""
    window = Window(DAY0, DAY0 + 24 * HOUR)
    before = sim.litellm.truth(window.start, window.end, NOW)
    sim.litellm.insert_after_page = 1
    provider = await make_provider()
    records = await collect(provider, window)
    assert provider.pages_fetched == 1
    assert before["spend"] == sum((r.cost_usd for r in records), Decimal(0))
    assert before["requests"] == sum(r.requests for r in records)
    assert provider.duplicates_skipped == 0
    # The next pass sees the late rows.
    sim.litellm.insert_after_page = None
    again = await collect(provider, window)
    after = sim.litellm.truth(window.start, window.end, NOW)
    assert after["requests"] == before["requests"] + sim.litellm.insert_count
    assert after["spend"] == sum((r.cost_usd for r in again), Decimal(0))


async def test_consecutive_windows_never_share_a_row(
    make_provider: Factory, sim: Simulator
) -> None:
    """LiteLLM's end_date is inclusive; a row at the boundary lands in one window only."""
    provider = await make_provider()
    left = await collect(provider, Window(DAY0, DAY0 + 5 * HOUR))
    right = await collect(provider, Window(DAY0 + 5 * HOUR, DAY0 + 9 * HOUR))
    whole = sim.litellm.truth(DAY0, DAY0 + 9 * HOUR, NOW)
    assert whole["requests"] == sum(r.requests for r in left + right)
    assert whole["spend"] == sum((r.cost_usd for r in left + right), Decimal(0))


async def test_current_hour_is_not_fetched(make_provider: Factory) -> None:
    provider = await make_provider()
    records = await collect(provider, Window(NOW - 2 * HOUR, NOW))
    assert max(r.start for r in records) == NOW.replace(minute=0, second=0, microsecond=0) - HOUR


async def test_virtual_key_is_refused(make_provider: Factory, sim: Simulator) -> None:
    provider = await make_provider(sim.litellm.user_key)
    with pytest.raises(AuthError) as caught:
        await collect(provider, Window(DAY0, DAY0 + HOUR))
    assert "$LITELLM_MASTER_KEY" in str(caught.value)
    assert sim.litellm.user_key not in str(caught.value)


def test_page_size_up_to_the_proxys_1000() -> None:
    """``page_size`` is ``ge=1, le=1000`` in the proxy (spend_management_endpoints.py
    line 2552, litellm 1.110.2); the default asks for the most."""
    config = LiteLLMConfig(api_key=SecretStr("k"), base_url="http://127.0.0.1:1")
    assert config.page_size == 1000
    with pytest.raises(ValueError, match="less than or equal to 1000"):
        LiteLLMConfig(api_key=SecretStr("k"), base_url="http://127.0.0.1:1", page_size=1001)


async def test_check_connection(make_provider: Factory) -> None:
    provider = await make_provider()
    assert "/spend/logs/v2" in await provider.check_connection()
