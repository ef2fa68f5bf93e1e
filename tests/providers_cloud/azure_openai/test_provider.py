"""The provider against the simulator's Query API: contract, exact totals, paging,
throttling, every response shape, late revisions, refused permissions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from costpipe.errors import AuthError
from costpipe.providers.azure_openai import AzureOpenAIProvider
from costpipe.providers.http.paging import PagingLimitError
from costpipe.providers.http.responses import EndpointError
from costpipe.records import Window
from costpipe.simulator import Simulator
from costpipe.testing.provider_contract import ProviderContract, collect
from tests.conftest import StartSimulator
from tests.providers_cloud.azure_openai.conftest import NOW, Factory, RecordingTimer

DAY = timedelta(days=1)
TODAY = NOW.replace(hour=0, minute=0, second=0)


class TestAzureOpenAIContract(ProviderContract):
    @pytest.fixture
    async def provider(self, make_provider: Factory) -> AzureOpenAIProvider:
        return await make_provider()

    @pytest.fixture
    async def refused_provider(self, make_provider: Factory, sim: Simulator) -> AzureOpenAIProvider:
        return await make_provider(client_id=sim.azure.no_role_client_id)

    @pytest.fixture
    def contract_window(self) -> Window:
        return Window(TODAY - 4 * DAY, TODAY)

    @pytest.fixture
    def secrets(self, sim: Simulator) -> list[str]:
        return [sim.azure.reader_token, sim.azure.no_role_token, sim.azure.identity_header]


@pytest.mark.parametrize("version", ["2019-11-01", "2021-10-01", "2023-11-01", "2024-08-01"])
async def test_totals_equal_truth_under_every_response_shape(
    make_provider: Factory, sim: Simulator, version: str
) -> None:
    """PreTaxCost in a value wrapper, Cost/CostUSD, UsageDate as Number, String and
    Datetime: the sum is the exact sum served, whatever the API version."""
    window = Window(TODAY - 10 * DAY, TODAY)
    provider = await make_provider(api_version=version)
    records = await collect(provider, window)
    assert sum((r.cost_usd for r in records), Decimal(0)) == sim.azure.truth(
        window.start, window.end, NOW
    )
    assert provider.pages_fetched > 2, "the fake pages; the provider must follow nextLink"
    assert {r.provider for r in records} == {"azure_openai"}
    assert "Standard LRS Data Stored" not in {r.line_item for r in records}


async def test_throttling_waits_as_the_ratelimit_headers_say(
    make_provider: Factory, sim: Simulator
) -> None:
    timer = RecordingTimer()
    sim.azure.throttle_seconds = 7
    provider = await make_provider(timer=timer)
    await collect(provider, Window(TODAY - 10 * DAY, TODAY))
    assert sim.azure.throttled > 0
    assert provider.retries == sim.azure.throttled
    # The qpu header says 7 s (the entity one 1 s): the longest is honoured.
    assert timer.waits
    assert all(7 <= wait <= 8 for wait in timer.waits)


async def test_late_revisions_are_picked_up_by_a_reread(
    make_provider: Factory, sim: Simulator
) -> None:
    window = Window(TODAY - 6 * DAY, TODAY)
    provider = await make_provider()
    before = await collect(provider, window)
    sim.revise()  # the simulator-wide late-data switch reaches the Azure fake
    after = await collect(provider, window)
    truth = sim.azure.truth(window.start, window.end, NOW)
    assert sum((r.cost_usd for r in after), Decimal(0)) == truth
    assert sum((r.cost_usd for r in before), Decimal(0)) != truth
    changed = {r.start for r in set(after) - set(before)}
    assert changed
    assert min(changed) >= TODAY - 3 * DAY


async def test_today_is_never_fetched(make_provider: Factory) -> None:
    provider = await make_provider()
    assert await collect(provider, Window(TODAY, NOW)) == []
    records = await collect(provider, Window(TODAY - DAY, NOW))
    assert {r.start for r in records} == {TODAY - DAY}


async def test_no_role_names_the_role_needed(make_provider: Factory, sim: Simulator) -> None:
    provider = await make_provider(client_id=sim.azure.no_role_client_id)
    with pytest.raises(AuthError, match="Cost Management Reader"):
        await provider.check_connection()


async def test_next_link_to_another_host_is_not_followed(
    make_provider: Factory, sim: Simulator
) -> None:
    """Provider data never decides where the token goes."""
    provider = await make_provider()
    sim.azure.next_link_host = "attacker.invalid"
    with pytest.raises(EndpointError, match="refusing to send the Azure token"):
        await collect(provider, Window(TODAY - 10 * DAY, TODAY))


async def test_check_connection_reports_the_scope(make_provider: Factory, sim: Simulator) -> None:
    provider = await make_provider()
    message = await provider.check_connection()
    assert sim.azure.scope in message


async def test_oversized_page_is_set_aside_not_fatal(
    make_provider: Factory, sim: Simulator
) -> None:
    """Provider data is untrusted: a body past max_response_bytes is not read on."""
    sim.azure.page_rows = 200
    provider = await make_provider(max_response_bytes=2048)
    records = await collect(provider, Window(TODAY - 3 * DAY, TODAY))
    assert records == []
    assert provider.pages_set_aside == 1


async def test_endless_paging_stops_at_max_pages(make_provider: Factory, sim: Simulator) -> None:
    sim.azure.page_rows = 1
    provider = await make_provider(max_pages=3)
    with pytest.raises(PagingLimitError, match="max_pages"):
        await collect(provider, Window(TODAY - 3 * DAY, TODAY))


async def test_hostile_meter_names_are_kept_as_bounded_text(
    start_simulator: StartSimulator,
    managed_identity_for: Callable[[Simulator], None],
    make_provider_for: Callable[[Simulator], Awaitable[AzureOpenAIProvider]],
) -> None:
    hostile = await start_simulator(seed=11, now=NOW, hostile_names=True)
    managed_identity_for(hostile)
    provider = await make_provider_for(hostile)
    window = Window(TODAY - 5 * DAY, TODAY)
    records = await collect(provider, window)
    assert sum((r.cost_usd for r in records), Decimal(0)) == hostile.azure.truth(
        window.start, window.end, NOW
    )
    items = {r.line_item for r in records}
    assert "<script>alert(2)</script>" in items
    assert max(len(item) for item in items) <= 512
