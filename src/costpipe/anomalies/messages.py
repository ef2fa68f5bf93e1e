"""The notifications an anomaly sends, and the dashboard link they carry. No IO.

An id is a hash of the kind, rule, group, bucket, episode and repeat: the same
decision always yields the same id, across retries and restarts (the
receivers' idempotency key), and a bucket that fires once has one id.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode

from costpipe.anomalies.baseline import Judgement
from costpipe.anomalies.explain import Contributor
from costpipe.anomalies.history import Bucket
from costpipe.config.sections import AnomalyConfig
from costpipe.notification import Notification, NotificationKind, Table

__all__ = [
    "anomaly_notification",
    "dashboard_link",
    "describe_contributors",
    "resolved_notification",
    "usd",
]

_NONE = "(none)"


def usd(value: Decimal) -> str:
    """``$1,234.57``: rounded to cents for people; stored figures keep every digit."""
    return f"${value.quantize(Decimal('0.01')):,}"


def _ratio(judgement: Judgement) -> str:
    ratio = judgement.ratio
    return "new" if ratio is None else f"{ratio.quantize(Decimal('0.1'))}x"


def _id(kind: NotificationKind, *parts: object) -> str:
    text = "\x1f".join([kind.value, *(str(p) for p in parts)])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _scope(rule: AnomalyConfig, group: str) -> str:
    if rule.group_by is None:
        return rule.name
    return f"{rule.name} ({rule.group_by} {group})"


def dashboard_link(
    base: str | None, rule: AnomalyConfig, group: str, bucket: Bucket, by: str | None
) -> str | None:
    """The dashboard filtered on the rule and the group, grouped by the first
    explaining dimension, over the bucket's day (``today``) or the last week.
    Parameters are the dashboard's control names (``docs/alerts.md``)."""
    if not base:
        return None
    params: list[tuple[str, str]] = [
        ("preset", "today" if not bucket.complete and bucket.hour is None else "last_7_days"),
        ("granularity", "hour"),
        ("basis", rule.cost_basis),
        ("group_by", by or rule.group_by or "provider"),
    ]
    for dimension, values in sorted(rule.filters.items()):
        params.extend((dimension, value) for value in values)
    if rule.group_by is not None:
        params.append((rule.group_by, group))
    return base + ("&" if "?" in base else "?") + urlencode(params)


def describe_contributors(contributors: list[Contributor]) -> str:
    """``model gpt-4o +$300.00 ($320.00 vs $20.00 expected); ...``"""
    return "; ".join(
        f"{c.dimension} {c.value or _NONE} +{usd(c.increase)} "
        f"({usd(c.observed)} vs {usd(c.expected)} expected)"
        for c in contributors
    )


def _contributor_table(contributors: list[Contributor]) -> tuple[Table, ...]:
    if not contributors:
        return ()
    rows = tuple(
        (c.dimension, c.value or _NONE, usd(c.observed), usd(c.expected), "+" + usd(c.increase))
        for c in contributors
    )
    columns = ("Dimension", "Value", "Spend", "Expected", "Increase")
    return (Table("Top contributors", columns, rows),)


def _labels(rule: AnomalyConfig, group: str, bucket: Bucket) -> dict[str, str]:
    labels = {"kind": "anomaly", "rule": rule.name, "granularity": bucket.granularity}
    if rule.group_by is not None:
        labels[rule.group_by] = group
    return labels


def anomaly_notification(
    rule: AnomalyConfig,
    group: str,
    bucket: Bucket,
    judgement: Judgement,
    contributors: list[Contributor],
    episode: int,
    repeat: int,
    now: datetime,
    dashboard_url: str | None,
) -> Notification:
    """The alert for one anomalous (rule, group, bucket): observed, expected, band,
    ratio, the contributors that explain it and a link to look at it."""
    b = judgement.band
    again = " (reminder)" if repeat else ""
    if b.new:
        expectation = f"no spend in the previous {rule.baseline.days} days (a new group)"
    else:
        expectation = (
            f"expected {usd(b.expected)} (band {usd(b.low)} to {usd(b.high)}, "
            f"from the previous {rule.baseline.days} days): {_ratio(judgement)} the expected, "
            f"+{usd(judgement.increase)}"
        )
    explained = describe_contributors(contributors)
    because = f" Top contributors: {explained}." if explained else ""
    first_by = contributors[0].dimension if contributors else None
    details = {
        "bucket": bucket.label,
        "observed_usd": str(judgement.observed),
        "expected_usd": str(b.expected),
        "band_low_usd": str(b.low),
        "band_high_usd": str(b.high),
        "ratio": _ratio(judgement),
        "increase_usd": str(judgement.increase),
        "contributors": explained,
    }
    return Notification(
        id=_id(NotificationKind.ANOMALY, rule.name, group, bucket.key, episode, repeat),
        kind=NotificationKind.ANOMALY,
        title=f"Spend anomaly {_scope(rule, group)}: {usd(judgement.observed)} in "
        f"{bucket.label}{again}",
        summary=f"{usd(judgement.observed)} spent in {bucket.label}; {expectation}.{because}",
        created_at=now,
        rule=rule.name,
        group=group,
        period=bucket.key,
        spend_usd=judgement.observed,
        dashboard_url=dashboard_link(dashboard_url, rule, group, bucket, first_by),
        details=details,
        labels=_labels(rule, group, bucket),
        tables=_contributor_table(contributors),
    )


def resolved_notification(
    rule: AnomalyConfig,
    group: str,
    bucket: Bucket,
    judgement: Judgement,
    episode: int,
    now: datetime,
    dashboard_url: str | None,
) -> Notification:
    b = judgement.band
    return Notification(
        id=_id(NotificationKind.ANOMALY_RESOLVED, rule.name, group, bucket.key, episode),
        kind=NotificationKind.ANOMALY_RESOLVED,
        title=f"Spend anomaly {_scope(rule, group)} in {bucket.label} is resolved",
        summary=f"Spend in {bucket.label} is {usd(judgement.observed)}, back inside the band "
        f"{usd(b.low)} to {usd(b.high)} (expected {usd(b.expected)}).",
        created_at=now,
        rule=rule.name,
        group=group,
        period=bucket.key,
        spend_usd=judgement.observed,
        dashboard_url=dashboard_link(dashboard_url, rule, group, bucket, None),
        details={
            "bucket": bucket.label,
            "observed_usd": str(judgement.observed),
            "expected_usd": str(b.expected),
            "band_high_usd": str(b.high),
        },
        labels=_labels(rule, group, bucket),
    )
