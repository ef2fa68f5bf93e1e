"""The price table: which price applies to a usage row, looked up once per
(provider, model, UTC day, tier) and memoized.

Precedence, per (provider, model, tier): a ``[[prices]]`` override from the
config (contracts, fine-tunes, in-house models) > pydantic's ``genai-prices``
data (:mod:`costpipe.pricing.genai`, historic prices included) > *unpriced*.
An unpriced row keeps its usage with ``cost_source = unpriced`` and
:meth:`PriceTable.unpriced_reason` says why, for a log line per model and tier
(never per row).

Tiers are strings: the service tier (``""`` standard, ``batch``, ``flex``,
``priority``...), then ``@200k-1M`` for Anthropic long-context rows. Override
lookup guarantees:

* an exact model name wins over its base alias; a dated snapshot without an
  override of its own (``claude-sonnet-4-20250514``) uses its alias's;
* of one name's overrides for one tier, the one with the latest
  ``effective_from`` on or before the usage day applies.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

from costpipe.pricing.config import PriceConfig
from costpipe.pricing.costs import COST_QUANTUM, ModelPrice, TokenUsage, UsageRate
from costpipe.pricing.genai import GenaiPrices, Unpriced, split_tier

__all__ = [
    "COST_QUANTUM",
    "ModelPrice",
    "PriceTable",
    "TokenUsage",
    "UsageRate",
    "base_alias",
    "normal_tier",
]

# A trailing release date: OpenAI writes -2024-08-06, Anthropic -20250514.
_SNAPSHOT_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest)$")
_STANDARD = frozenset({"", "default", "standard"})


def base_alias(model: str) -> str | None:
    """``gpt-4o-2024-08-06`` -> ``gpt-4o``; ``None`` when *model* is not a snapshot."""
    alias = _SNAPSHOT_SUFFIX.sub("", model)
    return alias if alias != model and alias else None


def normal_tier(tier: str) -> str:
    """One spelling per tier: ``default``/``standard`` -> ``""``, and
    ``standard@200k-1M`` -> ``@200k-1M``."""
    service, context = split_tier(tier)
    service = "" if service in _STANDARD else service
    return f"{service}@{context}" if context else service


def _sort_key(price: ModelPrice) -> date:
    return price.effective_from or date.min


class PriceTable:
    """Overrides and the genai-prices data; immutable (:meth:`with_overrides`
    returns a new table), memoized per (provider, model, day, tier)."""

    __slots__ = ("_data", "_found", "_overrides", "_rates", "version")

    def __init__(
        self,
        overrides: Iterable[ModelPrice] = (),
        *,
        data: GenaiPrices | None = None,
    ) -> None:
        grouped: dict[tuple[str, str, str], list[ModelPrice]] = {}
        for price in overrides:
            key = (price.provider, price.model, normal_tier(price.tier))
            entries = grouped.setdefault(key, [])
            # A second entry for the same day replaces the first (later wins).
            entries[:] = [p for p in entries if p.effective_from != price.effective_from]
            entries.append(price)
        self._overrides = {k: tuple(sorted(v, key=_sort_key)) for k, v in grouped.items()}
        self._data = data
        source = data.source if data is not None else "no price data"
        self.version = f"{source}+overrides" if self._overrides else source
        # rate() runs once per model and tier of a bucket (millions of rows in a
        # backfill share a handful of them); the table never changes, so memoize.
        self._found: dict[tuple[str, str, date, str], ModelPrice | Unpriced] = {}
        self._rates: dict[tuple[str, str, date, str], UsageRate | None] = {}

    def __repr__(self) -> str:
        return f"PriceTable(version={self.version!r}, overrides={len(self._overrides)})"

    @staticmethod
    def bundled() -> PriceTable:
        """genai-prices' bundled data, no overrides (built once)."""
        return _bundled()

    def with_overrides(self, overrides: Sequence[PriceConfig]) -> PriceTable:
        """A copy with ``[[prices]]`` config entries added (they take precedence)."""
        if not overrides:
            return self
        prices = [p for entries in self._overrides.values() for p in entries]
        for item in overrides:
            prices.append(
                ModelPrice.build(
                    item.provider,
                    item.model,
                    input=item.input,
                    output=item.output,
                    cached_input=item.cached_input,
                    cache_write=item.cache_write,
                    cache_write_1h=item.cache_write_1h,
                    source=f"override:{item.name}",
                    effective_from=item.effective_from,
                    tier=item.tier,
                    extra=_extra_prices(item),
                )
            )
        return PriceTable(prices, data=self._data)

    def lookup(self, provider: str, model: str, on: date, tier: str = "") -> ModelPrice | None:
        """The price of *model* on UTC day *on* in *tier*, or ``None``."""
        found = self._resolve(provider, model, on, tier)
        return None if isinstance(found, Unpriced) else found

    def unpriced_reason(self, provider: str, model: str, on: date, tier: str = "") -> str:
        """Why *model* has no price on *on* in *tier* (``""`` when it has one)."""
        found = self._resolve(provider, model, on, tier)
        return found.reason if isinstance(found, Unpriced) else ""

    def rate(self, provider: str, model: str, on: date, tier: str = "") -> UsageRate | None:
        """The :class:`UsageRate` of *model* on day *on* in *tier*, ``None`` when
        unpriced; memoized, so pricing a row is one dict lookup and integer math."""
        key = (provider, model, on, tier)
        try:
            return self._rates[key]
        except KeyError:
            price = self.lookup(provider, model, on, tier)
            rate = self._rates[key] = None if price is None else UsageRate(price)
            return rate

    def cost(
        self, provider: str, model: str, on: date, usage: TokenUsage, tier: str = ""
    ) -> Decimal | None:
        """USD for *usage* of *model* on day *on*, or ``None`` when unpriced."""
        rate = self.rate(provider, model, on, tier)
        if rate is None:
            return None
        return rate.cost(
            usage.uncached_input,
            usage.cached_input,
            usage.cache_write,
            usage.cache_write_1h,
            usage.output,
        )

    def _resolve(self, provider: str, model: str, on: date, tier: str) -> ModelPrice | Unpriced:
        key = (provider, model, on, tier)
        try:
            return self._found[key]
        except KeyError:
            found = self._found[key] = self._find(provider, model, on, normal_tier(tier))
            return found

    def _find(self, provider: str, model: str, on: date, tier: str) -> ModelPrice | Unpriced:
        for name in (model, base_alias(model)):
            if not name:
                continue
            chosen = None
            for price in self._overrides.get((provider, name, tier), ()):
                if price.effective_from is None or price.effective_from <= on:
                    chosen = price
            if chosen is not None:
                return chosen
        if self._data is None:
            return Unpriced("no price data and no [[prices]] override")
        return self._data.price(provider, model, on, tier)


def _extra_prices(item: PriceConfig) -> dict[str, Decimal]:
    extra = {"web_search_calls": item.web_search}
    return {name: value for name, value in extra.items() if value is not None}


@functools.cache
def _bundled() -> PriceTable:
    return PriceTable(data=GenaiPrices())
