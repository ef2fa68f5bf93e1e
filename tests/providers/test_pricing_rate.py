"""UsageRate: the integer fast path returns exactly what ModelPrice.cost returns."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import example, given
from hypothesis import strategies as st

from costpipe.pricing.prices import ModelPrice, PriceTable, TokenUsage, UsageRate

# Prices per million tokens as configs write them: up to 12 decimals (rounded at
# 1e-10 per row), negative and non-finite ones (which take the Decimal path).
prices = st.one_of(
    st.decimals(min_value=0, max_value=10**6, places=4),
    st.decimals(min_value=-100, max_value=10**4, places=12),
    st.sampled_from([Decimal("1E+3"), Decimal("-0"), Decimal("0.5"), Decimal("Infinity")]),
)
multipliers = st.one_of(
    st.sampled_from([Decimal(1), Decimal("0.5"), Decimal("0.25"), Decimal(0), Decimal("1.1")]),
    st.decimals(min_value=0, max_value=3, places=6),
)
counts = st.one_of(st.integers(0, 10**7), st.integers(0, 2**63 - 1), st.integers(-5, 5))


def _price(values: list[Decimal]) -> ModelPrice:
    return ModelPrice(
        provider="openai",
        model="m",
        input=values[0],
        cached_input=values[1],
        cache_write=values[2],
        cache_write_1h=values[3],
        output=values[4],
    )


@given(
    st.lists(prices, min_size=5, max_size=5), multipliers, st.lists(counts, min_size=5, max_size=5)
)
@example(
    [Decimal("2.5"), Decimal("1.25"), Decimal("2.5"), Decimal("2.5"), Decimal("10")],
    Decimal("0.5"),
    [3, 1, 0, 0, 7],
)
@example([Decimal("0.0001")] * 5, Decimal("0.5"), [1, 0, 0, 0, 0])  # 0.5e-10: a tie, to 0
@example([Decimal("0.0005")] * 5, Decimal("0.5"), [0, 0, 0, 0, 1])  # 2.5e-10: to 2e-10
@example([Decimal("9" * 30)] * 5, Decimal(1), [2**63 - 1] * 5)  # beyond 38 digits
def test_rate_cost_is_identical_to_model_price_cost(
    values: list[Decimal], multiplier: Decimal, tokens: list[int]
) -> None:
    price = _price(values)
    usage = TokenUsage(*tokens)
    try:
        expected: Decimal | type[Exception] = price.cost(usage, multiplier)
    except ArithmeticError as exc:  # Infinity * 0, more than 40 digits
        expected = type(exc)
    try:
        got: Decimal | type[Exception] = UsageRate(price, multiplier).cost(*tokens)
    except ArithmeticError as exc:
        got = type(exc)
    if isinstance(expected, Decimal) and isinstance(got, Decimal):
        # The same number *and* the same representation (sign, digits, exponent).
        assert got.as_tuple() == expected.as_tuple() or (got.is_nan() and expected.is_nan())
    else:
        assert got == expected


def test_table_rate_is_memoized_and_priced_like_cost() -> None:
    table = PriceTable.bundled()
    day = date(2026, 11, 1)
    rate = table.rate("openai", "gpt-4o-2024-08-06", day, "batch")
    assert rate is not None
    assert rate is table.rate("openai", "gpt-4o-2024-08-06", day, "batch")
    assert rate.multiplier == table.tier_multiplier("openai", "batch") < 1
    usage = TokenUsage(uncached_input=1234, cached_input=99, output=4321)
    assert table.cost("openai", "gpt-4o-2024-08-06", day, usage, "batch") == rate.price.cost(
        usage, rate.multiplier
    )
    assert table.rate("openai", "no-such-model", day) is None
