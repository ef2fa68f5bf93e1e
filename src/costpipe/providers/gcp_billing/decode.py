"""BigQuery result rows -> hourly billed records (pure, no IO).

Each row of the query in :mod:`.plan` is one (hour, project, SKU, labels,
kind) sum:

* ``kind == "COST"``: the gross cost, one billed record whose ``line_item`` is
  ``<service>: <SKU description>``, ``model`` and token counter read by
  :mod:`.skus` (a SKU it cannot read keeps its money, with no model);
* any other kind is a credit type (``FREE_TIER``, ``PROMOTION``,
  ``COMMITTED_USAGE_DISCOUNT``, ...): its own billed record, negative, with
  ``line_item`` ``<service>: <SKU> [credit <TYPE>]``, so the net cost is the
  sum and the credits stay visible apart.

Cell readings (the REST format, every reading accepted): a TIMESTAMP is float
seconds as text (``"1.7645472E9"``, ``"1764547200.0"``) or, with
``formatOptions.useInt64Timestamp``, integer microseconds (``"1764547200000000"``);
a NUMERIC is decimal text; a REPEATED RECORD is ``[{"v": {"f": [...]}}]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from costpipe.errors import MalformedDataError
from costpipe.providers.gcp_billing.schema import Field, QueryResponse
from costpipe.providers.gcp_billing.skus import parse_sku, token_field
from costpipe.providers.planning import merge_duplicates
from costpipe.providers.typed_json import MAX_AMOUNT
from costpipe.records import CostRecord, CostSource, Window

__all__ = ["HOUR", "MAX_TEXT", "parse_timestamp", "response_records"]

HOUR = timedelta(hours=1)
MAX_TEXT = 512
MAX_TAGS = 20
_MAX_TOKENS = 10**15
#: Microsecond timestamps are > 1e11 for any date after 1973; second ones < 1e11
#: until the year 5138: an integer is read by its size.
_MICROS_FROM = Decimal(10) ** 11
_TOKEN_UNITS = {"count", "token", "tokens", "1 token"}
_COLUMNS = ("hour", "service", "project", "sku", "kind", "amount")


def parse_timestamp(value: object) -> datetime:
    """A TIMESTAMP cell in any of the REST readings, as aware UTC."""
    if not isinstance(value, str | int | Decimal) or isinstance(value, bool):
        raise ValueError(f"timestamp {str(value)[:40]!r} is not text")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise ValueError(f"timestamp {str(value)[:40]!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"timestamp {str(value)[:40]!r} is not finite")
    micros = number if abs(number) >= _MICROS_FROM else number * 1_000_000
    micros = micros.to_integral_value()
    if abs(micros) > 10**17:
        raise ValueError(f"timestamp {str(value)[:40]!r} out of range")
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros))


def _text(value: object, column: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedDataError(f"column {column}: {str(value)[:40]!r} is not text")
    return value[:MAX_TEXT]


def _number(value: object, column: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise MalformedDataError(f"column {column}: {str(value)[:40]!r} is not a number")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise MalformedDataError(f"column {column}: {str(value)[:40]!r} is not a number") from None
    if not amount.is_finite() or abs(amount) > MAX_AMOUNT:
        raise MalformedDataError(f"column {column}: amount {str(value)[:40]!r} out of range")
    return amount


def _labels(value: object, field: Field) -> tuple[tuple[str, str], ...]:
    """A REPEATED RECORD<key, value> cell as sorted (key, value) pairs."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise MalformedDataError("column labels: not a list of at most 20 labels")
    names = [sub.name for sub in field.fields]
    pairs: set[tuple[str, str]] = set()
    for item in value:
        record = item.get("v") if isinstance(item, dict) else None
        cells = record.get("f") if isinstance(record, dict) else None
        if not isinstance(cells, list) or len(cells) != len(names):
            raise MalformedDataError("column labels: an item is not a {key, value} record")
        values = {
            n: (c.get("v") if isinstance(c, dict) else None)
            for n, c in zip(names, cells, strict=True)
        }
        key, text = (
            _text(values.get("key"), "labels.key"),
            _text(values.get("value"), "labels.value"),
        )
        if key:
            pairs.add((key[:64], text[:256]))
    return tuple(sorted(pairs))


def _tokens(sku_text: str, unit: str, amount: Decimal | None) -> dict[str, int]:
    field = token_field(parse_sku(sku_text))
    if field is None or amount is None or unit.strip().lower() not in _TOKEN_UNITS:
        return {}
    if amount != amount.to_integral_value() or not 0 <= amount <= _MAX_TOKENS:
        return {}
    return {field: int(amount)}


def response_records(page: QueryResponse, span: Window, account: str) -> list[CostRecord]:
    """The billed records of one result page's rows whose hour lies in *span*."""
    fields = page.schema.fields if page.schema else []
    at = {f.name.lower(): i for i, f in enumerate(fields)}
    missing = [name for name in _COLUMNS if name not in at]
    if page.rows and missing:
        raise MalformedDataError(f"result has no column {missing[0]!r} (has {list(at)[:20]})")
    records: list[CostRecord] = []
    for number, row in enumerate(page.rows):
        cells: Sequence[Any] = [c.v for c in row.f]
        if len(cells) != len(fields):
            raise MalformedDataError(
                f"row {number} has {len(cells)} cells for {len(fields)} fields"
            )

        def cell(name: str, cells: Sequence[Any] = cells) -> Any:
            return cells[at[name]] if name in at else None

        try:
            start = parse_timestamp(cell("hour"))
        except ValueError as exc:
            raise MalformedDataError(f"row {number}: {exc}") from None
        if start not in span:
            continue
        currency = _text(cell("currency"), "currency")
        if currency.upper() not in ("USD", ""):
            raise MalformedDataError(
                f"row {number}: cost in {currency[:10]!r}, not USD (the export's billing "
                "currency; costpipe stores USD)"
            )
        amount = _number(cell("amount"), "amount") or Decimal(0)
        service = _text(cell("service"), "service")
        sku_text = _text(cell("sku"), "sku")
        kind = _text(cell("kind"), "kind")[:64] or "COST"
        labels = _labels(cell("labels"), fields[at["labels"]]) if "labels" in at else ()
        line_item = f"{service}: {sku_text}"[:MAX_TEXT]
        tokens: dict[str, int] = {}
        if kind == "COST":
            unit = _text(cell("usage_unit"), "usage_unit")
            tokens = _tokens(sku_text, unit, _number(cell("usage_amount"), "usage_amount"))
        else:
            line_item = f"{line_item[: MAX_TEXT - 80]} [credit {kind}]"
        record = CostRecord(
            start=start,
            width=HOUR,
            provider="gcp_billing",
            account=account,
            cost_source=CostSource.BILLED,
            cost_usd=amount,
            model=parse_sku(sku_text).model,
            project_id=_text(cell("project"), "project"),
            line_item=line_item,
            tags=labels,
        )
        # The SKU's one token counter, set by name (the field is chosen by the table).
        records.append(record.replace(**tokens) if tokens else record)
    return merge_duplicates(records)
