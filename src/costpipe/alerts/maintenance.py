"""``[[maintenance]]`` windows: when each one is open. No IO.

A one-off window is open in ``[start, end)``; a start or end written without
an offset is read in the window's ``timezone``. A recurring window opens every
day, or on its ``weekdays``, at the local time ``at`` and stays open for
``duration`` (real time: a window over a DST change lasts as long as written).
A local opening time that a DST jump skips opens at the first instant after
the jump, and one that occurs twice opens at the first (``fold=0``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from costpipe.alerts.matchers import Matcher, matches_all, parse_matcher
from costpipe.alerts.periods import WEEKDAYS
from costpipe.config.operations import MaintenanceConfig
from costpipe.records import utc

__all__ = ["MaintenanceWindow", "open_window"]


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A validated ``[[maintenance]]`` table with its matchers parsed."""

    config: MaintenanceConfig
    matchers: tuple[Matcher, ...]

    @classmethod
    def from_config(cls, config: MaintenanceConfig) -> MaintenanceWindow:
        return cls(config, tuple(parse_matcher(m) for m in config.matchers))

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def drops(self) -> bool:
        return self.config.on_end == "drop"

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone or "UTC")

    def _aware(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            return moment.replace(tzinfo=self._zone()).astimezone(UTC)
        return moment.astimezone(UTC)

    def open_until(self, now: datetime) -> datetime | None:
        """The end of the opening that contains *now*, None when closed."""
        now = utc(now)
        c = self.config
        if c.start is not None and c.end is not None:
            start, end = self._aware(c.start), self._aware(c.end)
            return end if start <= now < end else None
        assert c.duration is not None
        zone = self._zone()
        hour, minute = (int(part) for part in c.at.split(":"))
        today = now.astimezone(zone).date()
        days = {WEEKDAYS[d] for d in c.weekdays}
        # Openings that began up to `duration` ago (plus a day for the zone) may still run.
        for back in range(c.duration.days + 2):
            day = today - timedelta(days=back)
            if c.every == "week" and day.weekday() not in days:
                continue
            start = datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)
            if start <= now < start + c.duration:
                return start + c.duration
        return None

    def applies_to(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels)


def open_window(
    windows: Sequence[MaintenanceWindow], labels: Mapping[str, str], now: datetime
) -> MaintenanceWindow | None:
    """The first window that is open at *now* and applies to *labels*."""
    return next(
        (w for w in windows if w.applies_to(labels) and w.open_until(now) is not None), None
    )
