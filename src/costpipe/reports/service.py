"""The alert engine with the digests: what the daemon's pass runner evaluates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from costpipe.alerts.engine import AlertEngine
from costpipe.reports.scheduler import ReportScheduler

__all__ = ["AlertsWithReports"]


class AlertsWithReports:
    """After each evaluation of the alerts, the due digests go to the same outbox.

    A failing report never stops the alerts: :meth:`ReportScheduler.enqueue_due`
    logs it and tries again after the next pass.
    """

    def __init__(self, engine: AlertEngine, reports: ReportScheduler) -> None:
        self.engine = engine
        self.reports = reports

    async def enqueue_due(self, now: datetime, last_success: Mapping[str, datetime | None]) -> None:
        await self.engine.enqueue_due(now, last_success)
        await self.reports.enqueue_due(now)

    async def deliver_pending(self) -> None:
        await self.engine.deliver_pending()

    def stats(self) -> dict[str, int]:
        return self.engine.stats()

    def undelivered(self) -> dict[str, tuple[int, str]]:
        return self.engine.undelivered()

    def close(self) -> None:
        self.engine.close()
