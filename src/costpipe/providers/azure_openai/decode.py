"""Query API rows -> daily billed records (pure, no IO).

Each row of ``ActualCost`` grouped by ``ResourceId`` and ``MeterName`` per day
becomes one billed record:

* ``start`` the UTC day of ``UsageDate`` (every reading in :mod:`.schema`),
  ``width`` one day;
* ``project_id`` the Azure OpenAI resource, written ``<resource group>/<account>``
  from the ``ResourceId`` (lower case, as Azure compares resource IDs without
  case; the full ID when it has another shape);
* ``line_item`` the meter name exactly as billed, ``model`` what
  :func:`~.meters.parse_meter` reads from it ("" when it names no token
  category: the money is kept all the same);
* ``cost_usd`` the row's cost, exact.

Rows sharing a key are summed (:func:`merge_duplicates`); a row whose day lies
outside the asked span is dropped (the API rounds ranges to days).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from costpipe.errors import MalformedDataError
from costpipe.providers.azure_openai.meters import parse_meter
from costpipe.providers.azure_openai.schema import QueryProperties
from costpipe.providers.planning import merge_duplicates
from costpipe.providers.typed_json import MAX_AMOUNT
from costpipe.records import CostRecord, CostSource, Window

__all__ = ["DAY", "MAX_TEXT", "parse_usage_date", "query_records", "resource_label"]

DAY = timedelta(days=1)
#: Longest provider text kept in a record (meter names, resource IDs are short).
MAX_TEXT = 512
_COST_COLUMNS = ("costusd", "cost", "pretaxcost")


def parse_usage_date(value: object) -> datetime:
    """Midnight UTC of ``UsageDate``: ``20201101``, ``"20201101"`` or ISO text."""
    if isinstance(value, bool):
        raise ValueError(f"UsageDate {value!r} is not a date")
    if isinstance(value, int | Decimal):
        text = str(int(value)) if value == int(value) else ""
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise ValueError(f"UsageDate {value!r} is not a date")
    try:
        if len(text) == 8 and text.isdigit():
            day = date(int(text[:4]), int(text[4:6]), int(text[6:]))
        else:
            moment = datetime.fromisoformat(text[:40])
            if moment.tzinfo is not None:
                moment = moment.astimezone(UTC)
            day = moment.date()
    except ValueError:
        raise ValueError(f"UsageDate {str(value)[:40]!r} is not a date") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def resource_label(resource_id: str) -> str:
    """``<resource group>/<account>`` of an ARM resource ID, lower case."""
    parts = [p for p in resource_id.strip().lower().split("/") if p]
    try:
        group = parts[parts.index("resourcegroups") + 1]
        return f"{group}/{parts[-1]}"
    except (ValueError, IndexError):
        return resource_id.strip().lower()


def _text(value: object, column: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedDataError(f"column {column}: {str(value)[:40]!r} is not text")
    return value[:MAX_TEXT]


def _money(value: object, column: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise MalformedDataError(f"column {column}: {str(value)[:40]!r} is not a number")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise MalformedDataError(f"column {column}: {str(value)[:40]!r} is not a number") from None
    if not amount.is_finite() or abs(amount) > MAX_AMOUNT:
        raise MalformedDataError(f"column {column}: amount {str(value)[:40]!r} out of range")
    return amount


def _index(names: Sequence[str], *wanted: str) -> int | None:
    for name in wanted:
        if name in names:
            return names.index(name)
    return None


def query_records(page: QueryProperties, span: Window, account: str) -> list[CostRecord]:
    """The billed records of one page's rows whose day lies in *span*."""
    names = [c.name.lower() for c in page.columns]
    cost_at = _index(names, *_COST_COLUMNS)
    date_at = _index(names, "usagedate", "date")
    resource_at = _index(names, "resourceid")
    meter_at = _index(names, "metername", "meter")
    currency_at = _index(names, "currency", "billingcurrency")
    if cost_at is None or date_at is None:
        raise MalformedDataError(f"no cost or UsageDate column among {names[:20]}")
    usd_column = names[cost_at] == "costusd"
    records: list[CostRecord] = []
    for number, row in enumerate(page.rows):
        if len(row) != len(names):
            raise MalformedDataError(f"row {number} has {len(row)} cells for {len(names)} columns")
        currency = _text(row[currency_at], "Currency") if currency_at is not None else "USD"
        if not usd_column and currency.upper() not in ("USD", ""):
            raise MalformedDataError(
                f"row {number}: cost in {currency[:10]!r}, not USD, and no CostUSD column"
            )
        try:
            start = parse_usage_date(row[date_at])
        except ValueError as exc:
            raise MalformedDataError(f"row {number}: {exc}") from None
        if start not in span:
            continue
        meter = _text(row[meter_at], "MeterName") if meter_at is not None else ""
        resource = _text(row[resource_at], "ResourceId") if resource_at is not None else ""
        records.append(
            CostRecord(
                start=start,
                width=DAY,
                provider="azure_openai",
                account=account,
                cost_source=CostSource.BILLED,
                cost_usd=_money(row[cost_at], names[cost_at]),
                model=parse_meter(meter).model,
                project_id=resource_label(resource),
                line_item=meter,
            )
        )
    return merge_duplicates(records)


def rows_of(pages: Iterable[QueryProperties]) -> list[list[Any]]:
    """Every row of *pages* (tests and the fake's truth)."""
    return [row for page in pages for row in page.rows]
