"""Buckets to judge, and the spend of each group in them.

A rule asks the store, per pass, for its spend per group in every judged bucket
and every baseline bucket: one batch of :class:`~costpipe.query.api.SpendRequest`
(about 30 ranges), which a grouped store answers with one small statement per
range (:func:`costpipe.query.grouped.spend`). An hourly series over the whole
baseline gives the same figures (:class:`HourlyHistory`, what the benchmark reads
over 60 days at once) but costs a store ten to forty times more per pass.

Judged buckets, in ``pipeline.timezone``:

* ``day``: yesterday (complete) and today so far. Today counts the hours up to
  and including the current one, and each baseline day counts the same hours of
  its own day, so a morning is compared with mornings, not with whole days.
  (The current hour is partial today and complete in the baseline: a growing
  day errs on the quiet side.)
* ``hour``: the last complete hour and the current one; the baseline is the same
  hour of day on each of the previous days.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

from costpipe.query.api import CostQuery, CostReader, SeriesPoint, SpendRequest
from costpipe.query.grouped import spend

__all__ = [
    "Bucket",
    "BucketSpend",
    "History",
    "HourlyHistory",
    "bucket_range",
    "judged_buckets",
    "read_buckets",
]

_HOURS = 24


@dataclass(frozen=True, slots=True)
class Bucket:
    """One judged bucket: a local day (up to ``hours``) or one local hour."""

    granularity: str
    day: date
    hour: int | None
    """The hour of day of an hourly bucket; ``None`` for a day."""
    hours: int
    """A daily bucket counts the hours of day below this (24 for a whole day)."""
    complete: bool

    @property
    def key(self) -> str:
        """Stable name of the bucket: part of the alert's identity."""
        if self.hour is None:
            return f"day:{self.day.isoformat()}"
        return f"hour:{self.day.isoformat()}T{self.hour:02d}"

    @property
    def label(self) -> str:
        """How people read it: ``2026-12-01``, ``2026-12-01 until 14:00``, ``2026-12-01 14:00``."""
        if self.hour is not None:
            return f"{self.day.isoformat()} {self.hour:02d}:00"
        if self.complete:
            return self.day.isoformat()
        return f"{self.day.isoformat()} until {self.hours:02d}:00"

    def baseline(self, days: int) -> list[Bucket]:
        """The same measure on each of the *days* previous days, newest first."""
        return [
            Bucket(self.granularity, self.day - timedelta(days=n), self.hour, self.hours, True)
            for n in range(1, days + 1)
        ]


def judged_buckets(now: datetime, granularity: str, timezone: str) -> list[Bucket]:
    """The latest complete bucket and the current one (see module docs)."""
    local = now.astimezone(ZoneInfo(timezone))
    today = local.date()
    if granularity == "day":
        return [
            Bucket("day", today - timedelta(days=1), None, _HOURS, True),
            Bucket("day", today, None, local.hour + 1, False),
        ]
    previous = local - timedelta(hours=1)
    return [
        Bucket("hour", previous.date(), previous.hour, 1, True),
        Bucket("hour", today, local.hour, 1, False),
    ]


def bucket_range(bucket: Bucket, timezone: str) -> tuple[datetime, datetime]:
    """``[start, end)`` of *bucket* in UTC (a day's are local midnights, DST-safe)."""
    zone = ZoneInfo(timezone)
    if bucket.hour is not None:
        start = datetime.combine(bucket.day, time(bucket.hour), zone).astimezone(UTC)
        return start, start + timedelta(hours=1)
    start = datetime.combine(bucket.day, time(0), zone)
    if bucket.hours >= _HOURS:
        end = datetime.combine(bucket.day + timedelta(days=1), time(0), zone)
    else:
        end = datetime.combine(bucket.day, time(bucket.hours), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


class History(Protocol):
    """Spend per group in buckets: what detection reads."""

    @property
    def groups(self) -> list[str]: ...

    def value(self, group: str | None, bucket: Bucket) -> Decimal: ...

    def weekday_totals(self, buckets: Iterable[Bucket]) -> dict[int, list[Decimal]]: ...


class _Totals:
    def weekday_totals(self, buckets: Iterable[Bucket]) -> dict[int, list[Decimal]]:
        """The rule's total in each of *buckets*, by the bucket's weekday."""
        by_weekday: dict[int, list[Decimal]] = {}
        for bucket in buckets:
            by_weekday.setdefault(bucket.day.weekday(), []).append(self.value(None, bucket))
        return by_weekday

    def value(self, group: str | None, bucket: Bucket) -> Decimal:
        raise NotImplementedError


class BucketSpend(_Totals):
    """Spend per group in each bucket asked for (a bucket not asked for is 0)."""

    def __init__(self, answers: Mapping[Bucket, Mapping[str, Decimal]]) -> None:
        self._answers = answers
        self._groups = sorted({g for answer in answers.values() for g in answer})

    @property
    def groups(self) -> list[str]:
        return self._groups

    def value(self, group: str | None, bucket: Bucket) -> Decimal:
        answer = self._answers.get(bucket, {})
        if group is None:
            return sum(answer.values(), Decimal(0))
        return answer.get(group, Decimal(0))


async def read_buckets(
    reader: CostReader,
    query_for: Callable[[datetime, datetime], CostQuery],
    buckets: Sequence[Bucket],
    timezone: str,
    by: str | None,
) -> BucketSpend:
    """Spend per value of *by* (one ``""`` group without) in each of *buckets*,
    in one batch of requests; *query_for* gives the rule's query over a range."""
    distinct = list(dict.fromkeys(buckets))
    requests = [SpendRequest(query_for(*bucket_range(b, timezone)), by) for b in distinct]
    answers = await spend(reader, requests)
    return BucketSpend(dict(zip(distinct, answers, strict=True)))


class HourlyHistory(_Totals):
    """Spend per group, local day and hour of day, from an hourly series."""

    def __init__(self, points: Iterable[SeriesPoint]) -> None:
        self._hours: dict[str, dict[date, list[Decimal]]] = {}
        self._totals: dict[date, list[Decimal]] = {}
        for point in points:
            # The series' starts are local already; a DST fall-back repeats an
            # hour of day, whose spend is summed.
            day, hour = point.start.date(), point.start.hour
            groups = self._hours.setdefault(point.group, {})
            groups.setdefault(day, [Decimal(0)] * _HOURS)[hour] += point.cost_usd
            self._totals.setdefault(day, [Decimal(0)] * _HOURS)[hour] += point.cost_usd

    @property
    def groups(self) -> list[str]:
        return sorted(self._hours)

    def value(self, group: str | None, bucket: Bucket) -> Decimal:
        """Spend of *group* (the rule's total for ``None``) in *bucket*."""
        days = self._totals if group is None else self._hours.get(group, {})
        hours = days.get(bucket.day)
        if hours is None:
            return Decimal(0)
        if bucket.hour is not None:
            return hours[bucket.hour]
        return sum(hours[: bucket.hours], Decimal(0))
