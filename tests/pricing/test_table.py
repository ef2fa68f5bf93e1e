"""The price table: genai-prices data by day and tier, overrides first, unpriced
with a reason otherwise; never the standard rate for a tier the data lacks."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import genai_prices
import pytest
from genai_prices import data_snapshot
from genai_prices import types as gt

from costpipe.pricing.config import PriceConfig
from costpipe.pricing.genai import SOURCE, GenaiPrices
from costpipe.pricing.prices import PriceTable, TokenUsage, base_alias, normal_tier

DAY = date(2026, 11, 20)
TABLE = PriceTable.bundled()


def test_source_names_the_pinned_package_version() -> None:
    assert f"genai-prices {genai_prices.__version__}" == SOURCE == TABLE.version
    assert genai_prices.__version__.startswith("0.2.")
    price = TABLE.lookup("openai", "gpt-5.4", DAY)
    assert price is not None
    assert SOURCE == price.source


@pytest.mark.parametrize(
    ("model", "alias"),
    [
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("gpt-4o", None),
    ],
)
def test_base_alias_strips_snapshot_dates(model: str, alias: str | None) -> None:
    assert alias == base_alias(model)


@pytest.mark.parametrize(
    ("tier", "normal"),
    [("", ""), ("default", ""), ("standard", ""), ("standard@200k-1M", "@200k-1M"),
     ("batch@200k-1M", "batch@200k-1M"), ("priority", "priority")],
)  # fmt: skip
def test_tiers_have_one_spelling(tier: str, normal: str) -> None:
    assert normal == normal_tier(tier)


def test_historic_prices_follow_the_usage_day() -> None:
    """o3 was cut from $10/$40 to $2/$8 on 2025-06-10."""
    before = TABLE.lookup("openai", "o3-2025-04-16", date(2025, 6, 9))
    after = TABLE.lookup("openai", "o3-2025-04-16", date(2025, 6, 10))
    assert before is not None
    assert after is not None
    assert (Decimal(10), Decimal(2)) == (before.input, after.input)


def test_priority_flex_and_batch_are_the_data_s_own_tier_prices() -> None:
    standard = TABLE.lookup("openai", "gpt-5.4-2026-03-05", DAY)
    priority = TABLE.lookup("openai", "gpt-5.4-2026-03-05", DAY, "priority")
    flex = TABLE.lookup("openai", "gpt-5.4-mini", DAY, "flex")
    batch = TABLE.lookup("anthropic", "claude-opus-4-6", DAY, "batch")
    assert standard is not None
    assert priority is not None
    assert flex is not None
    assert batch is not None
    assert (Decimal("2.5"), Decimal(15)) == (standard.input, standard.output)
    assert (Decimal(5), Decimal("0.5"), Decimal(30)) == (
        priority.input,
        priority.cached_input,
        priority.output,
    )
    assert (Decimal("0.375"), Decimal("2.25")) == (flex.input, flex.output)
    assert (Decimal("2.5"), Decimal("3.125"), Decimal(5)) == (
        batch.input,
        batch.cache_write,
        batch.cache_write_1h,
    )


@pytest.mark.parametrize(
    ("provider", "model", "on", "tier", "reason"),
    [
        ("openai", "gpt-4o-2024-08-06", DAY, "scale", "no 'scale' tier price for gpt-4o"),
        ("openai", "gpt-4o-mini", DAY, "flex", "no 'flex' tier price"),
        ("anthropic", "claude-sonnet-4-6", DAY, "priority", "no 'priority' tier price"),
        # The data knows batch prices from 2026-10-14 only: earlier batch rows
        # are unpriced, not charged the standard rate.
        ("openai", "gpt-5.4", date(2026, 5, 1), "batch", "on 2026-05-01"),
        ("anthropic", "claude-sonnet-4-20250514", DAY, "@200k-1M", "no long-context"),
        ("openai", "gpt-9-experimental", DAY, "", "no model 'gpt-9-experimental'"),
        ("openrouter", "gpt-4o", DAY, "", "does not price provider"),
    ],
)
def test_a_tier_or_model_the_data_lacks_is_unpriced_with_a_reason(
    provider: str, model: str, on: date, tier: str, reason: str
) -> None:
    assert TABLE.rate(provider, model, on, tier) is None
    assert TABLE.lookup(provider, model, on, tier) is None
    assert reason in TABLE.unpriced_reason(provider, model, on, tier)
    assert TABLE.cost(provider, model, on, TokenUsage(output=1), tier) is None


def test_long_context_rows_get_the_long_context_rate_never_a_guess_from_totals() -> None:
    """Sonnet 4.5 doubles its input price above 200k tokens. The tier comes from
    the row's context window; a standard row is the base rate whatever its size."""
    long = TABLE.lookup("anthropic", "claude-sonnet-4-5-20250929", DAY, "standard@200k-1M")
    base = TABLE.lookup("anthropic", "claude-sonnet-4-5-20250929", DAY, "standard")
    assert long is not None
    assert base is not None
    assert (Decimal(6), Decimal("22.5"), Decimal(12)) == (
        long.input,
        long.output,
        long.cache_write_1h,
    )
    usage = TokenUsage(uncached_input=5_000_000, output=1_000)  # a day of short requests
    assert Decimal("15.0150000000") == TABLE.cost(
        "anthropic", "claude-sonnet-4-5-20250929", DAY, usage
    )
    # Opus 4.6 had a long-context premium until 2026-03-12; its 1M window has
    # been list price since, which the data states (window 1M, no tiers).
    early = TABLE.lookup("anthropic", "claude-opus-4-6", date(2026, 3, 1), "@200k-1M")
    late = TABLE.lookup("anthropic", "claude-opus-4-6", DAY, "@200k-1M")
    assert early is not None
    assert late is not None
    assert (Decimal(10), Decimal(5)) == (early.input, late.input)


def test_undated_override_wins_over_the_data_in_its_tier_only() -> None:
    table = TABLE.with_overrides(
        [
            PriceConfig(
                provider="openai", model="gpt-5.4", input=Decimal(1), output=Decimal(4), name="acme"
            )
        ]
    )
    price = table.lookup("openai", "gpt-5.4-2026-03-05", DAY)  # the snapshot uses the alias's
    assert price is not None
    assert (Decimal(1), Decimal(1), Decimal(4), "override:acme") == (
        price.input,
        price.cached_input,
        price.output,
        price.source,
    )
    priority = table.lookup("openai", "gpt-5.4-2026-03-05", DAY, "priority")
    assert priority is not None
    assert SOURCE == priority.source
    assert table.version == f"{SOURCE}+overrides"
    assert Decimal("2.5") == TABLE.lookup("openai", "gpt-5.4", DAY).input  # type: ignore[union-attr]


def test_dated_override_applies_from_its_day_and_prices_a_tier_the_data_lacks() -> None:
    table = TABLE.with_overrides(
        [
            PriceConfig(
                provider="anthropic",
                model="claude-sonnet-4",
                tier="@200k-1M",
                input=Decimal(6),
                output=Decimal("22.5"),
                cache_write=Decimal("7.5"),
                effective_from=date(2026, 11, 1),
            ),
            PriceConfig(
                provider="openai",
                model="acme-llm-9",
                input=Decimal("0.5"),
                output=Decimal(1),
                web_search=Decimal(25),
            ),
        ]
    )
    model = "claude-sonnet-4-20250514"
    assert table.lookup("anthropic", model, date(2026, 10, 31), "standard@200k-1M") is None
    new = table.lookup("anthropic", model, date(2026, 11, 1), "standard@200k-1M")
    assert new is not None
    assert (Decimal(6), Decimal("7.5"), "override:config") == (
        new.input,
        new.cache_write_1h,
        new.source,
    )
    usage = TokenUsage(uncached_input=1_000_000, output=1_000_000)
    assert Decimal("1.5000000000") == table.cost("openai", "acme-llm-9", DAY, usage)
    rate = table.rate("openai", "acme-llm-9", DAY)
    assert rate is not None
    assert Decimal("0.0250000000") == rate.cost_counts({"web_search_calls": 1})


def test_rates_are_memoized_per_model_day_and_tier() -> None:
    rate = TABLE.rate("openai", "gpt-5.4", DAY, "priority")
    assert rate is not None
    assert rate is TABLE.rate("openai", "gpt-5.4", DAY, "priority")
    assert rate is not TABLE.rate("openai", "gpt-5.4", DAY)


def test_only_the_bundled_data_is_read_never_an_updated_snapshot() -> None:
    """A process-wide genai-prices snapshot (what its auto-update installs) does
    not change costpipe's figures: they depend on the pinned version alone."""
    free = gt.Provider(id="openai", name="OpenAI", api_pattern="x", models=[])
    data_snapshot.set_custom_snapshot(data_snapshot.DataSnapshot([free], from_auto_update=True))
    try:
        fresh = PriceTable(data=GenaiPrices())
        assert fresh.lookup("openai", "gpt-5.4", DAY) is not None
    finally:
        data_snapshot.set_custom_snapshot(None)
