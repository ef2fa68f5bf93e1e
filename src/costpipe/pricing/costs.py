"""The cost of usage: :class:`ModelPrice` (one model's prices in one tier on one
day) and the integer fast path :class:`UsageRate`, which prices many rows.

Costs are exact: each price is turned once into an integer weight per unit at a
common denominator (a :class:`~fractions.Fraction` of :data:`COST_QUANTUM`), a
row costs one integer product per counter and one division rounded half-even,
and the result is a :class:`~decimal.Decimal` with exactly ten decimals. Python
integers do not overflow, so no row needs a slower path. Which price applies to
a row is :class:`~costpipe.pricing.prices.PriceTable`'s job.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from fractions import Fraction

from costpipe.pricing.categories import CATEGORIES, PER, TEXT_CATEGORIES

__all__ = ["COST_QUANTUM", "ModelPrice", "TokenUsage", "UsageRate"]

#: Smallest unit of an estimated cost (USD).
COST_QUANTUM = Decimal("1e-10")
_QUANTA_PER_USD = 10**10
_INDEX = {name: i for i, name in enumerate(CATEGORIES)}
# Turning whole quanta into dollars must never round, however many digits: a
# 40-digit context holds every realistic figure (and is the cheaper one), the
# unbounded one takes the rest.
_FAST = Context(prec=40)
_FAST_LIMIT = 10**40
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
#: The packed weight of a text counter without a price (``text_prices``).
_NO_PRICE = 2**64 - 1


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """The text token counts of one usage row, the way they are priced."""

    uncached_input: int = 0
    cached_input: int = 0
    cache_write: int = 0
    """5-minute cache writes (OpenAI cache writes too)."""
    cache_write_1h: int = 0
    output: int = 0


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's prices in one tier, valid from ``effective_from``.

    ``prices`` maps a record counter (:data:`~costpipe.pricing.categories.CATEGORIES`)
    to USD per :data:`~costpipe.pricing.categories.PER` units of it (per million
    tokens, per thousand calls). A counter without an entry has no known price:
    a row that uses it is unpriced, never charged 0. ``source`` says where the
    prices come from (``genai-prices 0.2.3``, ``override:<name>``) and is stored
    on every record they price.
    """

    provider: str
    model: str
    prices: Mapping[str, Decimal]
    source: str
    effective_from: date | None = None
    tier: str = ""

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
        source: str = "override:config",
        effective_from: date | None = None,
        tier: str = "",
        extra: Mapping[str, Decimal] | None = None,
    ) -> ModelPrice:
        """Text prices per million tokens; omitted cache prices default the
        documented way (input, then cache_write). *extra* prices other counters."""
        write = input if cache_write is None else cache_write
        prices = {
            "uncached_input_tokens": Decimal(input),
            "cached_input_tokens": Decimal(input if cached_input is None else cached_input),
            "cache_write_tokens": Decimal(write),
            "cache_write_1h_tokens": Decimal(write if cache_write_1h is None else cache_write_1h),
            "output_tokens": Decimal(output),
            **(extra or {}),
        }
        return cls(provider, model, prices, source, effective_from, tier)

    def __post_init__(self) -> None:
        unknown = set(self.prices) - set(CATEGORIES)
        if unknown:
            raise ValueError(f"price of {self.model!r}: unknown counters {sorted(unknown)}")
        for name, value in self.prices.items():
            if not (value.is_finite() and value >= 0):
                raise ValueError(f"price of {self.model!r}: {name} must be >= 0, got {value}")

    def _price(self, name: str) -> Decimal:
        return self.prices.get(name, Decimal(0))

    @property
    def input(self) -> Decimal:
        return self._price("uncached_input_tokens")

    @property
    def output(self) -> Decimal:
        return self._price("output_tokens")

    @property
    def cached_input(self) -> Decimal:
        return self._price("cached_input_tokens")

    @property
    def cache_write(self) -> Decimal:
        return self._price("cache_write_tokens")

    @property
    def cache_write_1h(self) -> Decimal:
        return self._price("cache_write_1h_tokens")

    def cost(self, usage: TokenUsage) -> Decimal | None:
        """USD for *usage*, exact to :data:`COST_QUANTUM`; ``None`` when a count
        has no price."""
        return UsageRate(self).cost(
            usage.uncached_input,
            usage.cached_input,
            usage.cache_write,
            usage.cache_write_1h,
            usage.output,
        )


@dataclass(slots=True)
class UsageRate:
    """A :class:`ModelPrice` as integer weights, for pricing many rows.

    ``weights[i]`` is the price of one unit of ``CATEGORIES[i]`` in
    ``COST_QUANTUM / denominator``, or ``None`` when unknown.
    """

    price: ModelPrice
    weights: tuple[int | None, ...] = field(init=False)
    denominator: int = field(init=False)
    _text: tuple[int, int, int, int, int] | None = field(init=False)
    text_prices: tuple[bytes, str] | None = field(init=False)
    """For the C record builder (:mod:`costpipe.providers.usage_rows`): the five
    text weights (:data:`_NO_PRICE` for an unknown price) and the denominator
    packed as native unsigned 64-bit integers, and the source; ``None`` when a
    number does not fit (Python prices the rows)."""

    def __post_init__(self) -> None:
        exact = [
            None
            if name not in self.price.prices
            else Fraction(self.price.prices[name]) * _QUANTA_PER_USD / PER[name]
            for name in CATEGORIES
        ]
        denominator = math.lcm(1, *(w.denominator for w in exact if w is not None))
        weights = tuple(
            None if w is None else int(w * denominator) for w in exact
        )  # exact: denominator is a multiple of every w's
        self.weights = weights
        self.denominator = denominator
        a, b, c, d, e = weights[: len(TEXT_CATEGORIES)]
        if a is not None and b is not None and c is not None and d is not None and e is not None:
            self._text = (a, b, c, d, e)
        else:
            self._text = None
        packed = [_NO_PRICE if w is None else w for w in weights[: len(TEXT_CATEGORIES)]]
        packed.append(denominator)
        fits = all(0 <= n < _NO_PRICE for n in packed if n is not _NO_PRICE)
        self.text_prices = (struct.pack("=6Q", *packed), self.price.source) if fits else None

    @property
    def source(self) -> str:
        """Where the prices come from, recorded on each record they price."""
        return self.price.source

    def _round(self, total: int) -> Decimal:
        divisor = self.denominator
        if divisor == 1:
            units = total
        else:
            units, rest = divmod(total, divisor)
            doubled = 2 * rest
            if doubled > divisor or (doubled == divisor and units & 1):
                units += 1
        if -_FAST_LIMIT < units < _FAST_LIMIT:
            return Decimal(units).scaleb(-10, _FAST)
        return Decimal(units).scaleb(-10, _EXACT)

    def cost(
        self,
        uncached_input: int = 0,
        cached_input: int = 0,
        cache_write: int = 0,
        cache_write_1h: int = 0,
        output: int = 0,
    ) -> Decimal | None:
        """USD for these text token counts (the decoders' hot path), or ``None``
        when one of them is non-zero and has no price."""
        text = self._text
        if text is not None:
            return self._round(
                uncached_input * text[0]
                + cached_input * text[1]
                + cache_write * text[2]
                + cache_write_1h * text[3]
                + output * text[4]
            )
        counts = (uncached_input, cached_input, cache_write, cache_write_1h, output)
        return self._weighted(zip(self.weights, counts, strict=False))

    def cost_of(self, counted: object) -> Decimal | None:
        """USD for every priced counter of *counted* (a record), or ``None`` when
        a non-zero counter has no price (see :meth:`missing`)."""
        return self.cost_vector(tuple(getattr(counted, name, 0) for name in CATEGORIES))

    def cost_vector(self, counts: Sequence[int]) -> Decimal | None:
        """USD for *counts* in :data:`CATEGORIES` order (a shorter sequence: the
        rest are 0), or ``None`` when a non-zero one has no price. The decoders'
        form: no counter names to look up per row."""
        return self._weighted(zip(self.weights, counts, strict=False))

    def cost_counts(self, counts: Mapping[str, int]) -> Decimal | None:
        """USD for *counts* by counter name (``{"web_search_calls": 3}``), or
        ``None`` when a non-zero one has no price."""
        index = _INDEX
        pairs = [(self.weights[index[name]], count) for name, count in counts.items()]
        return self._weighted(pairs)

    def unit_cost(self, index: int | None, count: int) -> Decimal | None:
        """USD for *count* units of ``CATEGORIES[index]`` (``None``: a unit no
        price prices), or ``None`` when *count* is non-zero and has no price."""
        weight = None if index is None else self.weights[index]
        if not count:
            return self._round(0)
        if weight is None:
            return None
        return self._round(count * weight)

    def missing(self, counted: object) -> str | None:
        """The first counter of *counted* with usage but no price, else ``None``."""
        return self.missing_vector(tuple(getattr(counted, name, 0) for name in CATEGORIES))

    def missing_vector(self, counts: Sequence[int]) -> str | None:
        """:meth:`missing` of *counts* in :data:`CATEGORIES` order (see :meth:`cost_vector`)."""
        for name, weight, count in zip(CATEGORIES, self.weights, counts, strict=False):
            if weight is None and count:
                return name
        return None

    def _weighted(self, pairs: Iterable[tuple[int | None, int]]) -> Decimal | None:
        total = 0
        for weight, count in pairs:
            if not count:
                continue
            if weight is None:
                return None
            total += count * weight
        return self._round(total)
