"""A rule's judgement of every group in one bucket, from an hourly history. No IO."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from costpipe.anomalies.baseline import Band, Judgement, band, judge, weekday_factors
from costpipe.anomalies.history import Bucket, History
from costpipe.config.sections import AnomalyConfig

__all__ = ["Seasons", "Thresholds", "bucket_band", "judge_groups"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The knobs of a rule that decide whether a bucket fires."""

    sensitivity: Decimal
    min_increase_usd: Decimal
    floor_usd: Decimal
    baseline_days: int

    @classmethod
    def of(cls, rule: AnomalyConfig) -> Thresholds:
        floor = rule.min_increase_usd if rule.floor_usd is None else rule.floor_usd
        return cls(rule.sensitivity, rule.min_increase_usd, floor, rule.baseline.days)


class Seasons:
    """The weekday factors of one bucket's baseline, from the rule's totals
    (computed once per bucket, shared by every group and contributor)."""

    def __init__(self, history: History, bucket: Bucket, days: int) -> None:
        self.baseline = bucket.baseline(days)
        self.daily = bucket.hour is None
        if self.daily:
            factors = weekday_factors(history.weekday_totals(self.baseline))
            self.factors: list[Decimal] | None = [factors[b.day.weekday()] for b in self.baseline]
            self.target = factors[bucket.day.weekday()]
        else:
            self.factors = None
            self.target = Decimal(1)


def bucket_band(history: History, group: str, seasons: Seasons, sensitivity: Decimal) -> Band:
    values = [history.value(group, b) for b in seasons.baseline]
    return band(values, sensitivity, factors=seasons.factors, target_factor=seasons.target)


def judge_groups(
    history: History,
    bucket: Bucket,
    thresholds: Thresholds,
    groups: list[str] | None = None,
    seasons: Seasons | None = None,
) -> dict[str, Judgement]:
    """Each group's :class:`Judgement` in *bucket* (every group of *history*
    unless *groups* names them)."""
    seasons = seasons or Seasons(history, bucket, thresholds.baseline_days)
    judged: dict[str, Judgement] = {}
    for group in history.groups if groups is None else groups:
        observed = history.value(group, bucket)
        if observed <= 0 and groups is None:
            continue  # nothing spent: nothing to judge, unless asked for (to resolve)
        judged[group] = judge(
            observed,
            bucket_band(history, group, seasons, thresholds.sensitivity),
            thresholds.min_increase_usd,
            thresholds.floor_usd,
        )
    return judged
