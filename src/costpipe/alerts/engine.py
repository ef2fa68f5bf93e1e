"""The :class:`AlertEngine` facade the daemon drives once per pass.

Decisions and notifications commit together (:mod:`costpipe.alerts.state`), then go out through
the outbox (:mod:`costpipe.alerts.outbox`). Life cycle of a budget slot (rule, group, period, slot):

* the spend reaches the threshold: the slot becomes active and notifies once (when several
  thresholds are reached in one pass, only the highest notifies; the others become active
  silently, so a jump to 120 % sends one message);
* with ``repeat_interval``, the highest active slot re-notifies at that pace;
* a data revision brings the spend back under active thresholds: they deactivate, and with
  ``send_resolved`` one resolved notice names the lowest; crossing again starts a new episode
  with a new notification id;
* a new period forgets the old period's slots, with a reset notice when ``send_reset``.

Every firing logs a structlog WARNING ``Alert triggered``. Anomaly rules run after budgets.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from costpipe.alerts import drift, messages
from costpipe.alerts.outbox import Outbox
from costpipe.alerts.periods import Period
from costpipe.alerts.rules import BudgetStatus, assess, budget_amount
from costpipe.alerts.spend import rule_spends
from costpipe.alerts.state import AlertState, SlotState
from costpipe.anomalies import Anomalies
from costpipe.components import Notifier
from costpipe.config.settings import BudgetConfig, Settings
from costpipe.episodes import FailureLog, reminder_interval
from costpipe.notification import Notification
from costpipe.query.api import Basis, CostQuery, CostReader
from costpipe.records import utc

__all__ = ["AlertEngine"]

FORECAST_SLOT = "forecast"
_RULE_FAILED = "budget_evaluation_failed"
_RULE_RECOVERED = "budget_evaluation_recovered"


class AlertEngine:
    """Budgets, unpriced-model and stale-source alerts, with durable delivery.

    ``notifiers`` maps instance names (``email.ops``) and, where unambiguous,
    short names (``ops``) to started notifiers. Calls must not overlap (the
    daemon calls :meth:`evaluate` once per pass); :meth:`deliver_pending` may
    run at any time. The engine never raises out of :meth:`evaluate` for a
    failing rule, reader or notifier: it logs and carries on with the rest.
    """

    def __init__(
        self,
        settings: Settings,
        reader: CostReader | None,
        notifiers: Mapping[str, Notifier[Any]],
        state_dir: Path,
        log: Any,
        *,
        retry_delay: float = 1.0,
    ) -> None:
        self.settings = settings
        self.reader = reader
        self.notifiers = notifiers
        self.log = log
        self.timezone = settings.pipeline.timezone
        self.dashboard_url = settings.dashboard.url
        self.state = AlertState(state_dir)
        self.outbox = Outbox(
            self.state, log, max_attempts=settings.alerts.max_attempts, retry_delay=retry_delay
        )
        self._by_instance = {n.instance: n for n in notifiers.values()}
        self.anomalies = Anomalies(settings, reader, self.state, self._enqueue, self._targets, log)
        self._unknown_targets: set[str] = set()
        self._warned_no_reader = False
        # A reader that is down fails every rule on every pass: log once per episode.
        self._failures = FailureLog(log, reminder_interval(settings.alerts.stale_after))

    def close(self) -> None:
        self.state.close()

    # -- public entry points ---------------------------------------------------------

    async def evaluate(self, now: datetime, last_success: Mapping[str, datetime | None]) -> None:
        """:meth:`enqueue_due`, then :meth:`deliver_pending`."""
        await self.enqueue_due(now, last_success)
        await self.deliver_pending()

    async def enqueue_due(self, now: datetime, last_success: Mapping[str, datetime | None]) -> None:
        """Run budgets, anomalies, drift, unpriced and stale checks into the outbox (sent apart)."""
        now = utc(now)
        if self.reader is None:
            if not self._warned_no_reader and (self.settings.budgets or self._wants_unpriced()):
                self.log.warning("alerts_without_reader", reason="no readable sink is configured")
                self._warned_no_reader = True
        else:
            await self._evaluate_budgets(now)
            await self.anomalies.evaluate(now)
            await drift.evaluate(self, now)
            if self._wants_unpriced():
                try:
                    await self._evaluate_unpriced(now)
                except Exception as exc:
                    self._failures.failed("unpriced", "unpriced_check_failed", now, exc)
                else:
                    self._failures.succeeded("unpriced", "unpriced_check_recovered")
        self._evaluate_stale(now, last_success)

    async def deliver_pending(self) -> None:
        """Try every notification that is stored but not acknowledged yet."""
        await self.outbox.deliver(self._by_instance)

    def stats(self) -> dict[str, int]:
        """Outbox rows by status: ``sent``, ``failed``, ``pending`` and ``rejected``
        (given up for good: the message could not be built)."""
        return self.outbox.counts()

    def undelivered(self) -> dict[str, tuple[int, str]]:
        """Per notifier instance whose delivery failed: rows waiting for a retry
        and the last error (what ``/healthz`` reports)."""
        return self.outbox.failing()

    # -- budgets -----------------------------------------------------------------------

    async def _evaluate_budgets(self, now: datetime) -> None:
        """Every rule's spend from one batch of grouped queries, then each rule's state and
        notifications in one commit; a failing rule rolls back alone and is logged."""
        assert self.reader is not None
        try:
            outcomes = await rule_spends(self.reader, self.settings.budgets, now, self.timezone)
        except Exception as exc:  # a reader bug must not stop the pass
            outcomes = [(rule, None, exc) for rule in self.settings.budgets]
        with self.state.transaction():
            for rule, period, spends in outcomes:
                try:
                    if isinstance(spends, Exception):
                        raise spends
                    assert period is not None
                    with self.state.savepoint():
                        self._evaluate_budget(rule, period, spends, now)
                except Exception as exc:
                    self._failures.failed(rule.name, _RULE_FAILED, now, exc, rule=rule.name)
                else:
                    self._failures.succeeded(rule.name, _RULE_RECOVERED, rule=rule.name)

    def _evaluate_budget(
        self, rule: BudgetConfig, period: Period, spends: dict[str, Decimal], now: datetime
    ) -> None:
        budget = budget_amount(rule.amount_usd)
        targets = self._targets(rule.notify)
        with self.state.transaction():
            previous = self.state.rule_period(rule.name)
            if previous != period.key:
                self.state.start_period(rule.name, period.key)
                if previous is not None and rule.send_reset:
                    self._enqueue(
                        messages.reset_notification(
                            rule.name, budget, period, now, self.dashboard_url
                        ),
                        targets,
                        now,
                    )
            # A group whose spend was revised to nothing drops out of the
            # breakdown, yet its active slots must still resolve.
            stale = self.state.active_groups(rule.name, period.key) - spends.keys()
            if rule.group_by is not None:
                stale.discard("")  # state of an ungrouped rule or of an older version
            for group in stale:
                spends[group] = Decimal(0)
            for group, spend in sorted(spends.items()):
                status = assess(group, spend, budget, rule.thresholds, period, now, rule.forecast)
                self._update_slots(rule, status, period, now, targets)

    def _update_slots(
        self,
        rule: BudgetConfig,
        status: BudgetStatus,
        period: Period,
        now: datetime,
        targets: list[str],
    ) -> None:
        slots = self.state.slots(rule.name, status.group, period.key)
        thresholds = {str(t): t for t in rule.thresholds}
        for slot in slots.keys() - thresholds.keys() - {FORECAST_SLOT}:
            self.state.drop_slot(rule.name, status.group, period.key, slot)  # threshold removed
        crossed = {str(t) for t in status.crossed}
        active = {s for s, st in slots.items() if st.active and s in thresholds}

        newly = sorted((thresholds[s] for s in crossed - active), reverse=True)
        for threshold in newly:
            old = slots.get(str(threshold))
            episode = old.episode + 1 if old else 1
            self.state.put_slot(
                rule.name,
                status.group,
                period.key,
                SlotState(str(threshold), True, episode, 0, now),
            )
            if threshold == newly[0]:
                self._fire(
                    rule,
                    status,
                    period,
                    threshold,
                    "threshold",
                    messages.threshold_notification(
                        rule.name, status, threshold, period, episode, 0, now, self.dashboard_url
                    ),
                    targets,
                    now,
                )

        fallen = sorted(thresholds[s] for s in active - crossed)
        for threshold in fallen:
            old = slots[str(threshold)]
            self.state.put_slot(
                rule.name,
                status.group,
                period.key,
                SlotState(old.slot, False, old.episode, old.repeats, old.last_sent),
            )
        if fallen and rule.send_resolved:
            lowest = fallen[0]
            self._enqueue(
                messages.resolved_notification(
                    rule.name,
                    status,
                    lowest,
                    period,
                    slots[str(lowest)].episode,
                    now,
                    self.dashboard_url,
                ),
                targets,
                now,
            )
            self.log.info(
                "alert_resolved",
                rule=rule.name,
                group=status.group,
                period=period.key,
                threshold=lowest,
                spend=str(status.spend_usd),
                budget=str(status.budget_usd),
            )

        still = [thresholds[s] for s in active & crossed]
        if rule.repeat_interval is not None and still and not newly:
            top = slots[str(max(still))]
            if now - top.last_sent >= rule.repeat_interval:
                repeat = top.repeats + 1
                self.state.put_slot(
                    rule.name,
                    status.group,
                    period.key,
                    SlotState(top.slot, True, top.episode, repeat, now),
                )
                self._fire(
                    rule,
                    status,
                    period,
                    max(still),
                    "threshold",
                    messages.threshold_notification(
                        rule.name,
                        status,
                        max(still),
                        period,
                        top.episode,
                        repeat,
                        now,
                        self.dashboard_url,
                    ),
                    targets,
                    now,
                )

        if status.forecast_breaches and FORECAST_SLOT not in slots:
            self.state.put_slot(
                rule.name, status.group, period.key, SlotState(FORECAST_SLOT, True, 1, 0, now)
            )
            self._fire(
                rule,
                status,
                period,
                100,
                "forecast",
                messages.forecast_notification(
                    rule.name, status, period, 1, now, self.timezone, self.dashboard_url
                ),
                targets,
                now,
            )

    def _fire(
        self,
        rule: BudgetConfig,
        status: BudgetStatus,
        period: Period,
        threshold: int,
        kind: str,
        notification: Notification,
        targets: list[str],
        now: datetime,
    ) -> None:
        self._enqueue(notification, targets, now)
        self.log.warning(
            "Alert triggered",
            rule=rule.name,
            group=status.group,
            period=period.key,
            threshold=threshold,
            spend=str(status.spend_usd),
            budget=str(status.budget_usd),
            kind=kind,
            notification=notification.id,
        )

    # -- unpriced models and stale sources -----------------------------------------------

    def _wants_unpriced(self) -> bool:
        return bool(self.settings.alerts.unpriced_notify)

    async def _evaluate_unpriced(self, now: datetime) -> None:
        assert self.reader is not None
        query = CostQuery(now - self.settings.pipeline.lookback, now, Basis.ESTIMATED)
        usage = await self.reader.unpriced_usage(query)
        targets = self._targets(self.settings.alerts.unpriced_notify)
        with self.state.transaction():
            known = self.state.known_unpriced()
            for model, tokens in sorted(usage.items()):
                if model in known or tokens <= 0:
                    continue
                self.state.add_unpriced(model, now)
                notification = messages.unpriced_notification(
                    model, tokens, now, self.dashboard_url
                )
                self._enqueue(notification, targets, now)
                self.log.warning(
                    "unpriced_model", model=model, tokens=tokens, notification=notification.id
                )

    def _evaluate_stale(self, now: datetime, last_success: Mapping[str, datetime | None]) -> None:
        stale_after: timedelta | None = self.settings.alerts.stale_after
        if stale_after is None:
            return
        targets = self._targets(self.settings.alerts.stale_notify)
        with self.state.transaction():
            for instance, last in sorted(last_success.items()):
                last = None if last is None else utc(last)
                if last is not None and now - last < stale_after:
                    self.state.clear_stale_source(instance)
                    continue
                # The episode names the last success (or its absence) so that a
                # source that recovers and fails again is announced again.
                episode = "never" if last is None else last.isoformat()
                known = self.state.stale_source(instance)
                if known is None or known[1] != episode:
                    since = last if last is not None else now
                    self.state.put_stale_source(instance, since, episode, False)
                    known = (since, episode, False)
                since, _, notified = known
                if notified or now - since < stale_after:
                    continue
                self.state.put_stale_source(instance, since, episode, True)
                notification = messages.stale_notification(
                    instance, last, episode, stale_after, now, self.dashboard_url
                )
                self._enqueue(notification, targets, now)
                self.log.warning(
                    "source_stale",
                    provider=instance,
                    last_success=None if last is None else last.isoformat(),
                    notification=notification.id,
                )

    # -- helpers ---------------------------------------------------------------------------

    def _targets(self, names: list[str]) -> list[str]:
        """Instance names of the notifiers called *names* (unknown names are logged once)."""
        targets: list[str] = []
        for name in names:
            notifier = self.notifiers.get(name)
            if notifier is None:
                if name not in self._unknown_targets:
                    self._unknown_targets.add(name)
                    self.log.error("notifier_unknown", notifier=name)
                continue
            if notifier.instance not in targets:
                targets.append(notifier.instance)
        return targets

    def _enqueue(self, notification: Notification, targets: list[str], now: datetime) -> None:
        self.outbox.enqueue(notification, targets, now)
