"""Parsed AWS answers to records (pure): Cost Explorer groups as billed line
items, CloudWatch token sums as estimated usage. A value that does not fit its
documented shape raises :class:`~costpipe.errors.MalformedDataError` naming it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from costpipe.errors import MalformedDataError
from costpipe.pricing.costs import TokenUsage
from costpipe.providers.bedrock.schema import CostAndUsagePage, MetricDataResult
from costpipe.providers.bedrock.usage_types import BEDROCK_SERVICE, classify
from costpipe.providers.planning import UsagePricer
from costpipe.records import CostRecord, CostSource, PriceSource, Window

__all__ = ["METRIC_FIELDS", "UsageKey", "billed_records", "usage_records"]

PROVIDER = "bedrock"
#: ``AWS/Bedrock`` metrics (Sum per hour) to the disjoint counters they fill.
#: Bedrock reports cache reads and writes apart from ``InputTokenCount``.
METRIC_FIELDS: dict[str, str] = {
    "InputTokenCount": "uncached_input_tokens",
    "CacheReadInputTokenCount": "cached_input_tokens",
    "CacheWriteInputTokenCount": "cache_write_tokens",
    "OutputTokenCount": "output_tokens",
    "Invocations": "requests",
}
_MAX_AMOUNT = Decimal(10) ** 12  # no single line item costs a trillion dollars
_MAX_COUNT = 10**15
_HOUR = timedelta(hours=1)

#: (hour start, ModelId) of one usage row.
UsageKey = tuple[datetime, str]


def _period_start(text: str) -> datetime:
    """``YYYY-MM-DD`` (DAILY) or an ISO instant (HOURLY), as aware UTC."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedDataError(f"TimePeriod {text[:40]!r} is not a date") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _amount(text: str, where: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise MalformedDataError(f"{where}: amount {text[:40]!r} is not a number") from None
    if not value.is_finite() or abs(value) >= _MAX_AMOUNT:
        raise MalformedDataError(f"{where}: amount {text[:40]!r} out of range")
    return value


def billed_records(
    raw: Mapping[str, Any],
    *,
    service: str,
    metric: str,
    account: str,
    span: Window,
    tag: str | None,
) -> list[CostRecord]:
    """The billed line items of one ``GetCostAndUsage`` page of *service*,
    grouped by ``USAGE_TYPE`` then ``LINKED_ACCOUNT`` (or the *tag*)."""
    try:
        page = msgspec.convert(raw, CostAndUsagePage, from_attributes=False)
    except msgspec.ValidationError as error:
        raise MalformedDataError(f"GetCostAndUsage: {error}") from None
    records: list[CostRecord] = []
    for index, result in enumerate(page.results_by_time):
        start = _period_start(result.time_period.start)
        width = _period_start(result.time_period.end) - start
        if width not in (_HOUR, timedelta(days=1)):
            raise MalformedDataError(f"ResultsByTime[{index}]: a period of {width}")
        if not span.start < start + width <= span.end:
            continue  # outside the requested buckets: not this window's
        for number, group in enumerate(result.groups):
            where = f"ResultsByTime[{index}].Groups[{number}]"
            if len(group.keys) != 2:
                raise MalformedDataError(f"{where}: {len(group.keys)} keys, expected 2")
            usage_type, owner = group.keys
            if tag is not None:  # tag groups read "key$value", "key$" when untagged
                owner = owner.partition("$")[2]
            value = group.metrics.get(metric)
            if value is None:
                raise MalformedDataError(f"{where}: no {metric}")
            if value.unit not in ("USD", ""):
                raise MalformedDataError(f"{where}: unit {value.unit[:20]!r} is not USD")
            usage = classify(usage_type, service)
            item = usage_type if service == BEDROCK_SERVICE else f"{service}: {usage_type}"
            records.append(
                CostRecord(
                    start=start,
                    width=width,
                    provider=PROVIDER,
                    account=account,
                    cost_source=CostSource.BILLED,
                    cost_usd=_amount(value.amount, where),
                    model=usage.model,
                    project_id=owner,
                    line_item=item,
                )
            )
    return records


def _count(value: float, where: str) -> int:
    if not 0 <= value < _MAX_COUNT or value != int(value):
        raise MalformedDataError(f"{where}: {value!r} is not a count")
    return int(value)


def add_metric_data(
    totals: dict[UsageKey, dict[str, int]],
    results: Sequence[MetricDataResult],
    queries: Mapping[str, tuple[str, str]],
    span: Window,
) -> None:
    """Add one ``GetMetricData`` page's sums into *totals*; *queries* maps each
    query Id to its (ModelId, metric name)."""
    for result in results:
        if result.id not in queries:
            raise MalformedDataError(f"MetricDataResults: unknown Id {result.id[:40]!r}")
        if len(result.timestamps) != len(result.values):
            raise MalformedDataError(f"{result.id}: Timestamps and Values differ in length")
        model, metric = queries[result.id]
        field = METRIC_FIELDS[metric]
        for moment, value in zip(result.timestamps, result.values, strict=True):
            hour = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
            if not span.start <= hour < span.end:
                continue
            counters = totals.setdefault((hour, model), {})
            counters[field] = counters.get(field, 0) + _count(value, result.id)


def usage_records(
    totals: Mapping[UsageKey, Mapping[str, int]], *, account: str, pricer: UsagePricer
) -> list[CostRecord]:
    """One estimated (or unpriced) hourly record per (hour, ModelId)."""
    records: list[CostRecord] = []
    for (hour, model), counters in sorted(totals.items()):
        usage = TokenUsage(
            uncached_input=counters.get("uncached_input_tokens", 0),
            cached_input=counters.get("cached_input_tokens", 0),
            cache_write=counters.get("cache_write_tokens", 0),
            output=counters.get("output_tokens", 0),
        )
        cost, source, price = pricer.price(model, hour, usage)
        records.append(
            CostRecord(
                start=hour,
                width=_HOUR,
                provider=PROVIDER,
                account=account,
                cost_source=source,
                cost_usd=cost,
                model=model,
                line_item="cloudwatch",
                price_source=PriceSource(price),
                uncached_input_tokens=usage.uncached_input,
                cached_input_tokens=usage.cached_input,
                cache_write_tokens=usage.cache_write,
                output_tokens=usage.output,
                requests=counters.get("requests", 0),
            )
        )
    return records
