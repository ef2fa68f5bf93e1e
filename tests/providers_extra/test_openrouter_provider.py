"""OpenRouter provider against the simulator's /activity and /credits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from costpipe.components import ComponentContext
from costpipe.errors import AuthError
from costpipe.providers.openrouter import OpenRouterConfig, OpenRouterProvider
from costpipe.records import Window
from costpipe.simulator import Simulator
from costpipe.simulator.openrouter_api import WORKSPACES
from costpipe.testing.provider_contract import ProviderContract, collect
from tests.providers_extra.conftest import NOW

Factory = Callable[..., Awaitable[OpenRouterProvider]]

TODAY = datetime(2026, 3, 11, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
async def make_provider(
    sim: Simulator, context_for: Callable[..., ComponentContext]
) -> AsyncIterator[Factory]:
    made: list[OpenRouterProvider] = []

    async def build(key: str | None = None, **options: object) -> OpenRouterProvider:
        config = OpenRouterConfig(
            api_key=SecretStr(key or sim.openrouter.management_key),
            base_url=sim.openrouter_base_url,
            max_retries=0,
            **options,
        )
        provider = OpenRouterProvider(
            config,
            context_for("openrouter.main", {"api_key": "OPENROUTER_MANAGEMENT_KEY"}),
            clock=lambda: NOW,
        )
        await provider.start()
        made.append(provider)
        return provider

    yield build
    for provider in made:
        await provider.close()


class TestOpenRouterContract(ProviderContract):
    @pytest.fixture
    async def provider(self, make_provider: Factory) -> OpenRouterProvider:
        return await make_provider()

    @pytest.fixture
    async def refused_provider(self, make_provider: Factory, sim: Simulator) -> OpenRouterProvider:
        return await make_provider(sim.openrouter.inference_key)

    @pytest.fixture
    def contract_window(self) -> Window:
        return Window(TODAY - 5 * DAY, TODAY)

    @pytest.fixture
    def secrets(self, sim: Simulator) -> list[str]:
        return [sim.openrouter.management_key, sim.openrouter.inference_key]


async def test_totals_equal_ground_truth_exactly(make_provider: Factory, sim: Simulator) -> None:
    """The sum of cost_usd over 10 days is the exact sum of the `usage` texts served."""
    provider = await make_provider()
    records = await collect(provider, Window(TODAY - 10 * DAY, TODAY))
    truth = sim.openrouter.truth((TODAY - 10 * DAY).date(), TODAY.date(), NOW)
    assert truth["usage"] == sum((r.cost_usd for r in records), Decimal(0))
    assert truth["requests"] == sum(r.requests for r in records)
    assert {r.provider for r in records} == {"openrouter"}
    assert {r.width for r in records} == {DAY}


async def test_money_is_not_parsed_as_float(make_provider: Factory) -> None:
    """Served amounts have more digits than a float keeps; they survive exactly."""
    provider = await make_provider()
    records = await collect(provider, Window(TODAY - 3 * DAY, TODAY))
    long = [r for r in records if len(r.cost_usd.as_tuple().digits) > 16]
    assert long
    for record in long:
        assert record.cost_usd != Decimal(float(record.cost_usd))


async def test_one_model_two_upstreams_are_two_records(make_provider: Factory) -> None:
    provider = await make_provider()
    records = await collect(provider, Window(TODAY - 30 * DAY, TODAY))
    upstreams = {r.line_item for r in records if r.model == "anthropic/claude-sonnet-4"}
    assert {"Anthropic", "Amazon Bedrock"} == upstreams


async def test_today_is_never_fetched(make_provider: Factory) -> None:
    """A window reaching into today stops at midnight (only completed days exist)."""
    provider = await make_provider()
    records = await collect(provider, Window(TODAY - DAY, NOW))
    assert {r.start for r in records} == {TODAY - DAY}
    assert await collect(provider, Window(TODAY, NOW)) == []


async def test_single_day_window(make_provider: Factory, sim: Simulator) -> None:
    provider = await make_provider()
    records = await collect(provider, Window(TODAY - 2 * DAY, TODAY - DAY))
    truth = sim.openrouter.truth((TODAY - 2 * DAY).date(), (TODAY - DAY).date(), NOW)
    assert truth["usage"] == sum((r.cost_usd for r in records), Decimal(0))


async def test_history_beyond_30_days_is_clipped_with_a_warning(
    make_provider: Factory, sim: Simulator
) -> None:
    provider = await make_provider()
    with capture_logs() as logs:
        records = await collect(provider, Window(TODAY - 40 * DAY, TODAY))
    assert min(r.start for r in records) == TODAY - 30 * DAY
    truth = sim.openrouter.truth((TODAY - 30 * DAY).date(), TODAY.date(), NOW)
    assert truth["usage"] == sum((r.cost_usd for r in records), Decimal(0))
    [warning] = [e for e in logs if e["event"] == "history_unavailable"]
    assert warning["available_from"] == "2026-02-09"


async def test_byok_is_a_separate_opt_in_record(make_provider: Factory, sim: Simulator) -> None:
    window = Window(TODAY - 10 * DAY, TODAY)
    without = await collect(await make_provider(), window)
    with_byok = await collect(await make_provider(include_byok=True), window)
    byok = [r for r in with_byok if r.line_item.endswith(", byok")]
    truth = sim.openrouter.truth(window.start.date(), window.end.date(), NOW)
    assert truth["byok"] == sum((r.cost_usd for r in byok), Decimal(0))
    assert truth["byok"] > 0
    assert {r.key for r in without} == {r.key for r in with_byok} - {r.key for r in byok}


async def test_inference_key_is_refused_with_the_servers_reason(
    make_provider: Factory, sim: Simulator
) -> None:
    provider = await make_provider(sim.openrouter.inference_key)
    with pytest.raises(AuthError) as caught:
        await collect(provider, Window(TODAY - DAY, TODAY))
    message = str(caught.value)
    assert "Only management keys can perform this operation" in message
    assert "$OPENROUTER_MANAGEMENT_KEY" in message
    assert "management key" in message


async def test_check_connection_reports_remaining_credit(
    make_provider: Factory, sim: Simulator
) -> None:
    provider = await make_provider()
    answer = await provider.check_connection()
    expected = Decimal(5000) - sim.openrouter.total_usage(NOW)
    assert f"${expected:.2f} credit remaining" in answer
    assert expected == provider.remaining_credit_usd


async def test_low_credit_warns_once(make_provider: Factory) -> None:
    provider = await make_provider(low_credit_usd=Decimal(1_000_000))
    with capture_logs() as logs:
        await collect(provider, Window(TODAY - DAY, TODAY))
        await collect(provider, Window(TODAY - DAY, TODAY))
    events = [e["event"] for e in logs]
    assert events.count("openrouter_credits") == 2
    assert events.count("openrouter_credit_low") == 1


async def test_workspaces_are_the_projects(make_provider: Factory, sim: Simulator) -> None:
    """``workspace_id`` is only served with ``group_by=workspace`` (OpenRouter's
    OpenAPI spec, getUserActivity); costpipe sends it, so each workspace's usage
    is its own project, exact to the last digit.

    Fails before the fix: ``group_by`` was never sent, the rows came summed
    across workspaces without ``workspace_id``, and every record had
    ``project_id == ""`` (one project instead of three)."""
    window = Window(TODAY - 10 * DAY, TODAY)
    provider = await make_provider()
    records = await collect(provider, window)
    assert {r.project_id for r in records} == set(WORKSPACES)
    for workspace in WORKSPACES:
        truth = sim.openrouter.truth(window.start.date(), window.end.date(), NOW, workspace)
        mine = [r for r in records if r.project_id == workspace]
        assert truth["usage"] == sum((r.cost_usd for r in mine), Decimal(0))
        assert truth["requests"] == sum(r.requests for r in mine)
    whole = sim.openrouter.truth(window.start.date(), window.end.date(), NOW)
    assert whole["usage"] == sum((r.cost_usd for r in records), Decimal(0))


async def test_one_configured_workspace(make_provider: Factory, sim: Simulator) -> None:
    """``workspace_id`` filters to one workspace, whose rows still name it."""
    workspace = WORKSPACES[1]
    provider = await make_provider(workspace_id=workspace)
    records = await collect(provider, Window(TODAY - 5 * DAY, TODAY))
    assert {r.project_id for r in records} == {workspace}
    truth = sim.openrouter.truth((TODAY - 5 * DAY).date(), TODAY.date(), NOW, workspace)
    assert truth["usage"] == sum((r.cost_usd for r in records), Decimal(0))
