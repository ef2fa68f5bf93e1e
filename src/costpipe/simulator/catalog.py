"""The simulator's fixed model catalogue and price list.

These are the *simulator's* prices (USD per million tokens): the providers'
list prices, typed here by hand from the price list costpipe is tested against
(genai-prices 0.2.3, on the simulator's default dates, after 2026-10-14), but
deliberately independent of costpipe's code: the simulator must not import
costpipe's provider or pricing code, so that a test comparing costpipe's
numbers with the simulator's ground truth compares two independent
computations (``tests/pricing/test_simulator_models.py`` checks each one against
the price data). ``gpt-9-experimental`` and ``claude-neptune-preview`` are
billed here but absent from any public price list: they exercise costpipe's
"unpriced model" path.

Tiers: a model's tier price is :data:`TIER_PRICES` when listed there (OpenAI's
Priority costs twice the standard rate on gpt-5.4), else the standard price
times :data:`TIER_DISCOUNT`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "ANTHROPIC_LONG_CONTEXT",
    "ANTHROPIC_MODELS",
    "ANTHROPIC_UNPRICED_MODEL",
    "ANTHROPIC_WEB_SEARCH_CENTS",
    "HOSTILE_ANTHROPIC_PRICE_OF",
    "HOSTILE_OPENAI_PRICE_OF",
    "OPENAI_AWKWARD_MODEL",
    "OPENAI_COMPLETION_MODELS",
    "OPENAI_EMBEDDING_MODELS",
    "OPENAI_PRIORITY_MODEL",
    "OPENAI_UNPRICED_MODEL",
    "RECENT_ANTHROPIC_MODELS",
    "RECENT_OPENAI_MODELS",
    "TIER_DISCOUNT",
    "TIER_PRICES",
    "Price",
]


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens for each disjoint token category."""

    input: Decimal
    output: Decimal
    cached_input: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal

    def scaled(self, factor: Decimal) -> Price:
        return Price(
            self.input * factor,
            self.output * factor,
            self.cached_input * factor,
            self.cache_write_5m * factor,
            self.cache_write_1h * factor,
        )


def _p(
    inp: str, out: str, cached: str, write_5m: str | None = None, write_1h: str | None = None
) -> Price:
    return Price(
        Decimal(inp),
        Decimal(out),
        Decimal(cached),
        Decimal(write_5m if write_5m is not None else inp),
        Decimal(write_1h if write_1h is not None else (write_5m if write_5m is not None else inp)),
    )


OPENAI_UNPRICED_MODEL = "gpt-9-experimental"
#: A fine-tuned model whose name carries a comma, a quote, ``=``, unicode and a
#: trailing backslash; it reaches the ``line_item`` text of the Costs API too.
OPENAI_AWKWARD_MODEL = 'ft:gpt-4o-mini-2024-07-18:acme, "café"=1 \\'

#: OpenAI chat/completions models. Cache writes are billed at the input price.
OPENAI_COMPLETION_MODELS: dict[str, Price] = {
    "gpt-4o-2024-08-06": _p("2.50", "10.00", "1.25"),
    "gpt-4o-mini-2024-07-18": _p("0.15", "0.60", "0.075"),
    "gpt-5-mini-2025-08-07": _p("0.25", "2.00", "0.025"),
    "o3-2025-04-16": _p("2.00", "8.00", "0.50"),
    "gpt-4.1-2025-04-14": _p("2.00", "8.00", "0.50"),
    OPENAI_UNPRICED_MODEL: _p("5.00", "20.00", "2.50"),
    # A fine-tune of gpt-4o-mini: the list has no cache-read price for it, so
    # cached input costs the input price.
    OPENAI_AWKWARD_MODEL: _p("0.30", "1.20", "0.30"),
    "gpt-5.4-2026-03-05": _p("2.50", "15.00", "0.25"),
    "gpt-5.4-mini-2026-03-17": _p("0.75", "4.50", "0.075"),
}

#: The current models (issue 17): fixed streams of their own, outside the pool
#: users pick models from, so the other streams stay as they were.
RECENT_OPENAI_MODELS = ("gpt-5.4-2026-03-05", "gpt-5.4-mini-2026-03-17")
#: The model with a Priority-tier stream beside its default one.
OPENAI_PRIORITY_MODEL = "gpt-5.4-2026-03-05"

#: OpenAI embedding models: input tokens only.
OPENAI_EMBEDDING_MODELS: dict[str, Price] = {
    "text-embedding-3-small": _p("0.02", "0", "0.02"),
    "text-embedding-3-large": _p("0.13", "0", "0.13"),
}

ANTHROPIC_UNPRICED_MODEL = "claude-neptune-preview"

#: Anthropic models: (display name used in cost-report descriptions, price).
ANTHROPIC_MODELS: dict[str, tuple[str, Price]] = {
    "claude-sonnet-4-20250514": ("Claude Sonnet 4", _p("3", "15", "0.30", "3.75", "6")),
    "claude-opus-4-1-20250805": ("Claude Opus 4.1", _p("15", "75", "1.50", "18.75", "30")),
    "claude-3-5-haiku-20241022": ("Claude Haiku 3.5", _p("0.80", "4", "0.08", "1", "1.6")),
    "claude-haiku-4-5-20251001": ("Claude Haiku 4.5", _p("1", "5", "0.10", "1.25", "2")),
    ANTHROPIC_UNPRICED_MODEL: ("Claude Neptune Preview", _p("5", "25", "0.50", "6.25", "10")),
    "claude-opus-4-6": ("Claude Opus 4.6", _p("5", "25", "0.50", "6.25", "10")),
    "claude-sonnet-4-6": ("Claude Sonnet 4.6", _p("3", "15", "0.30", "3.75", "6")),
}
RECENT_ANTHROPIC_MODELS = ("claude-opus-4-6", "claude-sonnet-4-6")

#: Long-context (``context_window="200k-1M"``) prices, only for models that have them.
ANTHROPIC_LONG_CONTEXT: dict[str, Price] = {
    "claude-sonnet-4-20250514": _p("6", "22.50", "0.60", "7.50", "12"),
}

#: Hostile model names (``hostile_names=True``) are billed at these models' prices.
HOSTILE_OPENAI_PRICE_OF = "gpt-4o-mini-2024-07-18"
HOSTILE_ANTHROPIC_PRICE_OF = "claude-haiku-4-5-20251001"

#: US cents per web search request ($10 per 1,000).
ANTHROPIC_WEB_SEARCH_CENTS = Decimal(1)

#: Price multiplier per service tier (both providers); absent tiers pay list price.
TIER_DISCOUNT: dict[str, Decimal] = {
    "batch": Decimal("0.5"),
    "flex": Decimal("0.5"),
}

#: List prices of a (model, tier) that are not the standard price times a discount.
TIER_PRICES: dict[tuple[str, str], Price] = {
    ("gpt-5.4-2026-03-05", "priority"): _p("5.00", "30.00", "0.50"),
    # The Batch API lists no cached-input discount for gpt-4o: the standard one.
    ("gpt-4o-2024-08-06", "batch"): _p("1.25", "5.00", "1.25"),
}
