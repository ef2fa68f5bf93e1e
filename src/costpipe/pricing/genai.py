"""Prices from pydantic's ``genai-prices`` data, resolved once per (provider,
model, day, tier) into a costpipe :class:`~costpipe.pricing.costs.ModelPrice`.

Only the package's bundled data is read (``genai_prices.data.providers``):
never its background auto-update (``UpdatePrices``), so a figure depends on the
pinned package version alone, which is recorded on every record it prices
(:data:`SOURCE`). Nor is its per-request ``calc_price`` used: that picks a
long-context tier from a request's input tokens, and a usage row is the sum of
many requests. Here the tier is named by the caller:

* **Historic prices**: of a model's conditional prices, the last one whose
  start date is on or before the usage day applies.
* **Service tiers**: ``batch`` is the data's ``processing: batch`` variant,
  ``flex``, ``priority`` (and any other name) its ``service_tier`` variant.
  A tier with no variant active on the day is *unknown*: the row is unpriced
  with that reason, never priced at the standard rate. ``""``, ``default`` and
  ``standard`` are the standard prices.
* **Long context** (``@200k-1M`` after the tier, Anthropic's ``context_window``):
  each tiered price's tier starting at or below 200k tokens. A model whose data
  has no tiered price is priced flat over the long window only when the data
  says its context window exceeds 200k tokens (its list price covers the whole
  window); otherwise the long-context rate is unknown. Rows without a context
  window get the base (first) tier, the only one an aggregate can justify.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib import metadata
from typing import TYPE_CHECKING, Any

from costpipe.pricing.categories import CATEGORIES, GENAI_KEYS, LONG_CONTEXT_START
from costpipe.pricing.costs import ModelPrice

if TYPE_CHECKING:
    from genai_prices import types as genai_types

__all__ = ["GENAI_PROVIDERS", "SOURCE", "VERSION", "GenaiPrices", "Unpriced", "split_tier"]

VERSION = metadata.version("genai-prices")
#: The price source recorded on records priced from this data.
SOURCE = f"genai-prices {VERSION}"
#: costpipe provider kind -> genai-prices provider id, for the providers whose
#: usage costpipe prices itself (the others report their own money). Bedrock's
#: CloudWatch ModelIds (``amazon.nova-pro-v1:0``) are genai-prices' ``aws`` models.
GENAI_PROVIDERS: dict[str, str] = {"openai": "openai", "anthropic": "anthropic", "bedrock": "aws"}
LONG_CONTEXT = "200k-1M"
_STANDARD = frozenset({"", "default", "standard"})


@dataclass(frozen=True, slots=True)
class Unpriced:
    """Why a (model, day, tier) has no price: logged once, never per row."""

    reason: str


def split_tier(tier: str) -> tuple[str, str]:
    """``"batch@200k-1M"`` -> ``("batch", "200k-1M")``; ``"flex"`` -> ``("flex", "")``."""
    service, _, context = tier.partition("@")
    return service, context


class GenaiPrices:
    """The bundled genai-prices data, looked up by costpipe's provider kinds.

    Lookups are memoized by the :class:`~costpipe.pricing.prices.PriceTable`
    that owns this object; the data module (1.5 MB) is imported on first use.
    """

    def __init__(self, providers: list[genai_types.Provider] | None = None) -> None:
        self._providers = providers
        self.source = SOURCE
        # Matching a name runs the data's match rules over every model of the
        # provider: once per (provider, model), not once per day and tier.
        self._models: dict[tuple[str, str], Any] = {}

    def _provider(self, kind: str) -> genai_types.Provider | None:
        wanted = GENAI_PROVIDERS.get(kind)
        if wanted is None:
            return None
        providers = self._providers if self._providers is not None else _bundled()
        return next((p for p in providers if p.id == wanted), None)

    def price(self, kind: str, model: str, on: date, tier: str) -> ModelPrice | Unpriced:
        provider = self._provider(kind)
        if provider is None:
            return Unpriced(f"{SOURCE} does not price provider {kind!r}")
        key = (kind, model)
        if key not in self._models:
            self._models[key] = provider.find_model(model) if model else None
        info = self._models[key]
        if info is None:
            return Unpriced(f"{SOURCE} has no model {model!r} for {kind}")
        standard = _standard_prices(info, on)
        if isinstance(standard, Unpriced):
            return standard
        service, context = split_tier(tier)
        prices = dict(standard)
        if service not in _STANDARD:
            variant = _variant(info, service, on)
            if variant is None:
                return Unpriced(
                    f"{SOURCE} has no {service!r} tier price for {info.id} on {on.isoformat()}"
                )
            prices.update(variant)
        resolved = _resolve(prices, info, context)
        if isinstance(resolved, Unpriced):
            return resolved
        if "uncached_input_tokens" not in resolved:
            return Unpriced(f"{SOURCE} has no input token price for {info.id}")
        return ModelPrice(kind, model, resolved, SOURCE, None, tier)


@functools.cache
def _bundled() -> list[Any]:
    # The pinned package's own data; genai_prices.UpdatePrices is never started.
    from genai_prices.data import providers

    return list(providers)


def _standard_prices(info: Any, on: date) -> dict[str, Any] | Unpriced:
    from genai_prices import types as gt

    prices = info.prices
    if isinstance(prices, gt.ModelPrice):
        return _values(prices)
    chosen = prices[0].prices
    for conditional in reversed(prices):
        constraint = conditional.constraint
        if constraint is None:
            chosen = conditional.prices
            break
        if isinstance(constraint, gt.StartDateConstraint):
            if on >= constraint.start_date:
                chosen = conditional.prices
                break
            continue
        # A time-of-day price cannot be chosen for a bucket that spans the day.
        return Unpriced(f"{SOURCE} prices {info.id} by time of day")
    return _values(chosen)


def _variant(info: Any, service: str, on: date) -> dict[str, Any] | None:
    """The merged prices of the variants for *service* active on *on* (first wins
    per key, as genai-prices resolves them), or ``None`` when none is active."""
    from genai_prices import types as gt

    when = {"processing": "batch"} if service == "batch" else {"service_tier": service}
    merged: dict[str, Any] = {}
    found = False
    for variant in info.price_variants or ():
        if variant.when != when:
            continue
        constraint = variant.constraint
        if isinstance(constraint, gt.StartDateConstraint) and on < constraint.start_date:
            continue
        if constraint is not None and not isinstance(constraint, gt.StartDateConstraint):
            continue
        found = True
        for key, value in _values(variant.prices).items():
            merged.setdefault(key, value)
    return merged if found else None


def _values(prices: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(prices).items() if not k.startswith("_") and v is not None}


def _resolve(prices: dict[str, Any], info: Any, context: str) -> dict[str, Decimal] | Unpriced:
    """genai price keys -> costpipe counters, choosing each tiered price's tier."""
    from genai_prices import types as gt

    long = context == LONG_CONTEXT
    if context and not long and context != "0-200k":
        return Unpriced(f"{SOURCE}: unknown context window {context!r}")
    tiered = any(isinstance(v, gt.TieredPrices) for v in prices.values())
    if long and not tiered and not (info.context_window or 0) > LONG_CONTEXT_START:
        return Unpriced(f"{SOURCE} has no long-context (200k-1M) rate for {info.id}")
    out: dict[str, Decimal] = {}
    for name in CATEGORIES:
        for key in GENAI_KEYS[name]:
            value = prices.get(key)
            if value is None:
                continue
            if isinstance(value, gt.TieredPrices):
                value = _tier_price(value, long)
            out[name] = Decimal(value)
            break
    return out


def _tier_price(value: Any, long: bool) -> Decimal:
    price: Decimal = value.base
    if long:
        for tier in value.tiers:
            if tier.start <= LONG_CONTEXT_START:
                price = tier.price
    return price
