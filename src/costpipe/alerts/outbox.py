"""Durable delivery: a notification is stored before it is sent.

Every (notification id, notifier instance) pair is one outbox row with status
``pending``, ``failed``, ``rejected`` or ``sent``. :meth:`Outbox.deliver` sends
every ``pending`` and ``failed`` row, oldest first, retrying each with
exponential backoff up to ``alerts.max_attempts`` times; a row that still fails
becomes ``failed``, is logged once for that pass, and is tried again on the next
pass or after a restart. A row whose notifier raises
:class:`~costpipe.errors.UndeliverableError` (its message cannot be built)
becomes ``rejected``: logged once, kept with its reason, never tried again, and
never in the way of the rows after it. With a delivery *gate*
(:mod:`costpipe.alerts.suppression`: silences and maintenance windows), a row
the gate drops becomes ``silenced`` (kept with the reason, never sent) and a
row it holds becomes ``held`` until the gate lets it through. A row is marked ``sent`` the moment its notifier acknowledged it, in
its own commit, so an acknowledged notification is never sent again. A crash
between the acknowledgement and that commit can repeat one delivery: that is
what the stable ``notification.id`` (the idempotency key) is for.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import backoff

from costpipe.alerts.state import AlertState
from costpipe.alerts.suppression import DeliveryGate, Verdict
from costpipe.components import Notifier
from costpipe.errors import CostpipeError, UndeliverableError
from costpipe.notification import Notification, NotificationKind, Table

__all__ = ["Outbox", "OutboxRow", "notification_from_json", "notification_to_json"]

_MONEY = ("spend_usd", "budget_usd", "forecast_usd")


def notification_to_json(notification: Notification) -> str:
    """Lossless JSON form (Decimal as strings, times ISO 8601)."""
    data: dict[str, Any] = {
        "id": notification.id,
        "kind": notification.kind.value,
        "title": notification.title,
        "summary": notification.summary,
        "created_at": notification.created_at.isoformat(),
        "rule": notification.rule,
        "group": notification.group,
        "period": notification.period,
        "threshold_percent": notification.threshold_percent,
        "exhaustion_date": notification.exhaustion_date,
        "dashboard_url": notification.dashboard_url,
        "details": dict(notification.details),
        "labels": dict(notification.labels),
        "tables": [
            {"title": t.title, "columns": list(t.columns), "rows": [list(r) for r in t.rows]}
            for t in notification.tables
        ],
    }
    for name in _MONEY:
        value = getattr(notification, name)
        data[name] = None if value is None else str(value)
    return json.dumps(data, sort_keys=True)


def notification_from_json(text: str) -> Notification:
    data = json.loads(text)
    for name in _MONEY:
        if data[name] is not None:
            data[name] = Decimal(data[name])
    data["kind"] = NotificationKind(data["kind"])
    data["created_at"] = datetime.fromisoformat(data["created_at"])
    # Rows stored before labels and tables existed have neither.
    data["tables"] = tuple(
        Table(t["title"], tuple(t["columns"]), tuple(tuple(r) for r in t["rows"]))
        for t in data.get("tables", ())
    )
    return Notification(**data)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    seq: int
    target: str
    notification: Notification
    status: str
    attempts: int


def _permanent(exc: Exception) -> bool:
    # A costpipe error knows whether retrying can help (a refused login cannot);
    # anything else may be a passing fault of the remote end, so it is retried.
    return isinstance(exc, CostpipeError) and not exc.retryable


def _describe(exc: BaseException) -> str:
    # Only costpipe errors are shown with their message: notifiers word those
    # without secrets. Library errors may carry URLs, so only their type is kept.
    if isinstance(exc, CostpipeError):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__


class Outbox:
    """Stored notifications and their delivery."""

    def __init__(
        self,
        state: AlertState,
        log: Any,
        max_attempts: int = 5,
        retry_delay: float = 1.0,
        max_delay: float = 60.0,
        gate: DeliveryGate | None = None,
    ) -> None:
        self.state = state
        self.log = log
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.max_delay = max_delay
        self.gate = gate
        self._lock = asyncio.Lock()

    def enqueue(self, notification: Notification, targets: Iterable[str], now: datetime) -> int:
        """Store *notification* for each target; already stored pairs are kept as
        they are. Returns how many rows were added."""
        added = 0
        payload = notification_to_json(notification)
        for target in targets:
            cursor = self.state.db.execute(
                "INSERT OR IGNORE INTO outbox (id, target, payload, status, created_at)"
                " VALUES (?, ?, ?, 'pending', ?)",
                (notification.id, target, payload, now.isoformat()),
            )
            added += cursor.rowcount
        return added

    def undelivered(self) -> list[OutboxRow]:
        rows = self.state.db.execute(
            "SELECT seq, target, payload, status, attempts FROM outbox"
            " WHERE status IN ('pending', 'failed', 'held') ORDER BY seq"
        )
        return [OutboxRow(r[0], r[1], notification_from_json(r[2]), r[3], r[4]) for r in rows]

    def counts(self) -> dict[str, int]:
        counts = {"sent": 0, "failed": 0, "pending": 0, "rejected": 0}
        for status, number in self.state.db.execute(
            "SELECT status, COUNT(*) FROM outbox GROUP BY status"
        ):
            counts[status] = number
        return counts

    def failing(self) -> dict[str, tuple[int, str]]:
        """Per target with rows whose delivery failed (and will be retried): how
        many, and the error of the latest of them."""
        found: dict[str, tuple[int, str]] = {}
        for target, number, error in self.state.db.execute(
            "SELECT target, COUNT(*), (SELECT last_error FROM outbox AS o WHERE o.target ="
            " outbox.target AND o.status = 'failed' ORDER BY seq DESC LIMIT 1)"
            " FROM outbox WHERE status = 'failed' GROUP BY target ORDER BY target"
        ):
            found[str(target)] = (int(number), str(error or ""))
        return found

    async def deliver(self, notifiers: Mapping[str, Notifier[Any]]) -> None:
        """Send every undelivered row through ``notifiers[row.target]``.

        Targets are served concurrently, each in order; after a row of one target
        fails for good in this pass, that target's later rows wait for the next
        pass (the remote end is most likely down, and each would cost a full
        series of retries). One call runs at a time.
        """
        async with self._lock:
            by_target: dict[str, list[OutboxRow]] = {}
            for row in self.undelivered():
                if not self._admitted(row):
                    continue
                by_target.setdefault(row.target, []).append(row)
            await asyncio.gather(
                *(self._deliver_target(t, rows, notifiers.get(t)) for t, rows in by_target.items())
            )

    def _admitted(self, row: OutboxRow) -> bool:
        """Whether the gate lets *row* be sent now; a row it stops is marked so."""
        if self.gate is None:
            return True
        decision = self.gate(row.notification)
        if decision.verdict is Verdict.DELIVER:
            return True
        status = "held" if decision.verdict is Verdict.HOLD else "silenced"
        if row.status != status:
            self._mark(row, status, 0, decision.reason)
            self.log.info(
                f"notification_{status}",
                notifier=row.target,
                notification=row.notification.id,
                kind=row.notification.kind.value,
                reason=decision.reason,
            )
        return False

    async def _deliver_target(
        self, target: str, rows: list[OutboxRow], notifier: Notifier[Any] | None
    ) -> None:
        if notifier is None:
            for row in rows:
                self._mark_failed(row, 0, "notifier is not configured")
            self.log.error("notification_failed", notifier=target, error="not configured")
            return
        for row in rows:
            attempts = 0

            def count(_details: Any) -> None:
                nonlocal attempts
                attempts += 1

            send: Callable[[Notification], Any] = backoff.on_exception(
                backoff.expo,
                Exception,
                max_tries=self.max_attempts,
                giveup=_permanent,
                factor=self.retry_delay,
                max_value=self.max_delay,
                jitter=None,
                logger=None,
                on_backoff=count,
                on_giveup=count,
                on_success=count,
            )(notifier.send)
            try:
                await send(row.notification)
            except UndeliverableError as exc:
                self._mark(row, "rejected", attempts, _describe(exc))
                self.log.error(
                    "notification_rejected",
                    notifier=target,
                    notification=row.notification.id,
                    kind=row.notification.kind.value,
                    error=_describe(exc),
                )
                continue
            except Exception as exc:
                self._mark_failed(row, attempts, _describe(exc))
                self.log.error(
                    "notification_failed",
                    notifier=target,
                    notification=row.notification.id,
                    kind=row.notification.kind.value,
                    attempts=row.attempts + attempts,
                    error=_describe(exc),
                )
                return
            self._mark_sent(row, attempts)
            if row.status == "failed":
                self.log.info(
                    "notification_recovered", notifier=target, notification=row.notification.id
                )

    def _mark_sent(self, row: OutboxRow, attempts: int) -> None:
        self.state.db.execute(
            "UPDATE outbox SET status = 'sent', attempts = attempts + ?, sent_at = ?,"
            " last_error = '' WHERE seq = ?",
            (attempts, datetime.now(UTC).isoformat(), row.seq),
        )

    def _mark_failed(self, row: OutboxRow, attempts: int, error: str) -> None:
        self._mark(row, "failed", attempts, error)

    def _mark(self, row: OutboxRow, status: str, attempts: int, error: str) -> None:
        self.state.db.execute(
            "UPDATE outbox SET status = ?, attempts = attempts + ?, last_error = ? WHERE seq = ?",
            (status, attempts, error, row.seq),
        )

    def rejected(self) -> list[tuple[str, str, str]]:
        """``(notification id, target, reason)`` of every row given up for good."""
        rows = self.state.db.execute(
            "SELECT id, target, last_error FROM outbox WHERE status = 'rejected' ORDER BY seq"
        )
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]
