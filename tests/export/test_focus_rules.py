"""FOCUS rows checked column by column against the specification's rules.

The rules below are transcribed from the FOCUS specification's column pages
(``specification/columns/*.md`` of FinOps-Open-Cost-and-Usage-Spec/FOCUS_Spec)
and the FinOps Foundation's machine-readable model of them
(``focus_validator/rules/model-1.2.0.1.json`` in focus-validator 2.2.1), not
from costpipe's code: feature level, data type, nullability and allowed values,
plus the cross-column rules (ListCost = ListUnitPrice x PricingQuantity, a unit
null exactly when its quantity is, end-exclusive periods).
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.export.conftest import Stores, read_rows, run_export

pytestmark = pytest.mark.slow

DECIMAL, STRING, DATETIME, JSON = "Decimal", "String", "Date/Time", "JSON"
#: Column -> (data type, allows nulls) for every Mandatory column both versions share.
MANDATORY = {
    "BilledCost": (DECIMAL, False),
    "BillingAccountId": (STRING, False),
    "BillingAccountName": (STRING, True),  # not null when accounts can be named
    "BillingCurrency": (STRING, False),
    "BillingPeriodEnd": (DATETIME, False),
    "BillingPeriodStart": (DATETIME, False),
    "ChargeCategory": (STRING, False),
    "ChargeClass": (STRING, True),
    "ChargeDescription": (STRING, True),  # SHOULD NOT be null
    "ChargePeriodEnd": (DATETIME, False),
    "ChargePeriodStart": (DATETIME, False),
    "ContractedCost": (DECIMAL, False),
    "EffectiveCost": (DECIMAL, False),
    "InvoiceIssuerName": (STRING, False),
    "ListCost": (DECIMAL, False),
    "PricingCategory": (STRING, True),
    "PricingQuantity": (DECIMAL, True),
    "PricingUnit": (STRING, True),
    "ServiceCategory": (STRING, False),
    "ServiceName": (STRING, False),
}
#: The columns whose names changed in 1.3 (ServiceProvider/HostProvider).
MANDATORY_BY_VERSION = {
    "1.3": {"ServiceProviderName": (STRING, False), "HostProviderName": (STRING, True)},
    "1.2": {"ProviderName": (STRING, False), "PublisherName": (STRING, False)},
}
#: Conditional and Recommended columns costpipe has data for, with their types.
CONDITIONAL = {
    "ConsumedQuantity": DECIMAL,
    "ConsumedUnit": STRING,
    "ListUnitPrice": DECIMAL,
    "ResourceId": STRING,
    "ResourceName": STRING,
    "ResourceType": STRING,
    "SkuId": STRING,
    "SkuPriceId": STRING,
    "SkuMeter": STRING,
    "SkuPriceDetails": JSON,
    "SubAccountId": STRING,
    "SubAccountName": STRING,
    "SubAccountType": STRING,
    "Tags": JSON,
    "ChargeFrequency": STRING,
    "ServiceSubcategory": STRING,
    "PricingCurrency": STRING,
    "PricingCurrencyEffectiveCost": DECIMAL,
    "PricingCurrencyListUnitPrice": DECIMAL,
    "PricingCurrencyContractedUnitPrice": DECIMAL,
}
ALLOWED = {
    "ChargeCategory": {"Usage", "Purchase", "Tax", "Credit", "Adjustment"},
    "ChargeClass": {None, "Correction"},
    "ChargeFrequency": {"One-Time", "Recurring", "Usage-Based"},
    "PricingCategory": {None, "Standard", "Dynamic", "Committed", "Other"},
    "ServiceCategory": {
        "AI and Machine Learning",
        "Analytics",
        "Business Applications",
        "Compute",
        "Databases",
        "Developer Tools",
        "Multicloud",
        "Identity",
        "Integration",
        "Internet of Things",
        "Management and Governance",
        "Media",
        "Migration",
        "Mobile",
        "Networking",
        "Security",
        "Storage",
        "Web",
        "Other",
    },
    # ServiceSubcategory's values under "AI and Machine Learning" (1.2).
    "ServiceSubcategory": {
        "AI Platforms",
        "Bots",
        "Generative AI",
        "Machine Learning",
        "Natural Language Processing",
        "Other (AI and Machine Learning)",
    },
}
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
CURRENCY = re.compile(r"^[A-Z]{3}$")


def instant(text: str) -> datetime:
    assert INSTANT.match(text), f"not ISO 8601 UTC with Z: {text!r}"
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def check_type(column: str, kind: str, value: Any) -> None:
    if value is None:
        return
    if kind == DECIMAL:
        Decimal(value)  # a decimal literal, never "NaN" text or a currency sign
        assert Decimal(value).is_finite(), (column, value)
    elif kind == DATETIME:
        instant(value)
    elif kind == JSON:
        parsed = json.loads(value)
        assert isinstance(parsed, dict), (column, value)
        assert all(isinstance(v, str) for v in parsed.values()), (column, value)
    else:
        assert isinstance(value, str), (column, value)
        assert value.strip(), (column, value)


@pytest.fixture(scope="module", params=["1.3", "1.2"])
def focus(
    request: pytest.FixtureRequest, stores: Stores, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, list[dict[str, Any]], list[str]]:
    version: str = request.param
    out = tmp_path_factory.mktemp("focus") / f"focus-{version}.csv"
    # Estimated money has every kind of row: priced token categories and unpriced usage.
    assert 0 == run_export(
        stores, "sqlite", "--basis", "estimated", "--focus-version", version, output=out
    )
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    return version, read_rows(out), header


def test_every_mandatory_column_is_present_with_its_type_and_nullability(
    focus: tuple[str, list[dict[str, Any]], list[str]],
) -> None:
    version, rows, header = focus
    rules = {**MANDATORY, **MANDATORY_BY_VERSION[version]}
    assert set(rules) <= set(header)
    assert len(rows) > 100
    for column, (kind, nullable) in rules.items():
        for row in rows:
            if not nullable:
                assert row[column] is not None, (column, row)
            check_type(column, kind, row[column])
    for column, kind in CONDITIONAL.items():
        assert column in header
        for row in rows:
            check_type(column, kind, row[column])


def test_columns_the_spec_does_not_define_start_with_x(
    focus: tuple[str, list[dict[str, Any]], list[str]],
) -> None:
    version, _, header = focus
    spec = {*MANDATORY, *MANDATORY_BY_VERSION[version], *CONDITIONAL}
    custom = [name for name in header if name not in spec]
    assert custom
    assert all(name.startswith("x_") for name in custom), custom
    other_version = MANDATORY_BY_VERSION["1.2" if version == "1.3" else "1.3"]
    assert not set(other_version) & set(header)


def test_allowed_values(focus: tuple[str, list[dict[str, Any]], list[str]]) -> None:
    _, rows, _ = focus
    for column, allowed in ALLOWED.items():
        assert {row[column] for row in rows} <= allowed, column
    assert {row["BillingCurrency"] for row in rows} == {"USD"}
    assert all(CURRENCY.match(row["PricingCurrency"]) for row in rows)
    assert {row["ServiceCategory"] for row in rows} == {"AI and Machine Learning"}


def test_charge_periods_are_utc_end_exclusive_inside_their_billing_month(
    stores: Stores, focus: tuple[str, list[dict[str, Any]], list[str]]
) -> None:
    _, rows, _ = focus
    for row in rows:
        start, end = instant(row["ChargePeriodStart"]), instant(row["ChargePeriodEnd"])
        assert start < end
        assert stores.since <= start
        assert end <= stores.until
        month_start = instant(row["BillingPeriodStart"])
        month_end = instant(row["BillingPeriodEnd"])
        assert month_start == start.replace(day=1, hour=0)
        assert month_end == (month_start + timedelta(days=32)).replace(day=1)
        assert month_start <= start < month_end
    # Consecutive days meet exactly: a day ends at the instant the next one starts.
    days = sorted({(instant(r["ChargePeriodStart"]), instant(r["ChargePeriodEnd"])) for r in rows})
    assert days[0][0] == stores.since
    assert days[-1][1] == stores.until
    assert all(a[1] == b[0] for a, b in itertools.pairwise(days))


def test_quantities_units_and_prices_hang_together(
    focus: tuple[str, list[dict[str, Any]], list[str]],
) -> None:
    _, rows, _ = focus
    for row in rows:
        # A unit is null exactly when its quantity is.
        assert (row["PricingUnit"] is None) == (row["PricingQuantity"] is None)
        assert (row["ConsumedUnit"] is None) == (row["ConsumedQuantity"] is None)
        assert (row["SubAccountName"] is None) == (row["SubAccountId"] is None)
        usage = row["ChargeCategory"] == "Usage" and row["ChargeClass"] is None
        if usage:
            for column in (
                "ConsumedQuantity",
                "PricingQuantity",
                "ListUnitPrice",
                "SkuId",
                "SkuPriceId",
                "PricingCategory",
            ):
                assert row[column] is not None, (column, row)
        if row["ListUnitPrice"] is not None and row["PricingQuantity"] is not None:
            # Exactly, in decimal: the spec says "MUST match".
            assert Decimal(row["ListUnitPrice"]) * Decimal(row["PricingQuantity"]) == Decimal(
                row["ListCost"]
            )
            assert Decimal(row["ListUnitPrice"]) >= 0
        assert row["EffectiveCost"] == row["BilledCost"] == row["PricingCurrencyEffectiveCost"]
    # Token rows are priced per million tokens; their ConsumedQuantity is the tokens.
    tokens = [r for r in rows if r["PricingUnit"] == "1000000 Tokens"]
    assert tokens
    for row in tokens:
        assert Decimal(row["PricingQuantity"]) * 1_000_000 == Decimal(row["ConsumedQuantity"])
        assert row["ConsumedUnit"] == "Tokens"


def test_tags_and_custom_counters_carry_the_record(
    focus: tuple[str, list[dict[str, Any]], list[str]],
) -> None:
    _, rows, _ = focus
    tagged = [json.loads(r["Tags"]) for r in rows if r["Tags"] is not None]
    assert any("user" in tags for tags in tagged)
    assert {r["x_CostSource"] for r in rows} == {"estimated", "unpriced"}
    # The token columns of the split rows add up to the stored tokens: one category per row.
    for row in rows:
        if row["x_TokenCategory"] is not None:
            counter = "x_" + "".join(p.capitalize() for p in row["x_TokenCategory"].split("_"))
            assert Decimal(row[counter]) == Decimal(row["ConsumedQuantity"])
