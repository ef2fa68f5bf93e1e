"""Calendar arithmetic of the dashboard: the date-range presets.

Budget periods, and the local midnight every boundary is built on, come from
:mod:`costpipe.alerts.periods`, so that a budget card and the alert about it
always talk about the same period and the same instants.

Every boundary is a local midnight in the configured IANA zone, converted to
aware UTC, so a day is 23 or 25 hours long across a DST change and "last
month" means the calendar month on the wall clock of the finance team. No IO.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from costpipe.alerts.periods import local_midnight
from costpipe.records import utc

__all__ = ["DateRange", "Preset", "preset_range"]


class Preset(StrEnum):
    """The date ranges offered by the dashboard, in display order."""

    TODAY = "today"
    LAST_7_DAYS = "last_7_days"
    LAST_30_DAYS = "last_30_days"
    LAST_90_DAYS = "last_90_days"
    MONTH_TO_DATE = "month_to_date"
    LAST_MONTH = "last_month"

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Preset.TODAY: "Today",
    Preset.LAST_7_DAYS: "Last 7 days",
    Preset.LAST_30_DAYS: "Last 30 days",
    Preset.LAST_90_DAYS: "Last 90 days",
    Preset.MONTH_TO_DATE: "Month to date",
    Preset.LAST_MONTH: "Last month",
}


@dataclass(frozen=True, slots=True)
class DateRange:
    """A half-open UTC range ``[start, end)`` and the range it is compared with.

    ``previous_*`` is the same stretch of wall-clock time one period earlier
    (yesterday up to the same hour, the previous 7 days, the previous month up
    to the same day), so the change figure compares like with like.
    """

    start: datetime
    end: datetime
    previous_start: datetime
    previous_end: datetime


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def _shift_months(moment: datetime, months: int, zone: ZoneInfo) -> datetime:
    """*moment* moved by whole calendar months on the local clock, clamped to
    the end of a shorter target month."""
    local = moment.astimezone(zone)
    first = _add_months(local.date().replace(day=1), months)
    following = _add_months(first, 1)
    last_day = (following - timedelta(days=1)).day
    moved = datetime.combine(first.replace(day=min(local.day, last_day)), local.time(), zone)
    return moved.astimezone(UTC)


def _shift_days(moment: datetime, days: int, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone).replace(tzinfo=None) - timedelta(days=days)
    return local.replace(tzinfo=zone).astimezone(UTC)


def preset_range(preset: Preset, now: datetime, timezone: str) -> DateRange:
    """The range a preset means at *now* in *timezone*.

    Ranges that include today end at *now* (there is no data from the future,
    and the previous range must be cut at the same wall-clock time).
    """
    now = utc(now)
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    if preset is Preset.TODAY:
        start = local_midnight(today, zone)
        return DateRange(start, now, _shift_days(start, 1, zone), _shift_days(now, 1, zone))
    rolling = {Preset.LAST_7_DAYS: 7, Preset.LAST_30_DAYS: 30, Preset.LAST_90_DAYS: 90}
    if preset in rolling:
        days = rolling[preset]
        start = local_midnight(today - timedelta(days=days - 1), zone)
        return DateRange(start, now, _shift_days(start, days, zone), _shift_days(now, days, zone))
    month_start = local_midnight(today.replace(day=1), zone)
    if preset is Preset.MONTH_TO_DATE:
        return DateRange(
            month_start, now, _shift_months(month_start, -1, zone), _shift_months(now, -1, zone)
        )
    last_start = local_midnight(_add_months(today.replace(day=1), -1), zone)
    before_start = local_midnight(_add_months(today.replace(day=1), -2), zone)
    return DateRange(last_start, month_start, before_start, last_start)
