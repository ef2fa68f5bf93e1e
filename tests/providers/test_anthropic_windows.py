"""Anthropic: `ending_at` under both readings, context windows and web-search requests.

The Admin API reference says of `ending_at`: "Time buckets that end before this
RFC 3339 timestamp will be returned". The simulator reads it that way by
default (`anthropic_ending_at="strict"`); a client that sets `ending_at` to the
end of the last bucket it wants loses that bucket on every request.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from costpipe.components import ComponentContext
from costpipe.providers.anthropic import AnthropicConfig, AnthropicProvider
from costpipe.providers.anthropic.plan import COST_PAGE_LIMIT, USAGE_PAGE_LIMITS, plan
from costpipe.providers.planning import WIDTHS
from costpipe.records import CostRecord, CostSource, Window
from costpipe.simulator import Simulator
from costpipe.testing import collect
from tests.conftest import StartSimulator
from tests.providers.fakes import FakeAnthropic, FakeClock, rfc3339

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
T0 = datetime(2026, 11, 1, tzinfo=UTC)
USAGE = "/v1/organizations/usage_report/messages"
COST = "/v1/organizations/cost_report"


async def backfill(sim: Simulator, window: Window, tmp_path: Path, width: str) -> AnthropicProvider:
    config = AnthropicConfig(
        api_key=sim.anthropic_admin_key, base_url=sim.anthropic_base_url, bucket_width=width
    )
    context = ComponentContext(instance="anthropic.sim", state_dir=tmp_path)
    return AnthropicProvider(config, context, clock=lambda: NOW, timer=FakeClock().timer())


def usage_truth(sim: Simulator, window: Window) -> dict[str, int]:
    """Tokens of all usage, of long-context usage, and web-search requests, from the bursts."""
    now = int(NOW.timestamp())
    world = sim.anthropic
    found = {"output": 0, "long_context_output": 0, "web_search": 0}
    for burst in world.bursts(int(window.start.timestamp()), int(window.end.timestamp()), now):
        found["output"] += burst.output
        found["web_search"] += burst.web_search
        if world.streams[burst.stream].context_window == "200k-1M":
            found["long_context_output"] += burst.output
    return found


def usage_seen(records: list[CostRecord]) -> dict[str, int]:
    usage = [r for r in records if not r.is_billed]
    return {
        "output": sum(r.output_tokens for r in usage),
        "long_context_output": sum(r.output_tokens for r in usage if "200k-1M" in r.line_item),
        "web_search": sum(r.web_search_calls for r in usage if r.line_item == "web_search"),
    }


@pytest.mark.parametrize("reading", ["strict", "inclusive"])
@pytest.mark.parametrize(("width", "days"), [("1h", 8), ("1d", 35)])
async def test_backfill_is_exact_to_the_cent_whichever_way_ending_at_is_read(
    start_simulator: StartSimulator, tmp_path: Path, reading: str, width: str, days: int
) -> None:
    """Several requests per endpoint (8 days of hours: 8 usage pieces of a day; 35
    days: 2 cost pieces): billed dollars, tokens and web-search requests match the
    simulator's ground truth exactly, and no piece costs a second request."""
    sim = await start_simulator(seed=11, now=NOW, anthropic_ending_at=reading)
    end = datetime(2026, 11, 19, tzinfo=UTC)
    window = Window(end - timedelta(days=days), end)
    provider = await backfill(sim, window, tmp_path, width)
    await provider.start()
    try:
        records = await collect(provider, window)
    finally:
        await provider.close()
    truth = sim.truth("anthropic", window.start, window.end)["total"]
    billed = sum((r.cost_usd for r in records if r.is_billed), Decimal(0))
    assert truth.cost_usd == billed
    assert truth.cost_usd.quantize(Decimal("0.01")) == billed.quantize(Decimal("0.01"))
    assert truth.uncached_input == sum(r.uncached_input_tokens for r in records)
    assert truth.cache_write == sum(r.cache_write_tokens + r.cache_write_1h_tokens for r in records)
    expected = usage_truth(sim, window)
    assert expected == usage_seen(records)
    assert expected["long_context_output"] > 0
    assert expected["web_search"] > 0
    assert provider.pages_set_aside == 0
    assert len({r.key for r in records}) == len(records)
    assert all(window.start <= r.start and r.start + r.width <= window.end for r in records)
    # One request per planned piece: the extra bucket never costs a page.
    planned = plan(window, NOW, bucket_width=width)
    served = sim.stats()["by_endpoint"]
    assert isinstance(served, dict)
    assert sum(served[path]["200"] for path in (COST, USAGE)) == len(planned)
    assert len(planned) == {"1h": 1 + 8, "1d": 2 + 2}[width]


def test_every_piece_asks_one_bucket_more_within_the_documented_limits() -> None:
    """Each request covers its piece plus one bucket (ending_at and limit), the
    pieces tile the window, and no limit exceeds the reference's maximum."""
    window = Window(datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 11, 19, 7, tzinfo=UTC))
    for width_name, top in [*USAGE_PAGE_LIMITS.items(), ("cost", COST_PAGE_LIMIT)]:
        requests = plan(window, NOW, bucket_width="1d" if width_name == "cost" else width_name)
        is_cost = [r.endpoint.path.endswith("cost_report") for r in requests]
        chosen = [r for r, c in zip(requests, is_cost, strict=True) if c == (width_name == "cost")]
        width = WIDTHS["1d" if width_name == "cost" else width_name]
        assert chosen[0].span.start == window.start
        for before, after in itertools.pairwise(chosen):
            assert before.span.end == after.span.start
        for request in chosen:
            params = dict(request.params)
            buckets = request.span.duration // width
            assert params["ending_at"] == rfc3339(request.span.end + width)
            assert int(params["limit"]) == buckets + 1 <= top


def usage_row(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "uncached_input_tokens": 250_000,
        "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
        "cache_read_input_tokens": 0,
        "output_tokens": 1_000,
        "server_tool_use": {"web_search_requests": 0},
        "api_key_id": "apikey_01",
        "workspace_id": "wrkspc_01",
        "model": "claude-sonnet-4-20250514",
        "service_tier": "standard",
        "context_window": "0-200k",
    }
    row.update(fields)
    return row


async def test_context_windows_keep_distinct_rows_and_long_context_is_not_priced_as_standard(
    serve: Callable[..., Any], make_context: Callable[..., Any]
) -> None:
    rows = [
        usage_row(uncached_input_tokens=150_000),
        usage_row(context_window="200k-1M"),
        usage_row(context_window="200k-1M", api_key_id="apikey_02"),
        usage_row(context_window="200k-1M", service_tier="batch"),
    ]
    bucket = {"starting_at": rfc3339(T0), "ending_at": rfc3339(T0 + HOUR), "results": rows}
    fake = FakeAnthropic(buckets={COST: [], USAGE: [bucket]})
    config = AnthropicConfig(api_key="sk-ant-admin01-good", base_url=await serve(fake.app()))
    provider = AnthropicProvider(config, make_context(instance="anthropic.main"), clock=lambda: NOW)
    await provider.start()
    try:
        with structlog.testing.capture_logs() as logs:
            records = await collect(provider, Window(T0, T0 + HOUR))
    finally:
        await provider.close()
    # The reason is logged once per model and tier, never per row or bucket.
    assert sorted(e["tier"] for e in logs if e["event"] == "tier_unpriced") == [
        "batch@200k-1M",
        "standard@200k-1M",
    ]
    by_item = {r.line_item: r for r in records}
    assert {"messages", "messages, 200k-1M", "messages, batch, 200k-1M"} == set(by_item)
    assert by_item["messages"].cost_source == CostSource.ESTIMATED
    for item in ("messages, 200k-1M", "messages, batch, 200k-1M"):
        long_context = by_item[item]
        assert (long_context.cost_source, long_context.cost_usd) == (CostSource.UNPRICED, 0)
        assert long_context.uncached_input_tokens == 250_000
    [usage] = fake.requests_to(USAGE)
    assert "context_window" in usage.query.getall("group_by[]")
