"""``[[reports]]``: scheduled spend digests (schedule, figures, delivery once per period)."""

from __future__ import annotations

from costpipe.reports.schedule import ReportPeriod, latest_due
from costpipe.reports.scheduler import ReportScheduler

__all__ = ["ReportPeriod", "ReportScheduler", "latest_due"]
