"""UsageRate: integer weights give exactly the cost a Fraction computation gives,
rounded half-even to 1e-10 USD; a counter without a price makes a row unpriced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from costpipe.pricing.categories import CATEGORIES, PER
from costpipe.pricing.costs import COST_QUANTUM, ModelPrice, TokenUsage, UsageRate
from costpipe.records import CostRecord, CostSource

prices = st.one_of(
    st.decimals(min_value=0, max_value=10**6, places=4),
    st.decimals(min_value=0, max_value=10**4, places=12),
    st.sampled_from([Decimal("1E+3"), Decimal("0.0625"), Decimal("0.13"), Decimal(0)]),
)
counts = st.one_of(st.integers(0, 10**7), st.integers(0, 2**63 - 1), st.integers(-5, 5))


def reference(price: ModelPrice, tokens: dict[str, int]) -> Decimal:
    """The cost computed the slow, obvious way: exact fractions of a dollar, then
    rounded half-even (Python's round of a Fraction) to whole 1e-10 USD."""
    total = sum(
        (Fraction(price.prices[name]) * count / PER[name] for name, count in tokens.items()),
        Fraction(0),
    )
    return Decimal(f"{round(total / Fraction(COST_QUANTUM))}E-10")


@given(st.lists(prices, min_size=15, max_size=15), st.lists(counts, min_size=15, max_size=15))
@example([Decimal("0.0001")] * 15, [1] + [0] * 14)  # 0.5e-10 USD: a tie, to even (0)
@example([Decimal("0.0003")] * 15, [0, 0, 0, 0, 1] + [0] * 10)  # 1.5e-10: a tie, to 2e-10
@example([Decimal("9" * 30)] * 15, [2**63 - 1] * 15)  # far beyond 38 digits
def test_rate_cost_is_the_exact_cost_rounded_half_even(
    values: list[Decimal], numbers: list[int]
) -> None:
    price = ModelPrice("openai", "m", dict(zip(CATEGORIES, values, strict=True)), "test")
    tokens = dict(zip(CATEGORIES, numbers, strict=True))
    rate = UsageRate(price)
    record = type("Counts", (), tokens)()
    got = rate.cost_of(record)
    assert got is not None
    assert reference(price, tokens) == got
    assert -10 == got.as_tuple().exponent
    text = rate.cost(*numbers[:5])
    assert reference(price, dict(list(tokens.items())[:5])) == text


@given(
    st.lists(st.one_of(st.none(), prices), min_size=15, max_size=15),
    st.lists(counts, min_size=15, max_size=15),
)
@example([None] * 15, [0] * 15)
@example([Decimal(1)] * 14 + [None], [1] * 15)
def test_the_decoders_count_tuples_price_as_counts_by_name(
    values: list[Decimal | None], numbers: list[int]
) -> None:
    """The decoders price tuples in CATEGORIES order (cost_vector) and single
    units by index (unit_cost): the same figures as counts by name, and the
    same first counter without a price."""
    known = {n: v for n, v in zip(CATEGORIES, values, strict=True) if v is not None}
    rate = UsageRate(ModelPrice("openai", "m", known, "test"))
    for size in (0, 5, 11, 15):  # a shorter tuple: the rest are 0
        tokens = dict(zip(CATEGORIES[:size], numbers[:size], strict=True))
        assert rate.cost_counts(tokens) == rate.cost_vector(tuple(numbers[:size]))
        unknown = [name for name, count in tokens.items() if count and name not in known]
        assert (unknown[0] if unknown else None) == rate.missing_vector(tuple(numbers[:size]))
    for index, name in enumerate(CATEGORIES):
        assert rate.cost_counts({name: numbers[index]}) == rate.unit_cost(index, numbers[index])
    # A unit no price prices (images): free only when none was used.
    assert (Decimal(0), None) == (rate.unit_cost(None, 0), rate.unit_cost(None, 3))


def test_cost_is_exact_per_million_tokens_and_per_thousand_calls() -> None:
    price = ModelPrice.build(
        "anthropic",
        "m",
        input=Decimal(3),
        output=Decimal(15),
        cached_input=Decimal("0.3"),
        cache_write=Decimal("3.75"),
        cache_write_1h=Decimal(6),
        extra={"web_search_calls": Decimal(10)},
    )
    usage = TokenUsage(uncached_input=1, cached_input=1, cache_write=1, cache_write_1h=1, output=1)
    assert Decimal("0.0000280500") == price.cost(usage)
    assert Decimal("18000000.0000000000") == price.cost(
        TokenUsage(uncached_input=10**12, output=10**12)
    )
    assert Decimal("0.0300000000") == UsageRate(price).cost_counts({"web_search_calls": 3})


def test_hourly_prices_divide_exactly_into_seconds() -> None:
    """$0.006 per minute is $0.36 per hour: 1 second is 1e-4 USD, 7 seconds 7e-4."""
    price = ModelPrice("openai", "whisper-1", {"transcription_seconds": Decimal("0.36")}, "test")
    assert Decimal("0.0007000000") == UsageRate(price).cost_counts({"transcription_seconds": 7})
    odd = ModelPrice("openai", "m", {"transcription_seconds": Decimal("1")}, "test")
    # 1/3600 USD = 2777777.7... quanta: rounded to 2777778.
    assert Decimal("0.0002777778") == UsageRate(odd).cost_counts({"transcription_seconds": 1})


def record(**counts: int) -> CostRecord:
    return CostRecord(
        start=datetime(2026, 11, 20, tzinfo=UTC),
        width=timedelta(hours=1),
        provider="openai",
        account="a",
        cost_source=CostSource.ESTIMATED,
        **counts,  # type: ignore[arg-type]
    )


def test_a_counter_without_a_price_makes_the_row_unpriced_not_free() -> None:
    """text-embedding-3-small has an input price only: output or audio is unknown."""
    price = ModelPrice("openai", "emb", {"uncached_input_tokens": Decimal("0.02")}, "test")
    rate = UsageRate(price)
    assert Decimal("0.0000200000") == rate.cost(1000)
    assert rate.cost(1000, output=1) is None
    assert rate.cost_of(record(uncached_input_tokens=5, uncached_audio_input_tokens=1)) is None
    assert "uncached_audio_input_tokens" == rate.missing(
        record(uncached_audio_input_tokens=1, uncached_input_tokens=5)
    )
    assert rate.missing(record(uncached_input_tokens=5)) is None
    # A zero count of an unknown counter costs nothing and needs no price.
    assert Decimal("0.0000001000") == rate.cost_of(record(uncached_input_tokens=5))


def test_prices_must_be_known_counters_and_not_negative() -> None:
    with pytest.raises(ValueError, match="unknown counters"):
        ModelPrice("openai", "m", {"requests": Decimal(1)}, "test")
    with pytest.raises(ValueError, match=">= 0"):
        ModelPrice("openai", "m", {"output_tokens": Decimal(-1)}, "test")


def test_the_rate_carries_the_source_it_records() -> None:
    price = ModelPrice("openai", "m", {"uncached_input_tokens": Decimal(1)}, "override:acme")
    assert "override:acme" == UsageRate(price).source
