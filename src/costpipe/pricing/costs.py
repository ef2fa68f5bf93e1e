"""The cost of token usage: :class:`TokenUsage`, :class:`ModelPrice` and the
integer fast path :class:`UsageRate`, which prices many rows with the same result.

Costs are computed in :class:`~decimal.Decimal` and quantized to
:data:`COST_QUANTUM` (1e-10 USD) with banker's rounding. Token counts are
integers and bundled prices have at most four decimals per million tokens,
so for them the quantization is exact; it only rounds overrides with more
decimals, by less than a ten-billionth of a dollar per row. Which price
applies to a row is :class:`~costpipe.pricing.prices.PriceTable`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal

__all__ = ["COST_QUANTUM", "ModelPrice", "TokenUsage", "UsageRate"]

#: Smallest unit of an estimated cost (USD).
COST_QUANTUM = Decimal("1e-10")
_MILLION = Decimal(1_000_000)
# Enough digits that no product of a token count and a price is rounded
# before the final quantization.
_CONTEXT = Context(prec=40, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Disjoint token counts of one usage row, the way they are priced."""

    uncached_input: int = 0
    cached_input: int = 0
    cache_write: int = 0
    """5-minute cache writes (OpenAI cache writes too)."""
    cache_write_1h: int = 0
    output: int = 0


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's prices in USD per million tokens, valid from ``effective_from``."""

    provider: str
    model: str
    input: Decimal
    output: Decimal
    cached_input: Decimal
    cache_write: Decimal
    cache_write_1h: Decimal
    effective_from: date | None = None

    @classmethod
    def build(
        cls,
        provider: str,
        model: str,
        *,
        input: Decimal,
        output: Decimal,
        cached_input: Decimal | None = None,
        cache_write: Decimal | None = None,
        cache_write_1h: Decimal | None = None,
        effective_from: date | None = None,
    ) -> ModelPrice:
        """Fill omitted cache prices the documented way (input, then cache_write)."""
        write = input if cache_write is None else cache_write
        return cls(
            provider=provider,
            model=model,
            input=Decimal(input),
            output=Decimal(output),
            cached_input=Decimal(input if cached_input is None else cached_input),
            cache_write=Decimal(write),
            cache_write_1h=Decimal(write if cache_write_1h is None else cache_write_1h),
            effective_from=effective_from,
        )

    def cost(self, usage: TokenUsage, multiplier: Decimal = Decimal(1)) -> Decimal:
        """USD for *usage*, times *multiplier* (a tier discount), quantized."""
        total = _CONTEXT.add(
            _CONTEXT.add(
                _CONTEXT.multiply(Decimal(usage.uncached_input), self.input),
                _CONTEXT.multiply(Decimal(usage.cached_input), self.cached_input),
            ),
            _CONTEXT.add(
                _CONTEXT.add(
                    _CONTEXT.multiply(Decimal(usage.cache_write), self.cache_write),
                    _CONTEXT.multiply(Decimal(usage.cache_write_1h), self.cache_write_1h),
                ),
                _CONTEXT.multiply(Decimal(usage.output), self.output),
            ),
        )
        scaled = _CONTEXT.divide(_CONTEXT.multiply(total, multiplier), _MILLION)
        return scaled.quantize(COST_QUANTUM, context=_CONTEXT)


#: Above this many digits the Decimal path (precision 40) might round before the end.
_EXACT_LIMIT = 10**38


class UsageRate:
    """One :class:`ModelPrice` times one tier multiplier, for pricing many rows.

    :meth:`cost` returns exactly what ``price.cost(usage, multiplier)`` returns
    (the same Decimal, exponent included) but computes it in integers: each
    price times the multiplier is turned once into an integer weight per token
    at a common power of ten, so a row costs five integer products and one
    rounding (half-even, as ``quantize``). Rows the integer path cannot prove
    identical for (negative prices or counts, non-finite prices, more than 38
    digits) take the Decimal path.
    """

    __slots__ = ("_divisor", "_factor", "_weights", "multiplier", "price")

    def __init__(self, price: ModelPrice, multiplier: Decimal = Decimal(1)) -> None:
        self.price = price
        self.multiplier = multiplier
        self._weights: tuple[int, int, int, int, int] | None = None
        self._factor = 1
        self._divisor = 1
        values = (
            price.input,
            price.cached_input,
            price.cache_write,
            price.cache_write_1h,
            price.output,
        )
        if not all(v.is_finite() and not v.is_signed() for v in (*values, multiplier)):
            return
        _, m_digits, m_exp = multiplier.as_tuple()
        m_coefficient = int("".join(map(str, m_digits)))
        parts = []
        for value in values:
            _, digits, exponent = value.as_tuple()
            parts.append(
                (int("".join(map(str, digits))) * m_coefficient, int(exponent) + int(m_exp))
            )
        common = min(0, *(exponent for _, exponent in parts))
        weights = [coefficient * 10 ** (exponent - common) for coefficient, exponent in parts]
        # cost in units of COST_QUANTUM = sum(tokens * weight) * 10**common / 1e6 * 1e10
        shift = common + 4
        if shift >= 0:
            self._factor = 10**shift
        else:
            self._divisor = 10**-shift
        self._weights = (weights[0], weights[1], weights[2], weights[3], weights[4])

    def cost(
        self,
        uncached_input: int = 0,
        cached_input: int = 0,
        cache_write: int = 0,
        cache_write_1h: int = 0,
        output: int = 0,
    ) -> Decimal:
        """USD for these token counts, quantized to :data:`COST_QUANTUM`."""
        weights = self._weights
        if (
            weights is not None
            and uncached_input >= 0
            and cached_input >= 0
            and cache_write >= 0
            and cache_write_1h >= 0
            and output >= 0
        ):
            total = (
                uncached_input * weights[0]
                + cached_input * weights[1]
                + cache_write * weights[2]
                + cache_write_1h * weights[3]
                + output * weights[4]
            )
            if total < _EXACT_LIMIT:
                divisor = self._divisor
                if divisor == 1:
                    units = total * self._factor
                else:
                    units, rest = divmod(total, divisor)
                    doubled = 2 * rest
                    if doubled > divisor or (doubled == divisor and units & 1):
                        units += 1
                if units < _EXACT_LIMIT:
                    return Decimal(units).scaleb(-10, _CONTEXT)
        usage = TokenUsage(uncached_input, cached_input, cache_write, cache_write_1h, output)
        return self.price.cost(usage, self.multiplier)
