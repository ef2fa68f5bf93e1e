"""The meter-name table, the Query API readings (every UsageDate and cost column form)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from costpipe.errors import MalformedDataError
from costpipe.providers.azure_openai.decode import parse_usage_date, query_records, resource_label
from costpipe.providers.azure_openai.meters import (
    CACHED_INPUT,
    INPUT,
    OTHER,
    OUTPUT,
    Meter,
    parse_meter,
)
from costpipe.providers.azure_openai.schema import decode_query
from costpipe.records import Window

DAY1 = datetime(2026, 11, 1, tzinfo=UTC)
SPAN = Window(DAY1, datetime(2026, 11, 3, tzinfo=UTC))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gpt-4o-0513 Input global Tokens", Meter("gpt-4o", "global", INPUT)),
        ("gpt 4o 0806 Outp glbl Tokens", Meter("gpt-4o", "global", OUTPUT)),
        ("gpt 4o 0806 cached Inp glbl Tokens", Meter("gpt-4o", "global", CACHED_INPUT)),
        ("GPT-4o-mini-0718-Inp-DZone", Meter("gpt-4o-mini", "data zone", INPUT)),
        ("o3-mini 0131 cached Inp regnl Tokens", Meter("o3-mini", "regional", CACHED_INPUT)),
        ("gpt-4.1 Inp Data Zone 1M Tokens", Meter("gpt-4.1", "data zone", INPUT)),
        ("gpt-4.1-nano Batch Input Tokens", Meter("gpt-4.1-nano", "batch", INPUT)),
        ("gpt-5 Outp regional 1K Tokens", Meter("gpt-5", "regional", OUTPUT)),
        ("gpt-4o-2024-08-06 Inp glbl", Meter("gpt-4o", "global", INPUT)),
        ("gpt 35 turbo 0125 Inp regnl", Meter("gpt-35-turbo", "regional", INPUT)),
        ("GPT 35 Outp glbl", Meter("gpt-35", "global", OUTPUT)),
        # Fallback: no category word -> kept as a line item, no guessed model.
        ("text-embedding-3-large Tokens", Meter("", "", OTHER)),
        ("Provisioned Managed Global Unit", Meter("", "provisioned", OTHER)),
        ("", Meter("", "", OTHER)),
    ],
)
def test_meter_table(name: str, expected: Meter) -> None:
    assert parse_meter(name) == expected


@pytest.mark.parametrize(
    "value",
    [
        20261101,
        Decimal(20261101),
        "20261101",
        "2026-11-01T00:00:00",
        "2026-11-01",
        "2026-11-01T00:00:00Z",
    ],
)
def test_usage_date_every_reading(value: object) -> None:
    assert parse_usage_date(value) == DAY1


@pytest.mark.parametrize(
    "value", [True, None, 2026110, "2026-13-01", "yesterday", Decimal("20261101.5")]
)
def test_usage_date_refuses_non_dates(value: object) -> None:
    with pytest.raises(ValueError, match="is not a date"):
        parse_usage_date(value)


def test_resource_label() -> None:
    rid = "/subscriptions/x/resourceGroups/RG-AI/providers/Microsoft.CognitiveServices/accounts/Acc"
    assert resource_label(rid) == "rg-ai/acc"
    assert resource_label("weird") == "weird"


PAGE_2023 = b"""{"id": "x", "properties": {"nextLink": null,
 "columns": [{"name": "Cost", "type": "Number"}, {"name": "CostUSD", "type": "Number"},
  {"name": "UsageDate", "type": "Number"}, {"name": "ResourceId", "type": "String"},
  {"name": "MeterName", "type": "String"}, {"name": "Currency", "type": "String"}],
 "rows": [[9.1, 0.009865586851323632, 20261101, "/subscriptions/s/resourcegroups/g/providers/p/accounts/a",
   "gpt 4o 0806 Outp glbl Tokens", "EUR"],
  [1, 1, 20261105, "r", "m", "EUR"]]}}"""

PAGE_2019 = b"""{"value": [{"properties": {"nextLink": "https://management.azure.com/next",
 "columns": [{"name": "PreTaxCost", "type": "Number"}, {"name": "UsageDate", "type": "Number"},
  {"name": "MeterName", "type": "String"}, {"name": "Currency", "type": "String"}],
 "rows": [[218.68795741935486, 20261102, "GPT-4o-mini-0718-Inp-DZone", "USD"]]}}]}"""


def test_cost_usd_column_wins_and_stays_exact() -> None:
    records = query_records(decode_query(PAGE_2023), SPAN, "acct")
    assert len(records) == 1  # the 5 November row is outside the span
    (record,) = records
    assert record.cost_usd == Decimal("0.009865586851323632")
    assert (record.model, record.project_id, record.start) == ("gpt-4o", "g/a", DAY1)
    assert record.line_item == "gpt 4o 0806 Outp glbl Tokens"


def test_value_wrapped_pre_tax_cost_shape() -> None:
    page = decode_query(PAGE_2019)
    assert page.nextLink == "https://management.azure.com/next"
    (record,) = query_records(page, SPAN, "acct")
    assert record.cost_usd == Decimal("218.68795741935486")
    assert record.model == "gpt-4o-mini"


def test_non_usd_without_cost_usd_is_refused() -> None:
    body = PAGE_2019.replace(b'"USD"', b'"EUR"')
    with pytest.raises(MalformedDataError, match="not USD"):
        query_records(decode_query(body), SPAN, "acct")


@pytest.mark.parametrize(
    "row",
    [
        b'["NaN", 20261101, "m", "USD"]',
        b'[1e12, 20261101, "m", "USD"]',
        b'[1, 20261101, 5, "USD"]',
        b"[1]",
    ],
)
def test_bad_rows_are_refused(row: bytes) -> None:
    body = PAGE_2019.replace(
        b'[218.68795741935486, 20261102, "GPT-4o-mini-0718-Inp-DZone", "USD"]', row
    )
    with pytest.raises(MalformedDataError):
        query_records(decode_query(body), SPAN, "acct")
