"""Build :class:`~costpipe.notification.Notification` objects and their ids. No IO.

An id is a hash of everything that makes a notification distinct: its kind,
rule, group, period, slot, and the episode/repeat counters. The same decision
therefore always yields the same id, across retries and restarts, which makes
it an idempotency key for receivers.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from costpipe.alerts.periods import Period
from costpipe.alerts.rules import MISSING_GROUP, BudgetStatus
from costpipe.notification import Notification, NotificationKind

__all__ = [
    "forecast_notification",
    "format_usd",
    "notification_id",
    "reset_notification",
    "resolved_notification",
    "stale_notification",
    "threshold_notification",
    "unpriced_notification",
]


def notification_id(kind: NotificationKind, *parts: object) -> str:
    text = "\x1f".join([kind.value, *(str(p) for p in parts)])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def format_usd(value: Decimal) -> str:
    """``$1,234.57``: rounded to cents for people; stored figures keep all digits."""
    return f"${value.quantize(Decimal('0.01')):,}"


def _scope(rule: str, group: str) -> str:
    if group == MISSING_GROUP:
        return f"{rule} {group}"
    return f"{rule} ({group})" if group else rule


def threshold_notification(
    rule: str,
    status: BudgetStatus,
    threshold: int,
    period: Period,
    episode: int,
    repeat: int,
    now: datetime,
    dashboard_url: str | None,
) -> Notification:
    scope = _scope(rule, status.group)
    again = " (reminder)" if repeat else ""
    return Notification(
        id=notification_id(
            NotificationKind.THRESHOLD, rule, status.group, period.key, threshold, episode, repeat
        ),
        kind=NotificationKind.THRESHOLD,
        title=f"Budget {scope} reached {threshold} %{again}",
        summary=(
            f"{format_usd(status.spend_usd)} spent of {format_usd(status.budget_usd)} "
            f"({status.percent} %) in {period.label}."
        ),
        created_at=now,
        rule=rule,
        group=status.group,
        period=period.key,
        threshold_percent=threshold,
        spend_usd=status.spend_usd,
        budget_usd=status.budget_usd,
        dashboard_url=dashboard_url,
    )


def forecast_notification(
    rule: str,
    status: BudgetStatus,
    period: Period,
    episode: int,
    now: datetime,
    timezone: str,
    dashboard_url: str | None,
) -> Notification:
    assert status.forecast is not None
    projection = status.forecast
    exhaustion = (
        None
        if projection.exhaustion is None
        else projection.exhaustion.astimezone(ZoneInfo(timezone)).date().isoformat()
    )
    when = f" Budget exhausted around {exhaustion}." if exhaustion else ""
    return Notification(
        id=notification_id(
            NotificationKind.FORECAST, rule, status.group, period.key, "forecast", episode
        ),
        kind=NotificationKind.FORECAST,
        title=f"Budget {_scope(rule, status.group)} is on course to be exceeded",
        summary=(
            f"{format_usd(status.spend_usd)} spent of {format_usd(status.budget_usd)} so far in "
            f"{period.label}; at this rate {format_usd(projection.projected_usd)} by the end."
            f"{when}"
        ),
        created_at=now,
        rule=rule,
        group=status.group,
        period=period.key,
        threshold_percent=100,
        spend_usd=status.spend_usd,
        budget_usd=status.budget_usd,
        forecast_usd=projection.projected_usd,
        exhaustion_date=exhaustion,
        dashboard_url=dashboard_url,
    )


def resolved_notification(
    rule: str,
    status: BudgetStatus,
    threshold: int,
    period: Period,
    episode: int,
    now: datetime,
    dashboard_url: str | None,
) -> Notification:
    return Notification(
        id=notification_id(
            NotificationKind.RESOLVED, rule, status.group, period.key, threshold, episode
        ),
        kind=NotificationKind.RESOLVED,
        title=f"Budget {_scope(rule, status.group)} is back under {threshold} %",
        summary=(
            f"Revised data puts spend at {format_usd(status.spend_usd)} of "
            f"{format_usd(status.budget_usd)} ({status.percent} %) in {period.label}."
        ),
        created_at=now,
        rule=rule,
        group=status.group,
        period=period.key,
        threshold_percent=threshold,
        spend_usd=status.spend_usd,
        budget_usd=status.budget_usd,
        dashboard_url=dashboard_url,
    )


def reset_notification(
    rule: str, budget: Decimal, period: Period, now: datetime, dashboard_url: str | None
) -> Notification:
    return Notification(
        id=notification_id(NotificationKind.RESET, rule, period.key),
        kind=NotificationKind.RESET,
        title=f"Budget {rule}: new period {period.label}",
        summary=f"A new budget period began; {format_usd(budget)} available.",
        created_at=now,
        rule=rule,
        period=period.key,
        budget_usd=budget,
        dashboard_url=dashboard_url,
    )


def unpriced_notification(
    model: str, tokens: int, now: datetime, dashboard_url: str | None
) -> Notification:
    return Notification(
        id=notification_id(NotificationKind.UNPRICED, model),
        kind=NotificationKind.UNPRICED,
        title=f"Model {model} has no price",
        summary=(
            f"{tokens:,} tokens of {model} were used and their cost is unknown; "
            "add a [[prices]] entry so that estimates include it."
        ),
        created_at=now,
        group=model,
        dashboard_url=dashboard_url,
        details={"model": model, "tokens": str(tokens)},
    )


def stale_notification(
    instance: str,
    last_success: datetime | None,
    episode: str,
    stale_after: timedelta,
    now: datetime,
    dashboard_url: str | None,
) -> Notification:
    when = (
        "has never completed a pass"
        if last_success is None
        else (f"last succeeded at {last_success.isoformat(timespec='minutes')}")
    )
    return Notification(
        id=notification_id(NotificationKind.STALE, instance, episode),
        kind=NotificationKind.STALE,
        title=f"Source {instance} is stale",
        summary=f"{instance} {when}; alerts fire after {stale_after} without a successful pass.",
        created_at=now,
        group=instance,
        dashboard_url=dashboard_url,
        details={
            "instance": instance,
            "last_success": "" if last_success is None else last_success.isoformat(),
        },
    )
