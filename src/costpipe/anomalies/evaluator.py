"""The anomaly rules' pass: judge, decide, store, announce.

Called by the alert engine after the budgets on every pass. Per rule: its spend
per group in the judged buckets and their baseline, in one batch of requests
(:mod:`costpipe.anomalies.history`), each group judged
(:mod:`costpipe.anomalies.detect`), and for each (group, bucket):

* it leaves its band: the slot becomes active and one notification is stored
  in the outbox, with the contributors that explain it; the structlog WARNING
  ``Anomaly detected`` is logged. A bucket fires once per episode: later passes
  over the same bucket (the current day as it grows, the day after as the
  latest complete one, a restart) find the active slot and stay quiet;
* with ``repeat_interval``, an active slot still outside its band re-notifies
  at that pace;
* it is back inside its band (revised data, or a growing baseline for the
  current bucket): the slot deactivates and, with ``send_resolved``, one
  resolved notice is stored.

Decisions and notifications of one rule commit together with the outbox rows
(same SQLite file), so a crash never loses one without the other. A rule that
fails (an unknown dimension, the store down) is logged once per episode and
the others carry on.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol

from costpipe.anomalies.baseline import Judgement
from costpipe.anomalies.detect import Seasons, Thresholds, judge_groups
from costpipe.anomalies.explain import Contributor, contributors, rule_query
from costpipe.anomalies.history import Bucket, judged_buckets, read_buckets
from costpipe.anomalies.messages import anomaly_notification, resolved_notification, usd
from costpipe.anomalies.state import AnomalySlot, AnomalyStore
from costpipe.config.sections import AnomalyConfig
from costpipe.config.settings import Settings
from costpipe.episodes import FailureLog, reminder_interval
from costpipe.notification import Notification
from costpipe.query.api import CostReader
from costpipe.records import utc

__all__ = ["Anomalies", "Ledger"]

_FAILED = "anomaly_evaluation_failed"
_RECOVERED = "anomaly_evaluation_recovered"


class Ledger(Protocol):
    """The alert database (:class:`costpipe.alerts.state.AlertState`)."""

    @property
    def db(self) -> Any: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def savepoint(self) -> AbstractContextManager[None]: ...


#: Stores a notification for the notifier instances named (the outbox's enqueue).
Enqueue = Callable[[Notification, list[str], datetime], object]
#: Notifier instance names of a rule's ``notify`` list.
Targets = Callable[[list[str]], list[str]]


class Anomalies:
    """Every ``[[anomalies]]`` rule of *settings*, over *reader* (nothing to do
    without one: the alert engine warns about a missing store once)."""

    def __init__(
        self,
        settings: Settings,
        reader: CostReader | None,
        ledger: Ledger,
        enqueue: Enqueue,
        targets: Targets,
        log: Any,
    ) -> None:
        self.rules = settings.anomalies
        self.timezone = settings.pipeline.timezone
        self.dashboard_url = settings.dashboard.url
        self.reader = reader
        self.ledger = ledger
        self.store = AnomalyStore(ledger.db)
        self.enqueue = enqueue
        self.targets = targets
        self.log = log
        self._failures = FailureLog(log, reminder_interval(settings.alerts.stale_after))

    async def evaluate(self, now: datetime) -> None:
        """Judge every rule's latest complete and current bucket (see module docs)."""
        now = utc(now)
        if self.reader is None:
            return
        for rule in self.rules:
            try:
                await self._evaluate_rule(rule, now)
            except Exception as exc:  # a bad rule or a reader failure must not stop the pass
                self._failures.failed(rule.name, _FAILED, now, exc, rule=rule.name)
            else:
                self._failures.succeeded(rule.name, _RECOVERED, rule=rule.name)

    async def _evaluate_rule(self, rule: AnomalyConfig, now: datetime) -> None:
        assert self.reader is not None
        thresholds = Thresholds.of(rule)
        buckets = judged_buckets(now, rule.granularity, self.timezone)
        history = await read_buckets(
            self.reader,
            lambda start, end: rule_query(rule, start, end, None),
            [b for bucket in buckets for b in (bucket, *bucket.baseline(thresholds.baseline_days))],
            self.timezone,
            rule.group_by,
        )
        decided: list[tuple[Bucket, Seasons, dict[str, Judgement], set[str]]] = []
        for bucket in buckets:
            seasons = Seasons(history, bucket, thresholds.baseline_days)
            judged = judge_groups(history, bucket, thresholds, seasons=seasons)
            active = self.store.active_groups(rule.name, bucket.key)
            # A group revised to nothing is not in the answers, yet its slot must resolve.
            missing = [g for g in active if g not in judged]
            judged.update(judge_groups(history, bucket, thresholds, missing, seasons))
            if rule.group_by is not None:
                judged.pop("", None)  # records without the dimension belong to nobody
            firing = {
                g for g, j in judged.items() if j.anomalous and self._due(rule, g, bucket, now)
            }
            decided.append((bucket, seasons, judged, firing))
        # Contributors are read before the transaction: no store query holds the database.
        explained = {
            (bucket.key, group): await contributors(
                self.reader,
                rule,
                group,
                self.timezone,
                bucket,
                seasons,
                thresholds.sensitivity,
            )
            for bucket, seasons, _, firing in decided
            for group in sorted(firing)
        }
        targets = self.targets(rule.notify)
        with self.ledger.transaction():
            for bucket, _, judged, _ in decided:
                for group, judgement in sorted(judged.items()):
                    self._update(rule, group, bucket, judgement, explained, targets, now)
            self.store.forget_before(rule.name, now - timedelta(days=thresholds.baseline_days + 2))

    def _due(self, rule: AnomalyConfig, group: str, bucket: Bucket, now: datetime) -> bool:
        """Whether an anomalous bucket notifies on this pass (new or reminder)."""
        slot = self.store.get(rule.name, group, bucket.key)
        if slot is None or not slot.active:
            return True
        return rule.repeat_interval is not None and now - slot.last_sent >= rule.repeat_interval

    def _update(
        self,
        rule: AnomalyConfig,
        group: str,
        bucket: Bucket,
        judgement: Judgement,
        explained: dict[tuple[str, str], list[Contributor]],
        targets: list[str],
        now: datetime,
    ) -> None:
        slot = self.store.get(rule.name, group, bucket.key)
        if judgement.anomalous:
            if (bucket.key, group) not in explained:
                return  # active, no reminder due
            if slot is None or not slot.active:
                episode, repeat = (slot.episode + 1 if slot else 1), 0
            else:
                episode, repeat = slot.episode, slot.repeats + 1
            self.store.put(
                rule.name, group, bucket.key, AnomalySlot(True, episode, repeat, now), now
            )
            notification = anomaly_notification(
                rule,
                group,
                bucket,
                judgement,
                explained[(bucket.key, group)],
                episode,
                repeat,
                now,
                self.dashboard_url,
            )
            self.enqueue(notification, targets, now)
            self.log.warning(
                "Anomaly detected",
                rule=rule.name,
                group=group,
                dimension=rule.group_by,
                bucket=bucket.key,
                observed=usd(judgement.observed),
                expected=usd(judgement.band.expected),
                band_high=usd(judgement.band.high),
                contributors=notification.details["contributors"],
                repeat=repeat,
                notification=notification.id,
            )
        elif slot is not None and slot.active:
            self.store.put(
                rule.name,
                group,
                bucket.key,
                AnomalySlot(False, slot.episode, slot.repeats, slot.last_sent),
                now,
            )
            if rule.send_resolved:
                resolved = resolved_notification(
                    rule, group, bucket, judgement, slot.episode, now, self.dashboard_url
                )
                self.enqueue(resolved, targets, now)
            self.log.info("anomaly_resolved", rule=rule.name, group=group, bucket=bucket.key)
