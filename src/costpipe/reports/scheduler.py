"""Sends each report's digest once per period, through the alert outbox.

After each pass the daemon asks :meth:`ReportScheduler.enqueue_due`. For each
``[[reports]]`` table the latest scheduled moment at or before now names a
period (:func:`~costpipe.reports.schedule.latest_due`); if that period's digest
was not stored yet, its figures are read through the query layer and the
digest is committed to the outbox together with the report's ``last_period``,
in one transaction of the alert database. A restart therefore never sends a
period twice, and a daemon that was down at the scheduled moment sends the
latest digest when it comes back (only the latest: never a backlog). A report
is first seen when the daemon first runs with it: periods due before that are
not sent, so adding a report does not send last week's digest at once.

The digest's anomalies are the anomaly notifications the outbox stored during
the period (``kind`` ``anomaly``, or ``labels["kind"] == "anomaly"``): the
report needs no knowledge of how anomalies are detected.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from costpipe.alerts.outbox import Outbox, notification_from_json
from costpipe.alerts.state import AlertState
from costpipe.components import Notifier
from costpipe.config.operations import ReportConfig
from costpipe.config.settings import Settings
from costpipe.episodes import FailureLog, reminder_interval
from costpipe.notification import Notification
from costpipe.query.api import CostReader
from costpipe.records import utc
from costpipe.reports.digest import build_digest, digest_notification
from costpipe.reports.schedule import ReportPeriod, latest_due

__all__ = ["ReportScheduler", "anomalies_between"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS report_schedule (
    report TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL,
    last_period TEXT
);
"""


def anomalies_between(state: AlertState, start: datetime, end: datetime) -> list[Notification]:
    """Anomaly notifications (not their resolutions) stored in ``[start, end)``,
    once each, oldest first."""
    found: dict[str, Notification] = {}
    rows = state.db.execute(
        "SELECT payload FROM outbox WHERE created_at >= ? AND created_at < ? ORDER BY seq",
        (utc(start).isoformat(), utc(end).isoformat()),
    )
    for (payload,) in rows:
        notification = notification_from_json(payload)
        kinds = (notification.kind.value, notification.labels.get("kind"))
        if "anomaly" in kinds and not notification.kind.value.endswith("resolved"):
            found.setdefault(notification.id, notification)
    return list(found.values())


class ReportScheduler:
    """The digests of one configuration. Calls must not overlap (one per pass)."""

    def __init__(
        self,
        settings: Settings,
        reader: CostReader | None,
        notifiers: Mapping[str, Notifier[Any]],
        state: AlertState,
        outbox: Outbox,
        log: Any,
    ) -> None:
        self.settings = settings
        self.reader = reader
        self.notifiers = notifiers
        self.state = state
        self.outbox = outbox
        self.log = log
        self.timezone = settings.pipeline.timezone
        # A store that is down fails every report on every pass: log once per episode.
        self._failures = FailureLog(log, reminder_interval(settings.alerts.stale_after))
        state.db.executescript(_SCHEMA)

    async def enqueue_due(self, now: datetime) -> None:
        """Store every due digest; a failing report is logged and retried next pass."""
        now = utc(now)
        for report in self.settings.reports:
            try:
                await self._report(report, now)
            except Exception as exc:
                self._failures.failed(report.name, "report_failed", now, exc, report=report.name)
            else:
                self._failures.succeeded(report.name, "report_recovered", report=report.name)

    def _first_seen(self, report: str, now: datetime) -> tuple[datetime, str | None]:
        row = self.state.db.execute(
            "SELECT first_seen, last_period FROM report_schedule WHERE report = ?", (report,)
        ).fetchone()
        if row is None:
            self.state.db.execute(
                "INSERT INTO report_schedule (report, first_seen) VALUES (?, ?)",
                (report, now.isoformat()),
            )
            return now, None
        return datetime.fromisoformat(row[0]), row[1]

    async def _report(self, report: ReportConfig, now: datetime) -> None:
        period = latest_due(report, now, self.timezone)
        first_seen, last_period = self._first_seen(report.name, now)
        if period.due_at < first_seen or last_period == period.key:
            return
        if self.reader is None:
            raise RuntimeError("no readable sink is configured")
        notification = await self._digest(report, period, now)
        targets = self._targets(report.notify)
        with self.state.transaction():
            self.outbox.enqueue(notification, targets, now)
            self.state.db.execute(
                "UPDATE report_schedule SET last_period = ? WHERE report = ?",
                (period.key, report.name),
            )
        self.log.info(
            "report_due", report=report.name, period=period.key, notification=notification.id
        )

    async def _digest(
        self, report: ReportConfig, period: ReportPeriod, now: datetime
    ) -> Notification:
        assert self.reader is not None
        digest = await build_digest(
            self.reader,
            report,
            period,
            self.settings.budgets,
            self.timezone,
            now,
            anomalies_between(self.state, period.start, period.end),
        )
        return digest_notification(
            report, period, digest, self.timezone, now, self.settings.dashboard.url
        )

    def _targets(self, names: list[str]) -> list[str]:
        targets: list[str] = []
        for name in names:
            notifier = self.notifiers.get(name)
            if notifier is None:
                self.log.error("notifier_unknown", notifier=name, report=True)
            elif notifier.instance not in targets:
                targets.append(notifier.instance)
        return targets
