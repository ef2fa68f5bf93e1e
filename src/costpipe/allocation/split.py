"""Largest-remainder splitting of an integer amount by integer weights.

Pure and exact: the shares always add up to the amount, to the unit. Each share
is the floor of ``amount * weight / total``; the units left over go, one each,
to the largest fractional remainders, ties to the earlier position, so the same
inputs in the same order always give the same shares. A negative amount (a
credit) is split as its absolute value and negated, so a credit is spread the
same way as a charge.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["split"]


def split(amount: int, weights: Sequence[int]) -> list[int]:
    """Shares of *amount* in proportion to *weights* (non-negative integers, at
    least one positive); the shares sum to *amount* exactly."""
    total = sum(weights)
    if any(w < 0 for w in weights):
        raise ValueError("weights must not be negative")
    if total <= 0:
        raise ValueError("at least one weight must be positive")
    sign = -1 if amount < 0 else 1
    whole = abs(amount)
    shares: list[int] = []
    remainders: list[tuple[int, int]] = []
    for index, weight in enumerate(weights):
        share, rest = divmod(whole * weight, total)
        shares.append(share)
        remainders.append((-rest, index))
    left = whole - sum(shares)
    # left < len(weights): each floor lost less than one unit.
    for _, index in sorted(remainders)[:left]:
        shares[index] += 1
    return [sign * share for share in shares]
