"""costpipe records as FOCUS cost-and-usage rows (see :mod:`.focus_schema`).

One record becomes one FOCUS row per priced token category (input, cached
input, cache writes, output): each is a SKU price of its own in the provider's
price list, so ``ListUnitPrice`` (USD per 1M tokens, from costpipe's price
table) times ``PricingQuantity`` (millions of tokens) is exactly ``ListCost``,
as the spec requires. The record's money (billed, allocated or estimated, the
export's basis) is split over those rows in proportion to their list cost by
largest remainder on integer nanodollars, so the rows of a record add up to
its money exactly and the export's total equals the store's.

A record with no priced tokens (a billed line item without usage, usage of a
model with no price) is one row of one ``Line Item`` at its own money. A
negative amount is a ``Credit`` (no quantities, the spec's rules for credits).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

from costpipe.export.columns import Cell, Column, tags_json
from costpipe.export.focus_schema import (
    SERVICE_CATEGORY,
    SERVICE_SUBCATEGORY,
    counter_column,
    focus_columns,
)
from costpipe.pricing.categories import CATEGORIES, PER
from costpipe.pricing.prices import ModelPrice, PriceTable
from costpipe.records import TOKEN_FIELDS, CostRecord

__all__ = ["PRICED_COUNTERS", "FocusRows", "host_provider", "service_provider"]

#: Every counter the price table can price (tokens by category, calls, characters,
#: seconds: :mod:`costpipe.pricing.categories`), each priced per ``PER[counter]`` units.
PRICED_COUNTERS: tuple[str, ...] = CATEGORIES
_UNITS: tuple[tuple[str, str], ...] = (
    ("_tokens", "Tokens"),
    ("_calls", "Calls"),
    ("_characters", "Characters"),
    ("_seconds", "Seconds"),
)


def _unit(counter: str) -> str:
    """``output_tokens`` -> ``Tokens``, ``web_search_calls`` -> ``Calls`` (FOCUS UnitFormat)."""
    return next((unit for suffix, unit in _UNITS if counter.endswith(suffix)), "Units")


def _meter(counter: str) -> str:
    """The SkuMeter of a counter: ``uncached_input_tokens`` -> ``Input Tokens``,
    ``cache_write_1h_tokens`` -> ``Cache Write 1h Tokens``."""
    words = counter.removeprefix("uncached_").split("_")
    return " ".join(w if w[0].isdigit() else w.capitalize() for w in words)


_NANO = Decimal("1e-9")
_DISPLAY = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "openrouter": "OpenRouter",
    "litellm": "LiteLLM",
    "bedrock": "Amazon Web Services",
    "azure_openai": "Microsoft",
    "vertex": "Google",
}
#: Model-name prefixes of cloud-resold models (LiteLLM's and the clouds' own), and the cloud.
_CLOUDS = (
    (("bedrock/", "anthropic.", "amazon."), "AWS"),
    (("azure/", "azure_ai/"), "Microsoft"),
    (("vertex_ai/", "vertex/", "gemini/"), "Google"),
)


def service_provider(provider: str) -> str:
    """The display name of the vendor that sells the service."""
    return _DISPLAY.get(provider, provider.replace("_", " ").title() or "Unknown")


def host_provider(record: CostRecord) -> str | None:
    """The cloud a cloud-resold model runs on (AWS, Microsoft, Google), else None."""
    for prefixes, cloud in _CLOUDS:
        if record.model.startswith(prefixes):
            return cloud
    return None


def _ascii(text: str) -> str:
    """Our own description text in ASCII (the validator checks that); provider
    identifiers elsewhere keep their original characters, as StringHandling says."""
    return text.encode("ascii", "backslashreplace").decode("ascii")


def _sub_account_type(record: CostRecord) -> str | None:
    """What a project is called by its provider (Anthropic: a workspace)."""
    if not record.project_id:
        return None
    return "Workspace" if record.provider == "anthropic" else "Project"


@functools.lru_cache(maxsize=64)
def _month(moment: datetime) -> tuple[datetime, datetime]:
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    end = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _nanos(money: Decimal) -> int:
    return int(money.scaleb(9).to_integral_value())


def split_nanos(total: int, weights: list[Decimal]) -> list[int]:
    """*total* split in proportion to *weights* by largest remainder; the parts
    add up to *total* exactly (all to the first when the weights are all 0)."""
    weight = sum(weights, Decimal(0))
    if weight <= 0:
        return [total] + [0] * (len(weights) - 1)
    exact = [Decimal(total) * w / weight for w in weights]
    parts = [int(x.to_integral_value(rounding="ROUND_FLOOR")) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (parts[i] - exact[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


class FocusRows:
    """Builds FOCUS rows of one *version*, pricing list costs with *prices*."""

    def __init__(self, version: str, prices: PriceTable | None) -> None:
        self.columns: tuple[Column, ...] = focus_columns(version)
        self.version = version
        self.prices = prices
        self._names = tuple(c.name for c in self.columns)
        self._counters = tuple((field, counter_column(field)) for field in TOKEN_FIELDS)

    def rows(self, record: CostRecord) -> Iterator[tuple[Cell, ...]]:
        money = _nanos(record.cost_usd)
        price = self._price(record)
        parts = [
            (field, getattr(record, field, 0), price.prices[field])
            for field in PRICED_COUNTERS
            if price is not None and field in price.prices and getattr(record, field, 0) > 0
        ]
        if money < 0 or not parts:
            yield self._row(record, money, None)
            return
        lists = [Decimal(count) / PER[field] * unit for field, count, unit in parts]
        shares = split_nanos(money, lists)
        split = frozenset(field for field, _, _ in parts)
        for index, ((field, count, unit), share) in enumerate(zip(parts, shares, strict=True)):
            yield self._row(record, share, (field, count, unit), first=index == 0, split=split)

    def _price(self, record: CostRecord) -> ModelPrice | None:
        if self.prices is None or not record.model:
            return None
        day: date = record.start.date()
        return self.prices.lookup(record.provider, record.model, day)

    def _row(
        self,
        record: CostRecord,
        nanos: int,
        part: tuple[str, int, Decimal] | None,
        *,
        first: bool = True,
        split: frozenset[str] = frozenset(),
    ) -> tuple[Cell, ...]:
        money = Decimal(nanos) * _NANO if nanos else Decimal(0)
        credit = nanos < 0
        seller = service_provider(record.provider)
        host = host_provider(record)
        tokens = sum(getattr(record, f) for f in TOKEN_FIELDS if f.endswith("_tokens"))
        row: dict[str, Cell] = {
            "BilledCost": money,
            "EffectiveCost": money,
            "ContractedCost": money,
            "BillingAccountId": f"{record.provider}:{record.account}",
            "BillingAccountName": record.account or record.provider,
            "BillingCurrency": "USD",
            "ChargeCategory": "Credit" if credit else "Usage",
            "ChargeClass": None,
            "ChargeFrequency": "One-Time" if credit else "Usage-Based",
            "ChargePeriodStart": record.start,
            "ChargePeriodEnd": record.end,
            "InvoiceIssuerName": host or seller,
            "ServiceCategory": SERVICE_CATEGORY,
            "ServiceSubcategory": SERVICE_SUBCATEGORY,
            "ServiceName": f"{seller} API",
            "ServiceProviderName": seller,
            "HostProviderName": host or seller,
            "ProviderName": seller,
            "PublisherName": seller,
            "SubAccountId": record.project_id or None,
            "SubAccountName": record.project_id or None,
            "SubAccountType": _sub_account_type(record),
            "ResourceId": record.api_key_id or None,
            "ResourceName": record.api_key_id or None,
            "ResourceType": "API Key" if record.api_key_id else None,
            "Tags": self._tags(record),
            "x_CostSource": record.cost_source.value,
            "x_Basis": record.basis,
            "x_PriceSource": getattr(record, "price_source", "") or None,
            "x_PriceTableVersion": self.prices.version if self.prices and part else None,
            "x_TokenCategory": part[0] if part else None,
            "x_LineItem": record.line_item or None,
            "x_UserId": record.user_id or None,
        }
        row["BillingPeriodStart"], row["BillingPeriodEnd"] = _month(record.start)
        row["PricingCurrency"] = "USD"
        # Each split row carries its own counter; the first also every counter no row
        # was split for (requests, unpriced units), so the x_ columns add up to the record.
        for field, column in self._counters:
            mine = part is None or field == part[0] or (first and field not in split)
            row[column] = getattr(record, field) if mine else 0
        if credit:
            row.update(ConsumedQuantity=None, ConsumedUnit=None, PricingQuantity=None)
            row.update(PricingUnit=None, ListUnitPrice=None, PricingCategory=None, ListCost=money)
            row.update(SkuId=record.model or None, SkuPriceId=None, SkuMeter=None)
            row["SkuPriceDetails"] = None
            row["ChargeDescription"] = _ascii(
                f"Credit: {record.line_item or record.model or seller}"
            )
        elif part is not None:
            field, count, unit = part
            quantity = Decimal(count) / PER[field]
            row.update(ConsumedQuantity=Decimal(count), ConsumedUnit=_unit(field))
            row.update(PricingQuantity=quantity, PricingUnit=f"{PER[field]} {_unit(field)}")
            row["ListUnitPrice"] = unit
            row.update(ListCost=quantity * unit, PricingCategory="Standard")
            row.update(SkuId=record.model, SkuPriceId=f"{record.provider}:{record.model}:{field}")
            row["SkuMeter"] = _meter(field)
            row["SkuPriceDetails"] = tags_json([("x_TokenCategory", field)])
            row["ChargeDescription"] = _ascii(f"{record.model} {field.replace('_', ' ')}")
        else:
            # No list price known: one line item at its own money (ListCost = BilledCost).
            row.update(PricingQuantity=Decimal(1), PricingUnit="Line Item", ListUnitPrice=money)
            row.update(ListCost=money, PricingCategory="Standard")
            row.update(ConsumedQuantity=Decimal(tokens) if tokens else Decimal(1))
            row["ConsumedUnit"] = "Tokens" if tokens else "Line Item"
            sku = record.model or record.line_item or record.provider
            row.update(SkuId=sku, SkuPriceId=f"{record.provider}:{sku}", SkuMeter="Usage")
            row["SkuPriceDetails"] = None
            row["ChargeDescription"] = _ascii(record.line_item or f"{record.model or seller} usage")
        # Prices are in the billing currency: the pricing-currency figures are the same.
        row["PricingCurrencyEffectiveCost"] = money
        row["PricingCurrencyListUnitPrice"] = row["ListUnitPrice"]
        row["PricingCurrencyContractedUnitPrice"] = None
        return tuple(map(row.__getitem__, self._names))

    @staticmethod
    def _tags(record: CostRecord) -> str | None:
        pairs = [("user", record.user_id)] if record.user_id else []
        pairs += [(k, v) for k, v in record.tags if v and k != "user"]
        return tags_json(pairs) if pairs else None
