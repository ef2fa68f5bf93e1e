"""Why a group spiked: its contributors one level down, each against its own baseline.

For a project anomaly the contributors are the project's users, keys and models
(``explain_by``); each value's spend in the bucket is judged against its own
history exactly as the group was (same buckets, same weekday factors), and the
values whose spend rose the most over their own expected value are named, with
dollars. One batch of requests per explaining dimension, filtered to the group,
is read only for the groups that fire.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from costpipe.anomalies.detect import Seasons, bucket_band
from costpipe.anomalies.history import Bucket, read_buckets
from costpipe.config.sections import AnomalyConfig
from costpipe.query.api import Basis, CostQuery, CostReader

__all__ = ["DEFAULT_EXPLAIN_BY", "TOP_CONTRIBUTORS", "Contributor", "contributors", "explain_by"]

DEFAULT_EXPLAIN_BY = ("user_id", "api_key_id", "model")
#: Contributors named per explaining dimension.
TOP_CONTRIBUTORS = 3


@dataclass(frozen=True, slots=True)
class Contributor:
    dimension: str
    value: str
    """``""`` for records without the dimension (shown as ``(none)``)."""
    observed: Decimal
    expected: Decimal

    @property
    def increase(self) -> Decimal:
        return self.observed - self.expected


def explain_by(rule: AnomalyConfig) -> list[str]:
    chosen = rule.explain_by if rule.explain_by is not None else list(DEFAULT_EXPLAIN_BY)
    return [d for d in chosen if d != rule.group_by]


def rule_query(rule: AnomalyConfig, start: datetime, end: datetime, group: str | None) -> CostQuery:
    """The rule's basis and filters over ``[start, end)``, narrowed to *group*."""
    filters = {dim: tuple(values) for dim, values in rule.filters.items()}
    if rule.group_by is not None and group is not None:
        filters[rule.group_by] = (group,)
    return CostQuery(start, end, Basis(rule.cost_basis), filters)


async def contributors(
    reader: CostReader,
    rule: AnomalyConfig,
    group: str,
    timezone: str,
    bucket: Bucket,
    seasons: Seasons,
    sensitivity: Decimal,
) -> list[Contributor]:
    """The top contributors of *group* in *bucket*, by increase over their own
    baseline, largest first."""
    found: list[Contributor] = []
    buckets = [bucket, *seasons.baseline]
    for dimension in explain_by(rule):
        history = await read_buckets(
            reader, lambda s, e: rule_query(rule, s, e, group), buckets, timezone, dimension
        )
        rows = []
        for value in history.groups:
            observed = history.value(value, bucket)
            expected = bucket_band(history, value, seasons, sensitivity).expected
            if observed > expected:
                rows.append(Contributor(dimension, value, observed, expected))
        rows.sort(key=lambda c: (-c.increase, c.value))
        found.extend(rows[:TOP_CONTRIBUTORS])
    return found
