"""Model prices and the cost of token usage.

A :class:`PriceTable` holds USD prices **per million tokens** by provider and
model, each with the UTC day it takes effect, so a price change is one more
entry rather than an edit. The bundled table (``costpipe/pricing/prices.toml``)
is versioned; ``[[prices]]`` tables in the config override or extend it.

Lookup (:meth:`PriceTable.lookup`) guarantees:

* an exact model name wins over its base alias; a dated snapshot without an
  entry of its own (``gpt-4o-2024-08-06``, ``claude-sonnet-4-20250514``) is
  priced as its alias (``gpt-4o``, ``claude-sonnet-4``);
* of one name's entries, the one with the latest ``effective_from`` on or
  before the usage day applies;
* an unknown model returns ``None``: the caller records it as *unpriced*,
  never as free.

The arithmetic (:class:`ModelPrice`, :class:`TokenUsage`, :class:`UsageRate`)
lives in :mod:`costpipe.pricing.costs`; the names are re-exported here.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

from costpipe.pricing.config import PriceConfig
from costpipe.pricing.costs import COST_QUANTUM, ModelPrice, TokenUsage, UsageRate

__all__ = [
    "COST_QUANTUM",
    "ModelPrice",
    "PriceTable",
    "TokenUsage",
    "UsageRate",
    "base_alias",
]

# A trailing release date: OpenAI writes -2024-08-06, Anthropic -20250514.
_SNAPSHOT_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


def base_alias(model: str) -> str | None:
    """``gpt-4o-2024-08-06`` -> ``gpt-4o``; ``None`` when *model* is not a snapshot."""
    alias = _SNAPSHOT_SUFFIX.sub("", model)
    return alias if alias != model and alias else None


def _sort_key(price: ModelPrice) -> date:
    return price.effective_from or date.min


class PriceTable:
    """Prices by (provider, model), each a list ordered by ``effective_from``.

    Immutable: :meth:`with_overrides` returns a new table.
    """

    __slots__ = ("_found", "_prices", "_rates", "_tiers", "version")

    def __init__(
        self,
        prices: Iterable[ModelPrice],
        *,
        version: str,
        tiers: Mapping[str, Mapping[str, Decimal]] | None = None,
    ) -> None:
        self.version = version
        grouped: dict[tuple[str, str], list[ModelPrice]] = {}
        for price in prices:
            entries = grouped.setdefault((price.provider, price.model), [])
            # A second entry for the same day replaces the first (later wins).
            entries[:] = [p for p in entries if p.effective_from != price.effective_from]
            entries.append(price)
        self._prices = {key: tuple(sorted(v, key=_sort_key)) for key, v in grouped.items()}
        self._tiers = {p: dict(t) for p, t in (tiers or {}).items()}
        # lookup() runs once per usage row (millions in a backfill) for a handful of
        # (model, day) pairs; the table never changes after __init__, so memoize it.
        self._found: dict[tuple[str, str, date], ModelPrice | None] = {}
        self._rates: dict[tuple[str, str, date, str], UsageRate | None] = {}

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._prices.values())

    def __repr__(self) -> str:
        return f"PriceTable(version={self.version!r}, entries={len(self)})"

    @staticmethod
    def bundled() -> PriceTable:
        """The table shipped with costpipe (``costpipe/pricing/prices.toml``), parsed once."""
        return _bundled()

    @classmethod
    def from_toml(cls, text: str) -> PriceTable:
        """Parse a table in the bundled format; numbers are read as exact Decimals."""
        data = tomllib.loads(text, parse_float=Decimal)
        prices = [_price_from_mapping(entry) for entry in data.get("prices", [])]
        tiers = {
            provider: {tier: Decimal(str(value)) for tier, value in table.items()}
            for provider, table in data.get("tiers", {}).items()
        }
        return cls(prices, version=str(data.get("version", "unversioned")), tiers=tiers)

    def entries(self) -> list[ModelPrice]:
        """Every price, ordered by provider, model and date."""
        return [p for key in sorted(self._prices) for p in self._prices[key]]

    def with_overrides(self, overrides: Sequence[PriceConfig]) -> PriceTable:
        """A copy with ``[[prices]]`` config entries applied.

        An override without ``effective_from`` replaces every bundled price of
        that model (the user states "this is the price"); a dated override adds
        a price change, or replaces the entry of the same day.
        """
        if not overrides:
            return self
        prices = {key: list(entries) for key, entries in self._prices.items()}
        for item in overrides:
            price = ModelPrice.build(
                item.provider,
                item.model,
                input=item.input,
                output=item.output,
                cached_input=item.cached_input,
                cache_write=item.cache_write,
                cache_write_1h=item.cache_write_1h,
                effective_from=item.effective_from,
            )
            key = (item.provider, item.model)
            if price.effective_from is None:
                prices[key] = [price]
            else:
                prices.setdefault(key, []).append(price)
        flat = [p for entries in prices.values() for p in entries]
        return PriceTable(flat, version=f"{self.version}+overrides", tiers=self._tiers)

    def lookup(self, provider: str, model: str, on: date) -> ModelPrice | None:
        """The price of *model* on UTC day *on*, or ``None`` if it has none."""
        cache_key = (provider, model, on)
        try:
            return self._found[cache_key]
        except KeyError:
            found = self._found[cache_key] = self._lookup(provider, model, on)
            return found

    def _lookup(self, provider: str, model: str, on: date) -> ModelPrice | None:
        for name in (model, base_alias(model)):
            if not name:
                continue
            found = None
            for price in self._prices.get((provider, name), ()):
                if price.effective_from is None or price.effective_from <= on:
                    found = price
            if found is not None:
                return found
        return None

    def rate(self, provider: str, model: str, on: date, tier: str = "") -> UsageRate | None:
        """The :class:`UsageRate` of *model* on day *on* in *tier*, ``None`` when
        unpriced; memoized, so pricing a row is one dict lookup and integer math."""
        cache_key = (provider, model, on, tier)
        try:
            return self._rates[cache_key]
        except KeyError:
            price = self.lookup(provider, model, on)
            rate = None if price is None else UsageRate(price, self.tier_multiplier(provider, tier))
            self._rates[cache_key] = rate
            return rate

    def tier_multiplier(self, provider: str, tier: str) -> Decimal:
        """Price factor of a service tier (``batch`` -> 0.5); 1 when not discounted."""
        return self._tiers.get(provider, {}).get(tier, Decimal(1))

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


@functools.cache
def _bundled() -> PriceTable:
    text = (resources.files("costpipe.pricing") / "prices.toml").read_text("utf-8")
    return PriceTable.from_toml(text)


_PRICE_KEYS = {f.name for f in dataclasses.fields(ModelPrice)}


def _price_from_mapping(entry: Mapping[str, Any]) -> ModelPrice:
    unknown = set(entry) - _PRICE_KEYS
    if unknown:
        raise ValueError(f"price of {entry.get('model')!r}: unknown keys {sorted(unknown)}")

    def money(name: str) -> Decimal | None:
        value = entry.get(name)
        return None if value is None else Decimal(str(value))

    input_price, output_price = money("input"), money("output")
    if input_price is None or output_price is None:
        raise ValueError(f"price of {entry.get('model')!r}: input and output are required")
    return ModelPrice.build(
        str(entry["provider"]),
        str(entry["model"]),
        input=input_price,
        output=output_price,
        cached_input=money("cached_input"),
        cache_write=money("cache_write"),
        cache_write_1h=money("cache_write_1h"),
        effective_from=entry.get("effective_from"),
    )
