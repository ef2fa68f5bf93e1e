"""Usage pages decoded and priced per tier: long-context rows at the long-context
rate, an unknown tier unpriced with its reason logged once per model and tier
(however many rows and buckets), never at the standard rate."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog

from costpipe.pricing.genai import SOURCE
from costpipe.pricing.prices import PriceTable
from costpipe.providers.anthropic import decode as anthropic
from costpipe.providers.anthropic.provider import AnthropicPricer
from costpipe.providers.bucketed import Scope
from costpipe.providers.openai import decode as openai
from costpipe.providers.planning import UsagePricer
from costpipe.records import CostRecord, CostSource, Window

T0 = datetime(2026, 11, 20, tzinfo=UTC)
HOUR = timedelta(hours=1)
SPAN = Window(T0, T0 + 3 * HOUR)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def anthropic_row(**fields: Any) -> dict[str, Any]:
    return {
        "uncached_input_tokens": 1_000_000,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 100_000},
        "cache_read_input_tokens": 0,
        "output_tokens": 100_000,
        "server_tool_use": {"web_search_requests": 0},
        "api_key_id": "apikey_01",
        "workspace_id": "wrkspc_01",
        "model": "claude-sonnet-4-5-20250929",
        "service_tier": "standard",
        "context_window": "0-200k",
        **fields,
    }


def decode_anthropic(rows: list[dict[str, Any]], pricer: UsagePricer) -> list[CostRecord]:
    buckets = [
        {
            "starting_at": stamp(T0 + h * HOUR),
            "ending_at": stamp(T0 + (h + 1) * HOUR),
            "results": rows,
        }
        for h in range(3)
    ]
    body = json.dumps({"data": buckets, "has_more": False, "next_page": None}).encode()
    return list(anthropic.decode(anthropic.USAGE, Scope("acct", SPAN, pricer), body).records)


def test_long_context_rows_are_priced_at_the_long_context_rate() -> None:
    pricer = AnthropicPricer("test", PriceTable.bundled(), structlog.get_logger())
    records = decode_anthropic([anthropic_row(), anthropic_row(context_window="200k-1M")], pricer)
    first = {r.line_item: r for r in records if r.start == T0}
    standard, long = first["messages"], first["messages, 200k-1M"]
    # Sonnet 4.5: $3 / $6 (1h writes) / $15 standard; $6 / $12 / $22.50 above 200k.
    assert (CostSource.ESTIMATED, Decimal("5.1"), SOURCE) == (
        standard.cost_source,
        standard.cost_usd,
        standard.price_source,
    )
    assert (CostSource.ESTIMATED, Decimal("9.45"), SOURCE) == (
        long.cost_source,
        long.cost_usd,
        long.price_source,
    )
    assert 100_000 == long.cache_write_1h_tokens


def test_an_unknown_tier_is_unpriced_and_logged_once_per_model_and_tier() -> None:
    pricer = AnthropicPricer("anthropic.main", PriceTable.bundled(), structlog.get_logger())
    rows = [
        anthropic_row(service_tier="priority"),
        anthropic_row(service_tier="priority", api_key_id="apikey_02"),
        anthropic_row(service_tier="priority", model="claude-opus-4-6"),
        anthropic_row(),
    ]
    with structlog.testing.capture_logs() as logs:
        records = decode_anthropic(rows, pricer)
        records += decode_anthropic(rows, pricer)  # a second page: nothing new to say
    priority = [r for r in records if r.line_item == "messages, priority"]
    assert 18 == len(priority)
    assert {(CostSource.UNPRICED, Decimal(0), "")} == {
        (r.cost_source, r.cost_usd, r.price_source) for r in priority
    }
    events = [(e["event"], e["model"], e["tier"]) for e in logs]
    assert [
        ("tier_unpriced", "claude-sonnet-4-5-20250929", "priority"),
        ("tier_unpriced", "claude-opus-4-6", "priority"),
    ] == events
    assert "no 'priority' tier price for claude-sonnet-4-5" in logs[0]["reason"]


def test_openai_priority_rows_cost_the_priority_price() -> None:
    row = {
        "object": "organization.usage.completions.result",
        "input_tokens": 1_000_000,
        "input_cached_tokens": 0,
        "output_tokens": 100_000,
        "num_model_requests": 10,
        "model": "gpt-5.4-2026-03-05",
        "batch": False,
        "service_tier": "priority",
    }
    bucket = {
        "object": "bucket",
        "start_time": int(T0.timestamp()),
        "end_time": int((T0 + HOUR).timestamp()),
        "results": [row, {**row, "service_tier": "default"}, {**row, "service_tier": "scale"}],
    }
    body = json.dumps({"object": "page", "data": [bucket], "has_more": False, "next_page": None})
    pricer = UsagePricer("openai", "openai.main", PriceTable.bundled(), structlog.get_logger())
    with structlog.testing.capture_logs() as logs:
        page = openai.decode(
            openai.ENDPOINTS["completions"], Scope("acct", SPAN, pricer), body.encode()
        )
    by_item = {r.line_item: r for r in page.records}
    assert Decimal(8) == by_item["completions, priority"].cost_usd  # $5 in, $30 out
    assert Decimal(4) == by_item["completions"].cost_usd  # $2.50 in, $15 out
    scale = by_item["completions, scale"]
    assert (CostSource.UNPRICED, Decimal(0)) == (scale.cost_source, scale.cost_usd)
    assert [("tier_unpriced", "scale")] == [(e["event"], e["tier"]) for e in logs]
