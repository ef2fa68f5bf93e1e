"""The ``drift`` alert: a closed day's estimate misses its bill.

``[alerts] drift_tolerance`` (percent) turns it on. After each pass, for the
closed UTC days of the lookback window (days before today whose bill is in),
each provider's day is reconciled (:mod:`costpipe.allocation.reconcile`), in
total and per model; a day whose total or any model drifts beyond the tolerance
fires one notification per provider and day, naming the models beyond it
(largest difference first), or the largest differences when only the total is. The notification id
is fixed for (provider, day), and the outbox keeps one row per id and target,
so a day fires once however many passes see it; a revised bill that drifts
again does not fire twice. Stale prices and usage endpoints costpipe does not
read are what this catches.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Protocol

from costpipe.alerts.messages import format_usd, notification_id
from costpipe.alerts.state import AlertState
from costpipe.allocation.reconcile import DriftRow, explaining, reconcile
from costpipe.config.settings import Settings
from costpipe.episodes import FailureLog
from costpipe.notification import Notification, NotificationKind, Table
from costpipe.query.api import CostReader

__all__ = ["DriftAlerts", "drift_notification", "evaluate"]

_DAY = timedelta(days=1)


class _Engine(Protocol):
    """What :func:`evaluate` uses of the :class:`~costpipe.alerts.engine.AlertEngine`."""

    settings: Settings
    reader: CostReader | None
    state: AlertState
    log: Any
    _failures: FailureLog

    def _enqueue(self, notification: Notification, targets: list[str], now: datetime) -> None: ...

    def _targets(self, names: list[str]) -> list[str]: ...


async def evaluate(engine: _Engine, now: datetime) -> None:
    """The drift check of one pass for *engine*; a failure is logged once per
    episode (the engine's failure log), never raised."""
    alerts = DriftAlerts(
        engine.settings, engine.reader, engine.state, engine._enqueue, engine._targets, engine.log
    )
    try:
        await alerts.evaluate(now)
    except Exception as exc:  # a reader bug must not stop the pass
        engine._failures.failed("drift", "drift_check_failed", now, exc)
    else:
        engine._failures.succeeded("drift", "drift_check_recovered")


class DriftAlerts:
    """Evaluated by the alert engine once per pass (never concurrently)."""

    def __init__(
        self,
        settings: Settings,
        reader: CostReader | None,
        state: AlertState,
        enqueue: Callable[[Notification, list[str], datetime], None],
        targets: Callable[[list[str]], list[str]],
        log: Any,
    ) -> None:
        self.settings = settings
        self.reader = reader
        self.state = state
        self._enqueue = enqueue
        self._targets = targets
        self.log = log

    async def evaluate(self, now: datetime) -> None:
        tolerance = self.settings.alerts.drift_tolerance
        if tolerance is None or self.reader is None:
            return
        today = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
        days = max(1, -(-self.settings.pipeline.lookback // _DAY))
        start = today - days * _DAY
        totals = await reconcile(self.reader, start, today)
        by_model = await reconcile(self.reader, start, today, by="model")
        targets = self._targets(self.settings.alerts.drift_notify)
        dashboard = self.settings.dashboard.url
        with self.state.transaction():
            for row in totals:
                models = [r for r in by_model if (r.provider, r.day) == (row.provider, row.day)]
                # A model can miss by far while the day's total stays inside.
                beyond = [m for m in models if m.flagged(tolerance)]
                if not (row.flagged(tolerance) or beyond):
                    continue
                named = explaining(beyond, limit=5) if beyond else explaining(models)
                notification = drift_notification(row, named, tolerance, now, dashboard)
                if self._known(notification.id):
                    continue
                self._enqueue(notification, targets, now)
                self.log.warning(
                    "cost_drift",
                    provider=row.provider,
                    day=row.day.isoformat(),
                    drift_percent=str(row.drift_percent),
                    notification=notification.id,
                )

    def _known(self, notification: str) -> bool:
        found = self.state.db.execute("SELECT 1 FROM outbox WHERE id = ? LIMIT 1", (notification,))
        return found.fetchone() is not None


def drift_notification(
    day_total: DriftRow,
    models: list[DriftRow],
    tolerance: Decimal,
    now: datetime,
    dashboard_url: str | None,
) -> Notification:
    """One provider's closed day whose estimate misses the bill by more than *tolerance* %."""
    provider, day = day_total.provider, day_total.day.isoformat()
    named = ", ".join(
        f"{m.group or '(no model)'} ({format_usd(m.billed)} billed, "
        f"{format_usd(m.estimated)} estimated)"
        for m in models
    )
    summary = (
        f"{provider} billed {format_usd(day_total.billed)} on {day} against "
        f"{format_usd(day_total.estimated)} estimated: {day_total.drift_percent} % of the bill, "
        f"beyond the {tolerance} % tolerance."
    )
    if named:
        summary += f" Largest differences: {named}."
    rows = tuple(
        (
            m.group or "(no model)",
            format_usd(m.billed),
            format_usd(m.estimated),
            str(m.drift_percent),
        )
        for m in models
    )
    return Notification(
        id=notification_id(NotificationKind.DRIFT, provider, day),
        kind=NotificationKind.DRIFT,
        title=f"{provider}: estimate off the bill by {day_total.drift_percent} % on {day}",
        summary=summary,
        created_at=now,
        group=provider,
        period=day,
        spend_usd=day_total.billed,
        dashboard_url=dashboard_url,
        details={
            "provider": provider,
            "day": day,
            "billed_usd": str(day_total.billed),
            "estimated_usd": str(day_total.estimated),
            "drift_percent": str(day_total.drift_percent),
            "models": ", ".join(m.group for m in models),
        },
        labels={"kind": NotificationKind.DRIFT.value, "provider": provider},
        tables=(Table("Models", ("model", "billed", "estimated", "drift %"), rows),)
        if rows
        else (),
    )
