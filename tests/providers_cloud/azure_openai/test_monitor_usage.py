"""Hourly usage from the Azure Monitor metrics fake: exact token totals, pricing,
a resource without Monitoring Reader skipped with one warning, hostile values refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from costpipe.errors import AuthError, MalformedDataError
from costpipe.providers.azure_openai import AzureOpenAIProvider
from costpipe.providers.azure_openai.monitor import decode_metrics
from costpipe.records import CostSource, Window
from costpipe.simulator import Simulator
from costpipe.simulator.azure_openai_world import MONITORED
from costpipe.testing.provider_contract import ProviderContract, collect
from tests.providers_cloud.azure_openai.conftest import NOW, Factory

HOUR = timedelta(hours=1)
TODAY = NOW.replace(hour=0, minute=0, second=0)


def resource_ids(sim: Simulator, monitored_only: bool = True) -> list[str]:
    return [
        f"{sim.azure.scope}/resourceGroups/{r.group}/providers/Microsoft.CognitiveServices/"
        f"accounts/{r.account}"
        for r in sim.azure.resources
        if r.account in MONITORED or not monitored_only
    ]


@pytest.mark.slow  # loads the bundled price table
async def test_hourly_usage_equals_truth(make_provider: Factory, sim: Simulator) -> None:
    window = Window(TODAY - 2 * 24 * HOUR, NOW)
    provider = await make_provider(resources=resource_ids(sim))
    records = [r for r in await collect(provider, window) if r.width == HOUR]
    prompt, generated, requests = sim.azure.usage_truth(window.start, window.end, NOW)
    assert sum(r.uncached_input_tokens for r in records) == prompt
    assert sum(r.output_tokens for r in records) == generated
    assert sum(r.requests for r in records) == requests
    assert max(r.start for r in records) + HOUR <= NOW  # completed hours only
    assert {"gpt-4o", "gpt-4o-mini", "o3-mini", "gpt-4.1"} == {r.model for r in records}
    assert "deployment GPT4o_Prod.v2" in {r.line_item for r in records}
    priced = [r for r in records if r.model == "gpt-4o"]
    assert all(r.cost_source is CostSource.ESTIMATED and r.cost_usd > 0 for r in priced)


async def test_resource_without_monitoring_reader_is_skipped_once(
    make_provider: Factory, sim: Simulator
) -> None:
    provider = await make_provider(resources=resource_ids(sim, monitored_only=False))
    window = Window(TODAY - 24 * HOUR, TODAY)
    with capture_logs() as logs:
        first = await collect(provider, window)
        await collect(provider, window)
    warnings = [e for e in logs if e["event"] == "azure_monitor_not_granted"]
    assert len(warnings) == 1
    assert "Monitoring Reader" in warnings[0]["error"]
    assert any(r.width == timedelta(days=1) for r in first)  # billed money kept
    assert "rg-research(old)/research-openai" not in {
        r.project_id for r in first if r.width == HOUR
    }
    with pytest.raises(AuthError, match="Monitoring Reader"):
        await provider.check_connection()


def test_fractional_or_negative_token_totals_are_refused() -> None:
    span = Window(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))
    for total in (b"1.5", b"-3", b"1e30"):
        body = (
            b'{"value": [{"name": {"value": "GeneratedTokens"}, "timeseries": [{"metadatavalues":'
            b' [], "data": [{"timeStamp": "2026-11-01T03:00:00Z", "total": ' + total + b"}]}]}]}"
        )
        with pytest.raises(MalformedDataError, match="not a token count"):
            decode_metrics(body, "/subscriptions/s/resourceGroups/g/x/accounts/a", span)


class TestAzureOpenAIWithUsageContract(ProviderContract):
    """The contract again with hourly usage next to the daily bill."""

    @pytest.fixture
    async def provider(self, make_provider: Factory, sim: Simulator) -> AzureOpenAIProvider:
        return await make_provider(resources=resource_ids(sim))

    @pytest.fixture
    async def refused_provider(self, make_provider: Factory, sim: Simulator) -> AzureOpenAIProvider:
        return await make_provider(
            client_id=sim.azure.no_role_client_id, resources=resource_ids(sim)
        )

    @pytest.fixture
    def contract_window(self) -> Window:
        return Window(TODAY - 2 * 24 * HOUR, TODAY)

    @pytest.fixture
    def secrets(self, sim: Simulator) -> list[str]:
        return [sim.azure.reader_token, sim.azure.no_role_token, sim.azure.identity_header]
