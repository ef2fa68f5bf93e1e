"""The Bedrock provider against the simulator's fake AWS (real HTTP, real
aiobotocore, SigV4-signed requests): billed money exact to the nanodollar,
CloudWatch counts exact, paging, throttling, late revisions, Cost Explorer's
own interval."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from costpipe.providers.bedrock import plan
from costpipe.providers.bedrock.client import RequestChanged
from costpipe.records import CostSource, Window
from costpipe.simulator import Simulator
from tests.providers_cloud.bedrock.conftest import NOW, PAST, MakeProvider, Sleeps, collect

pytestmark = pytest.mark.slow  # each test starts two SDK clients (~1 s of model loading)
MIDNIGHT = NOW.replace(hour=0, minute=0, second=0)


def billed(records: list) -> Decimal:  # type: ignore[type-arg]
    return sum((r.cost_usd for r in records if r.cost_source is CostSource.BILLED), Decimal(0))


async def test_billed_money_equals_the_truth_exactly(
    sim: Simulator, make_provider: MakeProvider
) -> None:
    provider = await make_provider()
    records = await collect(provider, PAST)
    truth = sim.bedrock.truth_billed(PAST.start, PAST.end, sim.now())
    assert truth > 0
    assert billed(records) == truth
    billed_rows = [r for r in records if r.is_billed]
    # Both Marketplace editions and Amazon Bedrock; EC2 and Lambda never read.
    models = {r.model for r in billed_rows}
    assert {"Claude 3.5 Sonnet v2", "Claude Opus 4.1", "Claude3.7Sonnet", "gpt-oss-120b"} <= models
    # Unknown usage types are kept as billed line items, with no model.
    assert any(r.line_item == "USE1-Guardrails-TextUnits" and r.model == "" for r in billed_rows)
    assert {r.project_id for r in billed_rows} == {"111122223333", "444455556666"}
    assert all(r.width == timedelta(days=1) for r in billed_rows)
    # Cost Explorer paged: more GetCostAndUsage requests than services.
    assert provider.api.requests["ce:GetCostAndUsage"] > 3


async def test_cloudwatch_usage_equals_the_truth(
    sim: Simulator, make_provider: MakeProvider
) -> None:
    provider = await make_provider()
    usage = [r for r in await collect(provider, PAST) if not r.is_billed]
    truth = sim.bedrock.truth_usage(PAST.start, PAST.end, sim.now())
    assert sum(r.uncached_input_tokens for r in usage) == truth["InputTokenCount"]
    assert sum(r.cached_input_tokens for r in usage) == truth["CacheReadInputTokenCount"]
    assert sum(r.cache_write_tokens for r in usage) == truth["CacheWriteInputTokenCount"]
    assert sum(r.output_tokens for r in usage) == truth["OutputTokenCount"]
    assert sum(r.requests for r in usage) == truth["Invocations"]
    assert all(r.width == timedelta(hours=1) for r in usage)
    assert any(r.model.startswith("arn:aws:bedrock:") for r in usage)
    # genai-prices prices amazon.nova-pro-v1:0 under "aws"; unknown ARNs stay unpriced.
    sources = Counter((r.model, r.cost_source) for r in usage)
    assert sources[("amazon.nova-pro-v1:0", CostSource.ESTIMATED)] > 0
    assert provider.api.requests["cloudwatch:GetMetricData"] > 1  # paged


async def test_hourly_granularity_and_a_tag_group(
    sim: Simulator, make_provider: MakeProvider
) -> None:
    provider = await make_provider(granularity="HOURLY", group_by_tag="team", usage_metrics=False)
    window = Window(PAST.start, PAST.start + timedelta(hours=5))
    records = await collect(provider, window)
    assert billed(records) == sim.bedrock.truth_billed(window.start, window.end, sim.now())
    assert {r.width for r in records} == {timedelta(hours=1)}
    assert {r.project_id for r in records} == {"team-3333", "team-6666"}


async def test_throttling_is_retried_with_the_injected_sleep(
    sim: Simulator, make_provider: MakeProvider, sleeps: Sleeps
) -> None:
    sim.bedrock.throttle_every = 3
    provider = await make_provider()
    records = await collect(provider, PAST)
    assert billed(records) == sim.bedrock.truth_billed(PAST.start, PAST.end, sim.now())
    assert provider.retries == len(sleeps.waits) > 0


async def test_a_revision_while_paging_restarts_the_query(
    sim: Simulator, make_provider: MakeProvider, sleeps: Sleeps
) -> None:
    """Request 4 is page 2 of the first GetCostAndUsage (after two pages of the
    service search); it is throttled, the data is revised during the wait, and
    the retried page answers RequestChangedException: the query starts over and
    the stored money is the revised truth, never a mix."""
    sim.bedrock.throttle_every = 4
    window = Window(MIDNIGHT - timedelta(days=2), MIDNIGHT)
    sleeps.hook = sim.revise
    provider = await make_provider(usage_metrics=False)
    before = sim.bedrock.truth_billed(window.start, window.end, sim.now())
    with capture_logs() as logs:
        records = await collect(provider, window)
    after = sim.bedrock.truth_billed(window.start, window.end, sim.now())
    assert before != after
    assert billed(records) == after
    assert any(log["event"] == "cost_explorer_revised" for log in logs)


async def test_late_revisions_replace_the_same_keys(
    sim: Simulator, make_provider: MakeProvider
) -> None:
    window = Window(MIDNIGHT - timedelta(days=2), MIDNIGHT - timedelta(days=1))
    provider = await make_provider(usage_metrics=False)
    first = {r.key: r.cost_usd for r in await collect(provider, window)}
    sim.revise()
    second = {r.key: r.cost_usd for r in await collect(provider, window)}
    assert sum(second.values()) == sim.bedrock.truth_billed(window.start, window.end, sim.now())
    assert first != second
    assert len(set(first) & set(second)) > len(first) // 2  # same line items, new figures


async def test_cost_explorer_is_read_once_per_interval(
    sim: Simulator, make_provider: MakeProvider
) -> None:
    """Scheduled passes over the trailing lookback read Cost Explorer once per
    ``cost_explorer_interval``; CloudWatch on every pass."""
    provider = await make_provider()
    recent = Window(NOW - timedelta(hours=48), NOW)
    first = await collect(provider, recent)
    ce = provider.api.requests["ce:GetCostAndUsage"]
    assert any(r.is_billed for r in first)
    assert ce > 0
    second = await collect(provider, recent)
    assert provider.api.requests["ce:GetCostAndUsage"] == ce
    assert not any(r.is_billed for r in second)
    assert second
    assert provider.last_cost_poll() == NOW
    # A backfill window (ended an interval ago) is always read.
    await collect(provider, PAST)
    assert provider.api.requests["ce:GetCostAndUsage"] > ce


async def test_the_fake_refuses_unsigned_requests(sim: Simulator) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        headers = {"X-Amz-Target": "AWSInsightsIndexService.GetCostAndUsage",
                   "Content-Type": "application/x-amz-json-1.1"}  # fmt: skip
        async with session.post(sim.bedrock_endpoint_url, data=b"{}", headers=headers) as reply:
            assert reply.status == 403
            assert "MissingAuthenticationToken" in (await reply.json(content_type=None))["__type"]


def test_window_helpers_are_utc() -> None:
    assert PAST.start.tzinfo is UTC
    assert NOW > PAST.end + timedelta(hours=6)
    assert datetime.now(UTC) > NOW  # the provider's real clock is past the fake's data


async def test_a_page_token_is_bound_to_its_request(make_provider: MakeProvider) -> None:
    """botocore's model: RequestChangedException, "Your request parameters changed
    between pages"; the client surfaces it as RequestChanged (and starts over)."""
    provider = await make_provider()
    params = plan.cost_and_usage(
        PAST, granularity="DAILY", metric="UnblendedCost", service="Amazon Bedrock", tag=None
    )
    first = await provider.api.call("ce", "GetCostAndUsage", params)
    changed = {**params, "Metrics": ["NetUnblendedCost"], "NextPageToken": first["NextPageToken"]}
    with pytest.raises(RequestChanged):
        await provider.api.call("ce", "GetCostAndUsage", changed)


async def test_cloudwatch_over_the_query_protocol(
    sim: Simulator, make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Older botocore speaks CloudWatch's query protocol (form body, XML answer):
    the fake serves it and the counts are the same."""
    from botocore.model import ServiceModel  # type: ignore[import-untyped]

    original = ServiceModel.resolved_protocol

    def resolved(self: ServiceModel) -> str:
        if self.endpoint_prefix == "monitoring":
            return "query"
        return str(original.__get__(self, ServiceModel))

    monkeypatch.setattr(ServiceModel, "resolved_protocol", property(resolved))
    provider = await make_provider(cost_explorer=False)
    window = Window(PAST.start, PAST.start + timedelta(hours=30))
    usage = await collect(provider, window)
    truth = sim.bedrock.truth_usage(window.start, window.end, sim.now())
    assert sum(r.output_tokens for r in usage) == truth["OutputTokenCount"]
    assert sum(r.requests for r in usage) == truth["Invocations"]
    assert provider.api.requests["cloudwatch:GetMetricData"] > 1
    assert not any(r.is_billed for r in usage)
    assert sim.bedrock.protocols["query"] == sum(provider.api.requests.values())
    assert sim.bedrock.protocols["json"] == 0


async def test_sim_info_names_the_fake_aws(sim: Simulator) -> None:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.get(sim.base_url + "/_sim/info") as reply,
    ):
        info = (await reply.json())["bedrock"]
    assert info["endpoint_url"] == sim.bedrock_endpoint_url
    assert info["access_key_id"] == sim.bedrock.key("FULL").access_key_id


async def test_a_malformed_page_is_set_aside_and_the_rest_is_read(
    sim: Simulator, make_provider: MakeProvider
) -> None:
    sim.bedrock.corrupt_usage_type = "USE1-Guardrails-TextUnits"
    provider = await make_provider(usage_metrics=False)
    with capture_logs() as logs:
        records = await collect(provider, PAST)
    set_aside = [log for log in logs if log["event"] == "page_set_aside"]
    assert provider.pages_set_aside == len(set_aside) > 0
    assert "not a number" in set_aside[0]["reason"]
    # Every page without the corrupt usage type still arrived, and nothing of it.
    assert Decimal(0) < billed(records) < sim.bedrock.truth_billed(PAST.start, PAST.end, sim.now())
    assert not any(r.line_item == "USE1-Guardrails-TextUnits" for r in records)
    assert {r.model for r in records} >= {"Claude 3.5 Sonnet v2", "Claude Opus 4.1"}
