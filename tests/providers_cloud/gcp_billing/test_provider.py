"""The provider against the BigQuery fake in-process: exact money, polling, paging,
throttling, late revisions, labels, credits, SKU fallback, refusals."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from costpipe.errors import AuthError
from costpipe.providers.gcp_billing import GcpBillingProvider
from costpipe.records import CostRecord, Window
from costpipe.simulator import Simulator
from costpipe.testing.provider_contract import ProviderContract
from tests.providers_cloud.gcp_billing.conftest import NOW, Factory, RecordingTimer

HOUR = timedelta(hours=1)
DAY_START = NOW.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)


class TestGcpBillingContract(ProviderContract):
    @pytest.fixture
    async def provider(self, make_provider: Factory) -> GcpBillingProvider:
        return await make_provider()

    @pytest.fixture
    async def refused_provider(self, make_provider: Factory, sim: Simulator) -> GcpBillingProvider:
        return await make_provider(email=next(e for e in sim.gcp.grants if "no-data" in e))

    @pytest.fixture
    def contract_window(self) -> Window:
        return Window(DAY_START, DAY_START + timedelta(hours=12))

    @pytest.fixture
    def secrets(self, sim: Simulator, reader_key: Path) -> list[str]:
        key = json.loads(reader_key.read_text())["private_key"]
        # The PEM body (not its BEGIN/END lines, which are not secret).
        body = "".join(key.strip().splitlines()[1:-1])
        return [sim.gcp.token_for(e) for e in sim.gcp.grants] + [body[:64], body[-64:]]


async def collect(provider: GcpBillingProvider, window: Window) -> list[CostRecord]:
    records: list[CostRecord] = []
    async for batch in provider.fetch(window):
        records.extend(batch)
    return records


async def test_money_is_exact_with_credits_apart(sim: Simulator, make_provider: Factory) -> None:
    sim.gcp.page_rows = 150
    timer = RecordingTimer()
    provider = await make_provider(timer)
    window = Window(DAY_START, NOW)
    records = await collect(provider, window)
    gross, credits = sim.gcp.truth(DAY_START, NOW, NOW)
    assert credits < 0
    got_credits = sum(r.cost_usd for r in records if "[credit " in r.line_item)
    got_gross = sum(r.cost_usd for r in records if "[credit " not in r.line_item)
    assert (got_gross, got_credits) == (gross, credits)
    # The hours are completed UTC hours, one record each per key.
    assert all(r.width == HOUR and r.start.minute == 0 for r in records)
    # Export lines arrive hours late: the newest hours are not in the table yet.
    assert max(r.start for r in records) + HOUR <= NOW
    # Storage is another service: left out by the parameter.
    assert not any("Storage" in r.line_item for r in records)
    # Polled (jobComplete false twice per job), paged and throttled.
    assert sim.gcp.polls >= 2
    assert sim.gcp.throttled > 0
    assert provider.pages_fetched > 10
    assert provider.retries == sim.gcp.throttled


async def test_sku_table_and_fallback(sim: Simulator, make_provider: Factory) -> None:
    provider = await make_provider()
    records = await collect(provider, Window(DAY_START, NOW))
    by_sku = {r.line_item: r for r in records}
    models = {r.model for r in records}
    assert {
        "gemini-2.5-pro",
        "gemini-2.0-flash-lite",
        "gemini-2.0-flash",
        "gemini-1.5-flash",
    } <= models
    # Unknown SKUs keep their money as a billed line item with no model.
    node = [r for r in records if "Online Prediction n1-standard-4" in r.line_item]
    assert node
    assert all(r.model == "" for r in node)
    assert sum(r.cost_usd for r in node) > 0
    assert all(r.input_tokens == 0 and r.all_output_tokens == 0 for r in node)
    # Token SKUs carry their usage in the one disjoint counter the table names.
    thinking = [
        r for r in records if "Thinking Output" in r.line_item and "[credit" not in r.line_item
    ]
    assert thinking
    assert all(r.output_tokens > 0 and r.input_tokens == 0 for r in thinking)
    cached = [r for r in records if "Cached Input" in r.line_item and "[credit" not in r.line_item]
    assert cached
    assert all(r.cached_input_tokens > 0 and r.uncached_input_tokens == 0 for r in cached)
    audio = [r for r in records if "audio tokens" in r.line_item and "[credit" not in r.line_item]
    assert audio
    assert all(r.uncached_audio_input_tokens > 0 for r in audio)
    hostile = [k for k in by_sku if "<script>" in k]
    assert hostile  # kept as text
    assert any(r.project_id == "gen-lang-client-0123456789" for r in records)


async def test_label_keys_become_tags(sim: Simulator, make_provider: Factory) -> None:
    provider = await make_provider(label_keys=["team"])
    records = await collect(provider, Window(DAY_START, DAY_START + timedelta(hours=6)))
    tags = {r.project_id: r.tags for r in records}
    assert tags["ml-prod-4471"] == (("team", "search"),)  # env is not asked for
    assert tags["research-sandbox-2"] == (("team", 'r&d / "lab"'),)
    assert tags["gen-lang-client-0123456789"] == ()


async def test_late_revision_is_picked_up_on_reread(sim: Simulator, make_provider: Factory) -> None:
    provider = await make_provider()
    window = Window(NOW.replace(minute=0, second=0) - timedelta(hours=40), NOW)
    before = sum(r.cost_usd for r in await collect(provider, window))
    sim.gcp.revise()
    after = sum(r.cost_usd for r in await collect(provider, window))
    gross, credits = sim.gcp.truth(window.start, NOW, NOW)
    assert after == gross + credits
    assert after != before


@pytest.mark.parametrize(
    ("who", "needed"),
    [
        ("no-job-user", "roles/bigquery.jobUser (permission bigquery.jobs.create)"),
        ("no-data-viewer", "roles/bigquery.dataViewer (permission bigquery.tables.getData)"),
    ],
)
async def test_missing_permission_is_named(
    sim: Simulator, make_provider: Factory, who: str, needed: str
) -> None:
    email = next(e for e in sim.gcp.grants if e.startswith(who))
    provider = await make_provider(email=email)
    with pytest.raises(AuthError) as caught:
        await provider.check_connection()
    assert needed in str(caught.value)
    assert sim.gcp.token_for(email) not in str(caught.value)


async def test_check_connection_reports_rows_and_cost(make_provider: Factory) -> None:
    provider = await make_provider()
    message = await provider.check_connection()
    assert "rows for the last 24 hours" in message
    assert "bytes it scans" in message


async def test_money_is_exact_decimal(sim: Simulator, make_provider: Factory) -> None:
    provider = await make_provider()
    records = await collect(provider, Window(DAY_START, DAY_START + HOUR))
    assert all(isinstance(r.cost_usd, Decimal) for r in records)
    assert sum(r.cost_usd for r in records) == sum(sim.gcp.truth(DAY_START, DAY_START + HOUR, NOW))
