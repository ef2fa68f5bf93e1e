"""The FOCUS cost-and-usage columns costpipe writes, with their types and nullability.

Column rules follow the FinOps Foundation's FOCUS specification
(``specification/columns/*.md`` of FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec,
and the machine-readable rules the ``focus-validator`` ships for 1.2). Every
column the spec marks Mandatory is here, plus the Conditional and Recommended
columns costpipe has data for. 1.3 names the entity that sells the service
``ServiceProviderName`` and the cloud it runs on ``HostProviderName``, where 1.2
had ``ProviderName`` and ``PublisherName``; the other names are the same.

Custom columns start with ``x_`` (the spec's prefix for columns it does not
define): the cost source, the basis, the price data, the token category and one
column per counter of :data:`~costpipe.records.TOKEN_FIELDS`.
"""

from __future__ import annotations

from costpipe.export.columns import Column, Kind
from costpipe.records import TOKEN_FIELDS

__all__ = [
    "CHARGE_CATEGORIES",
    "FOCUS_VERSIONS",
    "SERVICE_CATEGORY",
    "SERVICE_SUBCATEGORY",
    "counter_column",
    "focus_columns",
]

FOCUS_VERSIONS = ("1.3", "1.2")
#: ChargeCategory's allowed values (the spec's list).
CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
SERVICE_CATEGORY = "AI and Machine Learning"
SERVICE_SUBCATEGORY = "Generative AI"

_S, _D, _T, _J = Kind.STRING, Kind.DECIMAL, Kind.DATETIME, Kind.JSON

#: Columns both versions share, in the spec's alphabetical order.
_COMMON: tuple[Column, ...] = (
    Column("BilledCost", _D),
    Column("BillingAccountId", _S),
    Column("BillingAccountName", _S),
    Column("BillingCurrency", _S),
    Column("BillingPeriodEnd", _T),
    Column("BillingPeriodStart", _T),
    Column("ChargeCategory", _S),
    Column("ChargeClass", _S, nullable=True),
    Column("ChargeDescription", _S),
    Column("ChargeFrequency", _S),
    Column("ChargePeriodEnd", _T),
    Column("ChargePeriodStart", _T),
    Column("ConsumedQuantity", _D, nullable=True),
    Column("ConsumedUnit", _S, nullable=True),
    Column("ContractedCost", _D),
    Column("EffectiveCost", _D),
    Column("InvoiceIssuerName", _S),
    Column("ListCost", _D),
    Column("ListUnitPrice", _D, nullable=True),
    Column("PricingCategory", _S, nullable=True),
    Column("PricingCurrency", _S),
    Column("PricingCurrencyContractedUnitPrice", _D, nullable=True),
    Column("PricingCurrencyEffectiveCost", _D),
    Column("PricingCurrencyListUnitPrice", _D, nullable=True),
    Column("PricingQuantity", _D, nullable=True),
    Column("PricingUnit", _S, nullable=True),
    Column("ResourceId", _S, nullable=True),
    Column("ResourceName", _S, nullable=True),
    Column("ResourceType", _S, nullable=True),
    Column("ServiceCategory", _S),
    Column("ServiceName", _S),
    Column("ServiceSubcategory", _S),
    Column("SkuId", _S, nullable=True),
    Column("SkuMeter", _S, nullable=True),
    Column("SkuPriceDetails", _J, nullable=True),
    Column("SkuPriceId", _S, nullable=True),
    Column("SubAccountId", _S, nullable=True),
    Column("SubAccountName", _S, nullable=True),
    Column("SubAccountType", _S, nullable=True),
    Column("Tags", _J, nullable=True),
)

_PROVIDER_COLUMNS = {
    "1.3": (Column("HostProviderName", _S), Column("ServiceProviderName", _S)),
    "1.2": (Column("ProviderName", _S), Column("PublisherName", _S)),
}


def counter_column(field: str) -> str:
    """``uncached_input_tokens`` -> ``x_UncachedInputTokens``."""
    return "x_" + "".join(part.capitalize() for part in field.split("_"))


_CUSTOM: tuple[Column, ...] = (
    Column("x_CostSource", _S),
    Column("x_Basis", _S),
    Column("x_PriceSource", _S, nullable=True),
    Column("x_PriceTableVersion", _S, nullable=True),
    Column("x_TokenCategory", _S, nullable=True),
    Column("x_LineItem", _S, nullable=True),
    Column("x_UserId", _S, nullable=True),
    *(Column(counter_column(field), Kind.INTEGER) for field in TOKEN_FIELDS),
)


def focus_columns(version: str) -> tuple[Column, ...]:
    """The columns of a FOCUS *version* export: the spec's, sorted, then ``x_``."""
    if version not in _PROVIDER_COLUMNS:
        raise ValueError(f"FOCUS version {version!r}: expected one of {', '.join(FOCUS_VERSIONS)}")
    spec = sorted((*_COMMON, *_PROVIDER_COLUMNS[version]), key=lambda c: c.name)
    return (*spec, *_CUSTOM)
