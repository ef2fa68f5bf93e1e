"""The price table: bundled data, lookup rules, effective dates, overrides, exact cost."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from costpipe.config.settings import PriceConfig
from costpipe.pricing.prices import COST_QUANTUM, ModelPrice, PriceTable, TokenUsage, base_alias

DAY = date(2026, 11, 1)


def test_bundled_table_is_versioned_and_covers_both_providers() -> None:
    table = PriceTable.bundled()
    assert table.version.startswith("2026-11-")
    providers = {p.provider for p in table.entries()}
    assert {"openai", "anthropic"} == providers


def test_bundled_prices_are_sane() -> None:
    """Cache reads never cost more than input; 1h writes never less than 5m writes."""
    for price in PriceTable.bundled().entries():
        assert price.cached_input <= price.input, price.model
        assert price.cache_write_1h >= price.cache_write, price.model
        assert price.output >= 0, price.model


@pytest.mark.parametrize(
    ("model", "alias"),
    [
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("gpt-4o", None),
        ("o3", None),
    ],
)
def test_base_alias_strips_snapshot_dates(model: str, alias: str | None) -> None:
    assert alias == base_alias(model)


def test_snapshot_falls_back_to_alias_but_an_exact_entry_wins() -> None:
    table = PriceTable.bundled()
    snapshot = table.lookup("openai", "gpt-4o-2024-08-06", DAY)
    assert snapshot is not None
    assert ("gpt-4o", Decimal("2.50")) == (snapshot.model, snapshot.input)
    exact = table.lookup("openai", "gpt-4o-2024-05-13", DAY)
    assert exact is not None
    assert ("gpt-4o-2024-05-13", Decimal("5.00")) == (exact.model, exact.input)


def test_unknown_model_and_wrong_provider_have_no_price() -> None:
    table = PriceTable.bundled()
    assert table.lookup("openai", "acme-llm-9", DAY) is None
    assert table.lookup("anthropic", "gpt-4o", DAY) is None
    assert table.cost("openai", "acme-llm-9", DAY, TokenUsage(output=1)) is None


def test_the_price_in_force_on_the_usage_day_applies() -> None:
    """o3 was cut from $10/$40 to $2/$8 on 2025-06-10."""
    table = PriceTable.bundled()
    before = table.lookup("openai", "o3-2025-04-16", date(2025, 6, 9))
    after = table.lookup("openai", "o3-2025-04-16", date(2025, 6, 10))
    assert before is not None
    assert after is not None
    assert (Decimal("10.00"), Decimal("2.00")) == (before.input, after.input)


def test_a_model_before_its_first_price_is_unpriced() -> None:
    assert PriceTable.bundled().lookup("openai", "gpt-5", date(2025, 8, 6)) is None


def test_undated_override_replaces_every_bundled_price_of_the_model() -> None:
    table = PriceTable.bundled().with_overrides(
        [PriceConfig(provider="openai", model="o3", input=Decimal(1), output=Decimal(4))]
    )
    for day in (date(2025, 1, 1), date(2026, 1, 1)):
        price = table.lookup("openai", "o3", day)
        assert price is not None
        assert (Decimal(1), Decimal(1), Decimal(1), Decimal(4)) == (
            price.input,
            price.cached_input,
            price.cache_write,
            price.output,
        )
    assert table.version.endswith("+overrides")
    assert PriceTable.bundled().lookup("openai", "o3", date(2026, 1, 1)).input == Decimal("2.00")  # type: ignore[union-attr]


def test_dated_override_adds_a_price_change() -> None:
    table = PriceTable.bundled().with_overrides(
        [
            PriceConfig(
                provider="anthropic",
                model="claude-sonnet-4",
                input=Decimal(2),
                output=Decimal(10),
                cache_write=Decimal("2.5"),
                effective_from=date(2026, 12, 1),
            )
        ]
    )
    old = table.lookup("anthropic", "claude-sonnet-4-20250514", date(2026, 11, 30))
    new = table.lookup("anthropic", "claude-sonnet-4-20250514", date(2026, 12, 1))
    assert old is not None
    assert new is not None
    assert (Decimal("3.00"), Decimal(2)) == (old.input, new.input)
    # 1h writes default to the 5m write price when an override omits them.
    assert Decimal("2.5") == new.cache_write_1h


def test_override_adds_an_unknown_model() -> None:
    table = PriceTable.bundled().with_overrides(
        [
            PriceConfig(
                provider="openai", model="acme-llm-9", input=Decimal("0.5"), output=Decimal(1)
            )
        ]
    )
    assert Decimal("1.5") == table.cost(
        "openai", "acme-llm-9", DAY, TokenUsage(uncached_input=1_000_000, output=1_000_000)
    )


def test_cost_is_exact_decimal_per_million_tokens() -> None:
    price = ModelPrice.build(
        "anthropic",
        "m",
        input=Decimal(3),
        output=Decimal(15),
        cached_input=Decimal("0.3"),
        cache_write=Decimal("3.75"),
        cache_write_1h=Decimal(6),
    )
    usage = TokenUsage(uncached_input=1, cached_input=1, cache_write=1, cache_write_1h=1, output=1)
    assert Decimal("0.0000280500") == price.cost(usage)
    big = TokenUsage(uncached_input=10**12, output=10**12)
    assert Decimal("18000000") == price.cost(big)


def test_cost_is_quantized_to_the_documented_quantum() -> None:
    price = ModelPrice.build("openai", "m", input=Decimal("0.000000000001"), output=Decimal(0))
    assert Decimal(0) == price.cost(TokenUsage(uncached_input=1))
    assert -COST_QUANTUM.as_tuple().exponent == 10  # type: ignore[operator]


def test_tier_multipliers_come_from_the_table() -> None:
    table = PriceTable.bundled()
    assert Decimal("0.5") == table.tier_multiplier("openai", "batch")
    assert Decimal("0.5") == table.tier_multiplier("anthropic", "batch")
    assert Decimal(1) == table.tier_multiplier("anthropic", "priority")
    usage = TokenUsage(uncached_input=1000, output=1000)
    full = table.cost("openai", "gpt-4o", DAY, usage)
    half = table.cost("openai", "gpt-4o", DAY, usage, tier="batch")
    assert full is not None
    assert full / 2 == half


def test_from_toml_rejects_unknown_keys() -> None:
    text = 'version = "x"\n[[prices]]\nprovider = "openai"\nmodel = "m"\ninput = 1\noutput = 2\ncolour = "red"\n'
    with pytest.raises(ValueError, match="colour"):
        PriceTable.from_toml(text)


def test_from_toml_reads_numbers_exactly() -> None:
    text = (
        'version = "x"\n[[prices]]\nprovider = "openai"\nmodel = "m"\ninput = 0.1\noutput = 0.3\n'
    )
    price = PriceTable.from_toml(text).lookup("openai", "m", DAY)
    assert price is not None
    assert (Decimal("0.1"), Decimal("0.3")) == (price.input, price.output)
