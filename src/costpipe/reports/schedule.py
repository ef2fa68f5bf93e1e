"""When a digest is due and which period it covers, in the report's local time. No IO.

A weekly report set to ``weekday = "monday"``, ``hour = 8`` is due from 08:00
local time every Monday and covers the 7 local days before that Monday
(``[previous Monday 00:00, Monday 00:00)``), whatever weekday it is sent on. A
monthly report set to ``day = 3`` is due from 08:00 on the 3rd and covers the
previous calendar month. Bounds are local midnights turned into UTC with
:func:`costpipe.alerts.periods.local_midnight`, so a week over a DST change
is 167 or 169 hours long, like the dashboard's and the budgets' weeks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from costpipe.alerts.periods import WEEKDAYS, local_midnight
from costpipe.config.operations import ReportConfig
from costpipe.records import utc

__all__ = ["ReportPeriod", "latest_due"]


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    """The period a digest covers and the one before it, as UTC ranges."""

    kind: str
    first_day: date
    end_day: date
    start: datetime
    end: datetime
    previous_start: datetime
    due_at: datetime
    """The scheduled moment (UTC) from which this digest is sent."""

    @property
    def key(self) -> str:
        """Identity of the digest: part of its notification id and state."""
        return f"{self.kind}:{self.first_day.isoformat()}"

    @property
    def label(self) -> str:
        if self.kind == "month":
            return self.first_day.strftime("%B %Y")
        last = self.end_day - timedelta(days=1)
        return f"{self.first_day.isoformat()} to {last.isoformat()}"


def _previous_month(day: date) -> date:
    return date(day.year - (day.month == 1), 12 if day.month == 1 else day.month - 1, 1)


def latest_due(report: ReportConfig, now: datetime, timezone: str) -> ReportPeriod:
    """The digest whose scheduled moment is the latest one at or before *now*."""
    zone = ZoneInfo(report.timezone or timezone)
    local = utc(now).astimezone(zone)

    def moment(day: date) -> datetime:
        return datetime.combine(day, time(report.hour), tzinfo=zone).astimezone(UTC)

    if report.every == "week":
        day = local.date() - timedelta(days=(local.weekday() - WEEKDAYS[report.weekday]) % 7)
        if moment(day) > utc(now):
            day -= timedelta(days=7)
        first, end, before = day - timedelta(days=7), day, day - timedelta(days=14)
    else:
        day = local.date().replace(day=report.day)
        if moment(day) > utc(now):
            day = _previous_month(day).replace(day=report.day)
        end = day.replace(day=1)
        first = _previous_month(end)
        before = _previous_month(first)
    return ReportPeriod(
        report.every,
        first,
        end,
        local_midnight(first, zone),
        local_midnight(end, zone),
        local_midnight(before, zone),
        moment(day),
    )
