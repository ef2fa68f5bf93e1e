"""Largest-remainder splitting: sums exact, proportional, deterministic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from costpipe.allocation.split import split

amounts = st.integers(min_value=-(10**15), max_value=10**15)
weights = st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=40).filter(
    lambda ws: sum(ws) > 0
)


@given(amounts, weights)
def test_shares_sum_to_the_amount_exactly(amount: int, ws: list[int]) -> None:
    assert amount == sum(split(amount, ws))


@given(amounts, weights)
def test_each_share_is_within_one_unit_of_its_exact_proportion(amount: int, ws: list[int]) -> None:
    total = sum(ws)
    for share, weight in zip(split(amount, ws), ws, strict=True):
        # |share - amount*w/total| < 1, in integers: |share*total - amount*w| < total
        assert abs(share * total - amount * weight) < total
        if weight == 0:
            assert share == 0


@given(amounts, weights)
def test_same_inputs_give_the_same_shares(amount: int, ws: list[int]) -> None:
    assert split(amount, ws) == split(amount, list(ws))


@given(st.integers(min_value=0, max_value=10**12), weights)
def test_a_larger_weight_never_gets_less(amount: int, ws: list[int]) -> None:
    shares = split(amount, ws)
    for i, j in zip(range(len(ws)), range(1, len(ws)), strict=False):
        if ws[i] > ws[j]:
            assert shares[i] >= shares[j]


def test_leftover_units_go_to_the_largest_remainders_then_the_first() -> None:
    assert [4, 3, 3] == split(10, [1, 1, 1])
    assert [1, 2] == split(3, [1, 2])
    assert [-4, -3, -3] == split(-10, [1, 1, 1])


def test_no_positive_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        split(5, [0, 0])
    with pytest.raises(ValueError, match="negative"):
        split(5, [3, -1])
