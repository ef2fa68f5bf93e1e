"""What each burst of usage is billed: the rows behind the cost endpoints.

Billing is per burst (the simulator's atomic unit), then summed. Consequences
that tests rely on:

* OpenAI amounts are exact decimals (``tokens * price / 1e6``), so every sum the
  Costs API serves is the exact sum of its finer rows, whatever the grouping.
* Anthropic amounts are in cents, rounded half-even to 5 decimals per burst and
  token type (a request's bill is rounded once; sums of rounded rows are exact),
  so any ``cost_report`` grouping adds up to the same total.
* "model" of a billed cost: OpenAI cost rows have no model dimension; the model
  appears only inside the ``line_item`` text (``"gpt-4o-2024-08-06, input"``,
  ``"batch | gpt-4o-2024-08-06, output"``). Anthropic cost rows carry ``model``
  when grouped by ``description``, except web-search rows, whose model is null.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache

from costpipe.simulator.activity import Burst
from costpipe.simulator.catalog import (
    ANTHROPIC_LONG_CONTEXT,
    ANTHROPIC_MODELS,
    ANTHROPIC_WEB_SEARCH_CENTS,
    HOSTILE_ANTHROPIC_PRICE_OF,
    HOSTILE_OPENAI_PRICE_OF,
    OPENAI_COMPLETION_MODELS,
    OPENAI_EMBEDDING_MODELS,
    TIER_DISCOUNT,
    TIER_PRICES,
    Price,
)
from costpipe.simulator.hostile_names import is_hostile_name
from costpipe.simulator.organization import AnthropicStream, OpenAIStream

__all__ = [
    "AnthropicCharge",
    "OpenAICharge",
    "anthropic_charges",
    "anthropic_cost",
    "openai_charges",
    "openai_cost",
]

_MILLION = Decimal(1_000_000)
_CENTS_PER_DOLLAR = Decimal(100)
_FIVE_PLACES = Decimal("0.00001")


@dataclass(frozen=True, slots=True)
class OpenAICharge:
    """One Costs-API line item of one burst; ``amount`` in dollars."""

    line_item: str
    quantity: int
    amount: Decimal


@dataclass(frozen=True, slots=True)
class AnthropicCharge:
    """One cost-report row of one burst; ``cents`` has at most 5 decimals."""

    description: str
    cost_type: str
    model: str | None
    token_type: str | None
    service_tier: str | None
    context_window: str | None
    inference_geo: str
    cents: Decimal


def _tier_factor(tier: str, batch: bool = False) -> Decimal:
    return TIER_DISCOUNT["batch"] if batch else TIER_DISCOUNT.get(tier, Decimal(1))


@lru_cache(maxsize=1 << 16)
def _openai_price(stream: OpenAIStream) -> Price:
    table = OPENAI_EMBEDDING_MODELS if stream.kind == "embeddings" else OPENAI_COMPLETION_MODELS
    model = stream.model
    if model not in table and is_hostile_name(model):
        model = HOSTILE_OPENAI_PRICE_OF
    listed = TIER_PRICES.get((model, "batch" if stream.batch else stream.service_tier))
    if listed is not None:
        return listed
    return table[model].scaled(_tier_factor(stream.service_tier, stream.batch))


def openai_charges(stream: OpenAIStream, burst: Burst) -> list[OpenAICharge]:
    """The line items a burst is billed as (zero-quantity items omitted)."""
    price = _openai_price(stream)
    prefix = (
        "batch | "
        if stream.batch
        else ("" if stream.service_tier == "default" else f"{stream.service_tier} | ")
    )
    charges: list[OpenAICharge] = []
    uncached = burst.uncached + burst.write_5m + burst.write_1h
    if uncached:
        amount = (
            burst.uncached * price.input + (burst.write_5m + burst.write_1h) * price.cache_write_5m
        ) / _MILLION
        charges.append(OpenAICharge(f"{prefix}{stream.model}, input", uncached, amount))
    if burst.cached:
        charges.append(
            OpenAICharge(
                f"{prefix}{stream.model}, cached input",
                burst.cached,
                burst.cached * price.cached_input / _MILLION,
            )
        )
    if burst.output:
        charges.append(
            OpenAICharge(
                f"{prefix}{stream.model}, output",
                burst.output,
                burst.output * price.output / _MILLION,
            )
        )
    return charges


def openai_cost(stream: OpenAIStream, burst: Burst) -> Decimal:
    """Dollars billed for a burst: exactly the sum of its line items (decimal
    arithmetic is exact here), without building them."""
    price = _openai_price(stream)
    return (
        burst.uncached * price.input
        + (burst.write_5m + burst.write_1h) * price.cache_write_5m
        + burst.cached * price.cached_input
        + burst.output * price.output
    ) / _MILLION


@lru_cache(maxsize=1 << 16)
def _anthropic_price(stream: AnthropicStream) -> Price:
    if stream.context_window == "200k-1M" and stream.model in ANTHROPIC_LONG_CONTEXT:
        base = ANTHROPIC_LONG_CONTEXT[stream.model]
    else:
        base = ANTHROPIC_MODELS[_anthropic_catalog_name(stream.model)][1]
    return base.scaled(_tier_factor(stream.service_tier))


def _anthropic_catalog_name(model: str) -> str:
    if model not in ANTHROPIC_MODELS and is_hostile_name(model):
        return HOSTILE_ANTHROPIC_PRICE_OF
    return model


_ANTHROPIC_TOKEN_TYPES = (
    ("uncached_input_tokens", "Input Tokens"),
    ("cache_read_input_tokens", "Input Tokens, Cache Read"),
    ("cache_creation.ephemeral_5m_input_tokens", "Input Tokens, Cache Write (5m)"),
    ("cache_creation.ephemeral_1h_input_tokens", "Input Tokens, Cache Write (1h)"),
    ("output_tokens", "Output Tokens"),
)


def anthropic_charges(stream: AnthropicStream, burst: Burst) -> list[AnthropicCharge]:
    """The cost-report rows a burst is billed as (zero amounts omitted)."""
    price = _anthropic_price(stream)
    # A hostile model's description carries its own (hostile) name.
    display = stream.model if is_hostile_name(stream.model) else ANTHROPIC_MODELS[stream.model][0]
    usage = "Batch Usage" if stream.service_tier == "batch" else "Usage"
    quantities = (
        (burst.uncached, price.input),
        (burst.cached, price.cached_input),
        (burst.write_5m, price.cache_write_5m),
        (burst.write_1h, price.cache_write_1h),
        (burst.output, price.output),
    )
    charges: list[AnthropicCharge] = []
    for (token_type, label), (tokens, per_million) in zip(
        _ANTHROPIC_TOKEN_TYPES, quantities, strict=True
    ):
        if not tokens:
            continue
        cents = (tokens * per_million * _CENTS_PER_DOLLAR / _MILLION).quantize(
            _FIVE_PLACES, ROUND_HALF_EVEN
        )
        charges.append(
            AnthropicCharge(
                f"{display} {usage} - {label}",
                "tokens",
                stream.model,
                token_type,
                stream.service_tier,
                stream.context_window,
                stream.inference_geo,
                cents,
            )
        )
    if burst.web_search:
        charges.append(
            AnthropicCharge(
                "Web Search Usage",
                "web_search",
                None,
                None,
                None,
                None,
                stream.inference_geo,
                burst.web_search * ANTHROPIC_WEB_SEARCH_CENTS,
            )
        )
    return charges


def anthropic_cost(stream: AnthropicStream, burst: Burst) -> Decimal:
    """Dollars billed for a burst: its rows' cents / 100, exact."""
    return (
        sum((charge.cents for charge in anthropic_charges(stream, burst)), Decimal(0))
        / _CENTS_PER_DOLLAR
    )
