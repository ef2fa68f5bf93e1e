"""The message an alert produces, as notifiers receive it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

__all__ = ["Notification", "NotificationKind", "Table"]


class NotificationKind(StrEnum):
    THRESHOLD = "threshold"
    """Spend crossed a budget threshold."""
    FORECAST = "forecast"
    """The period-end projection crosses the budget."""
    RESOLVED = "resolved"
    """Spend fell back under a threshold after a data revision."""
    RESET = "reset"
    """A new budget period began."""
    UNPRICED = "unpriced"
    """Usage of a model without a price was seen."""
    STALE = "stale"
    """A provider instance has had no successful pass for too long."""
    TEST = "test"
    """Sent by `costpipe alerts test` to prove delivery works."""
    DIGEST = "digest"
    """A scheduled spend report (``[[reports]]``)."""
    ANOMALY = "anomaly"
    """A group's spend in an hour or a day left its expected band (``[[anomalies]]``)."""
    ANOMALY_RESOLVED = "anomaly_resolved"
    """An anomalous bucket's spend is back inside its band."""
    DRIFT = "drift"
    """A closed day's usage estimate misses the provider's bill beyond ``[alerts] drift_tolerance``."""


@dataclass(frozen=True, slots=True)
class Table:
    """A titled table of text cells that every notifier can show (digests, contributors).

    Cells are text already formatted for people (money as ``$1,234.57``); they
    may come from provider data, so every renderer escapes them.
    """

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Notification:
    """One alert, ready to be delivered.

    ``id`` is deterministic for one (rule, group, period, threshold, kind) and
    stays the same across delivery retries: receivers use it to de-duplicate.
    Money is Decimal; ``created_at`` is UTC.
    """

    id: str
    kind: NotificationKind
    title: str
    summary: str
    created_at: datetime
    rule: str = ""
    group: str = ""
    period: str = ""
    threshold_percent: int | None = None
    spend_usd: Decimal | None = None
    budget_usd: Decimal | None = None
    forecast_usd: Decimal | None = None
    exhaustion_date: str | None = None
    dashboard_url: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    """What silences and maintenance windows match on, besides ``rule``,
    ``group`` and the kind (``costpipe.alerts.silences.alert_labels``): e.g.
    ``{"kind": "anomaly", "user_id": "alice"}``. Not shown to people."""
    tables: tuple[Table, ...] = ()
