"""Calendar budget periods (day, week, month) in the pipeline's timezone.

A period is a half-open range ``[start, end)`` of UTC instants whose bounds are
*local* midnights. Local midnight is turned into UTC with :mod:`zoneinfo`, so a
period follows the zone's rules: a day on which clocks change is 23 or 25 hours
long, and a month in ``Europe/Paris`` starts at 22:00 or 23:00 UTC of the day
before. Where a zone skips midnight (a DST jump at 00:00), the period starts at
the first instant that exists on that day; where midnight occurs twice it starts
at the first of the two. Both follow from ``fold=0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from costpipe.records import utc

__all__ = ["WEEKDAYS", "Period", "PeriodKind", "local_midnight", "period_at"]

PeriodKind = Literal["day", "week", "month"]

WEEKDAYS: dict[str, int] = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}


@dataclass(frozen=True, slots=True)
class Period:
    """One calendar period: local dates ``[first_day, end_day)``, UTC ``[start, end)``."""

    kind: PeriodKind
    first_day: date
    end_day: date
    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        """Stable identity, e.g. ``month:2026-11-01``; part of alert state and ids."""
        return f"{self.kind}:{self.first_day.isoformat()}"

    @property
    def label(self) -> str:
        """Human wording: ``2026-11-27``, ``week of 2026-11-23``, ``November 2026``."""
        if self.kind == "day":
            return self.first_day.isoformat()
        if self.kind == "week":
            return f"week of {self.first_day.isoformat()}"
        return self.first_day.strftime("%B %Y")

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def elapsed_fraction(self, now: datetime) -> Decimal:
        """Share of the period that lies before *now*, clamped to ``[0, 1]``."""
        total = _micros(self.duration)
        elapsed = _micros(min(max(utc(now), self.start), self.end) - self.start)
        return Decimal(elapsed) / Decimal(total)


def _micros(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC instant at which *day* begins in *zone*: every period boundary of
    the alerts and of the dashboard's date ranges comes from here."""
    # fold=0 (the default) picks the earlier offset: for a skipped midnight that
    # is the instant of the jump, for a repeated one the first occurrence.
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def period_at(
    kind: PeriodKind, now: datetime, timezone: str = "UTC", week_start: str = "monday"
) -> Period:
    """The period of *kind* that contains *now* (aware) in *timezone*."""
    zone = ZoneInfo(timezone)
    today = utc(now).astimezone(zone).date()
    if kind == "day":
        first, end = today, today + timedelta(days=1)
    elif kind == "week":
        offset = (today.weekday() - WEEKDAYS[week_start]) % 7
        first = today - timedelta(days=offset)
        end = first + timedelta(days=7)
    elif kind == "month":
        first = today.replace(day=1)
        end = _next_month(first)
    else:
        raise ValueError(f"unknown period {kind!r}")
    return Period(kind, first, end, local_midnight(first, zone), local_midnight(end, zone))
