"""Pure decoding: every TIMESTAMP reading, REPEATED RECORD labels, exact NUMERIC,
the SKU table, untrusted cells refused with their column."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import pytest

from costpipe.errors import MalformedDataError
from costpipe.providers.gcp_billing.decode import parse_timestamp, response_records
from costpipe.providers.gcp_billing.schema import decode_response
from costpipe.providers.gcp_billing.skus import parse_sku, token_field
from costpipe.records import Window
from costpipe.simulator.gcp_billing_api import SCHEMA, seconds_text

HOUR_AT = datetime(2026, 11, 20, 13, tzinfo=UTC)
SPAN = Window(HOUR_AT - timedelta(hours=1), HOUR_AT + timedelta(hours=1))


@pytest.mark.parametrize(
    "text",
    [
        "1.7951796E9",  # Java's Double.toString, as the REST API writes float seconds
        "1.7951796e9",
        "1795179600.0",
        "1795179600",
        "1795179600000000",  # formatOptions.useInt64Timestamp: microseconds
        "1.7951796E15",
    ],
)
def test_every_timestamp_reading(text: str) -> None:
    assert parse_timestamp(text) == HOUR_AT


def test_the_fake_writes_javas_double_form() -> None:
    assert seconds_text(HOUR_AT, 0) == "1.7951796E9"
    assert parse_timestamp(seconds_text(HOUR_AT, 0)) == HOUR_AT
    assert parse_timestamp(seconds_text(HOUR_AT, 2)) == HOUR_AT


@pytest.mark.parametrize("bad", ["", "NaN", "Infinity", "12abc", "1e400", True])
def test_bad_timestamps_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        parse_timestamp(bad)


def page(*rows: list[object]) -> bytes:
    body = {
        "jobComplete": True,
        "jobReference": {"projectId": "p", "jobId": "j"},
        "schema": {"fields": SCHEMA},
        "totalRows": str(len(rows)),
        "rows": [{"f": [{"v": v} for v in row]} for row in rows],
    }
    return msgspec.json.encode(body)


def labels(*pairs: tuple[str, str]) -> list[object]:
    return [{"v": {"f": [{"v": k}, {"v": v}]}} for k, v in pairs]


def row(kind: str = "COST", amount: object = "0.123456789", **over: object) -> list[object]:
    values: dict[str, object] = {
        "hour": "1.7951796E9",
        "service": "Vertex AI",
        "project": "ml-prod",
        "sku_id": "X",
        "sku": "Gemini 2.5 Pro Input Text Tokens",
        "currency": "USD",
        "kind": kind,
        "labels": labels(("team", "a"), ("env", "b")),
        "amount": amount,
        "usage_amount": "1200" if kind == "COST" else None,
        "usage_unit": "count",
    }
    values.update(over)
    return list(values.values())


def test_cost_and_credit_records_are_exact_and_apart() -> None:
    records = response_records(
        decode_response(page(row(), row("FREE_TIER", "-0.000000001"))), SPAN, "acct"
    )
    cost = next(r for r in records if "[credit" not in r.line_item)
    credit = next(r for r in records if "[credit FREE_TIER]" in r.line_item)
    assert cost.cost_usd == Decimal("0.123456789")
    assert credit.cost_usd == Decimal("-1e-9")
    assert cost.uncached_input_tokens == 1200
    assert credit.uncached_input_tokens == 0
    assert cost.tags == (("env", "b"), ("team", "a"))
    assert cost.model == "gemini-2.5-pro"
    assert cost.line_item.startswith("Vertex AI: Gemini")


def test_a_json_number_amount_is_read_exactly() -> None:
    body = page(row()).replace(b'"0.123456789"', b"0.30000000000000004")
    records = response_records(decode_response(body), SPAN, "acct")
    assert records[0].cost_usd == Decimal("0.30000000000000004")


def test_rows_outside_the_span_are_dropped() -> None:
    records = response_records(decode_response(page(row(hour="1.0E9"))), SPAN, "acct")
    assert records == []


@pytest.mark.parametrize(
    ("change", "column"),
    [
        ({"amount": "lots"}, "amount"),
        ({"amount": "1e30"}, "amount"),
        ({"currency": "EUR"}, "EUR"),
        ({"labels": [{"v": "not a record"}]}, "labels"),
        ({"hour": "yesterday"}, "timestamp"),
        ({"sku": 12}, "sku"),
    ],
)
def test_untrusted_cells_are_refused_with_their_column(
    change: dict[str, object], column: str
) -> None:
    with pytest.raises(MalformedDataError, match=column):
        response_records(decode_response(page(row(**change))), SPAN, "acct")


def test_non_integer_or_non_token_usage_sets_no_counter() -> None:
    records = response_records(
        decode_response(page(row(usage_amount="12.5"), row(sku_id="Y", usage_unit="seconds"))),
        SPAN,
        "acct",
    )
    assert all(r.input_tokens == 0 for r in records)


@pytest.mark.parametrize(
    ("description", "model", "field"),
    [
        ("Gemini 2.5 Pro Input Text Tokens (<= 200K)", "gemini-2.5-pro", "uncached_input_tokens"),
        (
            "Generate content input token count Gemini 2.0 Flash short input text",
            "gemini-2.0-flash",
            "uncached_input_tokens",
        ),
        ("Gemini 1.5 Flash Text Output - Predictions", "gemini-1.5-flash", "output_tokens"),
        ("Gemini 2.5 Flash Thinking Output Text Tokens", "gemini-2.5-flash", "output_tokens"),
        (
            "Gemini 2.0 Flash-Lite Cached Input Text Tokens",
            "gemini-2.0-flash-lite",
            "cached_input_tokens",
        ),
        (
            "Gemini 2.5 Flash Lite Input audio tokens",
            "gemini-2.5-flash-lite",
            "uncached_audio_input_tokens",
        ),
        ("Gemini 2.5 Flash Image Output Tokens", "gemini-2.5-flash", "image_output_tokens"),
        ("Gemini 2.5 Pro Context Cache Storage", "gemini-2.5-pro", None),
        ("Online Prediction n1-standard-4 Running in Americas", "", None),
        ("Grounding with Google Search requests", "", None),
    ],
)
def test_sku_table(description: str, model: str, field: str | None) -> None:
    sku = parse_sku(description)
    assert (sku.model, token_field(sku)) == (model, field)
