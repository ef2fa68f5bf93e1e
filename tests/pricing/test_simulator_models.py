"""Every (model, tier) the simulator serves, priced by costpipe's table from the
genai-prices data: the same dollars as genai-prices' own calculation and as the
simulator's bill (its hand-typed list prices), or unpriced because the data
has no such price, with the reason. A genai-prices upgrade that moves a price
fails here first, naming the model."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import genai_prices
import pytest

from costpipe.pricing.prices import PriceTable, TokenUsage
from costpipe.simulator.activity import Burst
from costpipe.simulator.billing import anthropic_cost, openai_cost
from costpipe.simulator.catalog import ANTHROPIC_UNPRICED_MODEL, OPENAI_UNPRICED_MODEL
from costpipe.simulator.options import SimulatorOptions
from costpipe.simulator.organization import AnthropicOrg, AnthropicStream, OpenAIOrg, OpenAIStream

DAY = date(2026, 11, 20)
TABLE = PriceTable.bundled()
OPTIONS = SimulatorOptions(hostile_names=True)
# A million of each token type: every price is then exact in cents.
MILLION = 1_000_000
#: (model, tier) the simulator serves but the price data does not price, and why.
UNPRICED = {
    ("gpt-4o-mini-2024-07-18", "flex"): "no 'flex' tier price",
    ("claude-sonnet-4-20250514", "batch"): "no 'batch' tier price",
    ("claude-sonnet-4-20250514", "standard@200k-1M"): "no long-context (200k-1M) rate",
    (OPENAI_UNPRICED_MODEL, ""): "no model",
    (ANTHROPIC_UNPRICED_MODEL, "standard"): "no model",
}


def openai_cases() -> list[OpenAIStream]:
    seen: dict[tuple[str, bool, str], OpenAIStream] = {}
    for stream in OpenAIOrg(OPTIONS).streams:
        seen.setdefault((stream.model, stream.batch, stream.service_tier), stream)
    return list(seen.values())


def anthropic_cases() -> list[AnthropicStream]:
    seen: dict[tuple[str, str, str], AnthropicStream] = {}
    for stream in AnthropicOrg(OPTIONS).streams:
        seen.setdefault((stream.model, stream.service_tier, stream.context_window), stream)
    return list(seen.values())


def openai_tier(stream: OpenAIStream) -> str:
    if stream.batch:
        return "batch"
    return "" if stream.service_tier == "default" else stream.service_tier


def anthropic_tier(stream: AnthropicStream) -> str:
    long = "@200k-1M" if stream.context_window == "200k-1M" else ""
    return stream.service_tier + long


def is_hostile(model: str) -> bool:
    return model not in {s.model for s in OpenAIOrg(SimulatorOptions()).streams} | {
        s.model for s in AnthropicOrg(SimulatorOptions()).streams
    }


def genai_reference(provider: str, model: str, tier: str, usage: genai_prices.Usage) -> Decimal:
    """genai-prices' own per-request calculation (tests only: never in costpipe)."""
    service, _, _ = tier.partition("@")
    context: dict[str, str] | None = None
    if service == "batch":
        context = {"processing": "batch"}
    elif service not in ("", "standard", "default"):
        context = {"service_tier": service}
    result = genai_prices.calc_price(
        usage,
        model,
        provider_id=provider,
        genai_request_timestamp=datetime(2026, 11, 20, 12, tzinfo=UTC),
        price_context=context,  # type: ignore[arg-type]
    )
    return result.total_price


@pytest.mark.parametrize("stream", openai_cases(), ids=lambda s: f"{s.model}|{openai_tier(s)}")
def test_openai_models_priced_as_the_data_and_the_simulator_bill(stream: OpenAIStream) -> None:
    tier = openai_tier(stream)
    cost = TABLE.cost(
        "openai",
        stream.model,
        DAY,
        TokenUsage(MILLION, MILLION, MILLION, 0, 0 if stream.kind == "embeddings" else MILLION),
        tier,
    )
    reason = UNPRICED.get((stream.model, tier))
    if reason is not None or is_hostile(stream.model):
        assert cost is None
        assert (reason or "no model") in TABLE.unpriced_reason("openai", stream.model, DAY, tier)
        return
    output = 0 if stream.kind == "embeddings" else MILLION
    burst = Burst(0, 0, 1, MILLION, MILLION, MILLION, 0, output, 0)
    assert openai_cost(stream, burst) == cost, "the simulator bills its list price"
    # Small enough that genai-prices stays in its base tier (gpt-5.4 changes at 272k).
    small = output // 100
    usage = genai_prices.Usage(
        input_tokens=30_000,
        cache_read_tokens=10_000,
        cache_write_tokens=10_000,
        output_tokens=small,
    )
    cost = TABLE.cost(
        "openai", stream.model, DAY, TokenUsage(10_000, 10_000, 10_000, 0, small), tier
    )
    assert genai_reference("openai", stream.model, tier, usage) == cost


@pytest.mark.parametrize(
    "stream", anthropic_cases(), ids=lambda s: f"{s.model}|{anthropic_tier(s)}"
)
def test_anthropic_models_priced_as_the_data_and_the_simulator_bill(
    stream: AnthropicStream,
) -> None:
    tier = anthropic_tier(stream)
    usage = TokenUsage(MILLION, MILLION, MILLION, MILLION, MILLION)
    cost = TABLE.cost("anthropic", stream.model, DAY, usage, tier)
    reason = UNPRICED.get((stream.model, tier))
    if reason is not None or is_hostile(stream.model):
        assert cost is None
        assert (reason or "no model") in TABLE.unpriced_reason("anthropic", stream.model, DAY, tier)
        return
    burst = Burst(0, 0, 1, MILLION, MILLION, MILLION, MILLION, MILLION, 0)
    assert anthropic_cost(stream, burst) == cost, "the simulator bills its list price"
    reference = genai_prices.Usage(
        input_tokens=4 * MILLION,
        cache_read_tokens=MILLION,
        cache_write_tokens=2 * MILLION,
        cache_write_1h_tokens=MILLION,
        output_tokens=MILLION,
    )
    if not tier.endswith("@200k-1M"):
        # 4M input tokens would cross genai-prices' 200k tier for a tiered model;
        # the long-context rate of a standard row is exactly what must not happen.
        reference = genai_prices.Usage(
            input_tokens=40_000,
            cache_read_tokens=10_000,
            cache_write_tokens=20_000,
            cache_write_1h_tokens=10_000,
            output_tokens=10_000,
        )
        small = TokenUsage(10_000, 10_000, 10_000, 10_000, 10_000)
        cost = TABLE.cost("anthropic", stream.model, DAY, small, tier)
    assert genai_reference("anthropic", stream.model, tier, reference) == cost


def test_the_simulator_serves_the_current_models_and_a_priority_share() -> None:
    openai = {(s.model, s.service_tier) for s in OpenAIOrg(SimulatorOptions()).streams}
    anthropic = {s.model for s in AnthropicOrg(SimulatorOptions()).streams}
    assert {
        ("gpt-5.4-2026-03-05", "default"),
        ("gpt-5.4-2026-03-05", "priority"),
        ("gpt-5.4-mini-2026-03-17", "default"),
    } <= openai
    assert {"claude-opus-4-6", "claude-sonnet-4-6"} <= anthropic
