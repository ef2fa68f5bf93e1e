"""Anomaly rules over records in a MemorySink (the query layer's reference reader):
new groups, weekday seasonality, hourly buckets, noisy small groups, bad rules."""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from costpipe.anomalies.baseline import Band, band, judge, weekday_factors
from costpipe.anomalies.history import HourlyHistory, judged_buckets, read_buckets
from costpipe.config.settings import AnomalyConfig, Settings
from costpipe.query.api import Basis, CostQuery, Granularity
from costpipe.testing import CapturingNotifier, MemorySink
from tests.alerts.conftest import cost, engine, notifier_map, settings

MONDAY = datetime(2026, 11, 16, tzinfo=UTC)


def with_rules(*rules: dict[str, Any]) -> Settings:
    config = settings()
    config.anomalies = [
        AnomalyConfig.model_validate({"cost_basis": "billed", "notify": ["capture"], **r})
        for r in rules
    ]
    return config


def workdays(sink: MemorySink, user: str, weekday_usd: str, weekend_usd: str, days: int) -> None:
    """*days* days before MONDAY of spend at 10:00 for *user*, quieter at weekends."""
    for n in range(1, days + 1):
        day = MONDAY - timedelta(days=n)
        usd = weekend_usd if day.weekday() >= 5 else weekday_usd
        sink.add(cost(day.replace(hour=10), usd, user=user, item=f"d{n}"))


async def judge_at(
    sink: MemorySink, config: Settings, now: datetime, tmp_path: Path
) -> list[MutableMapping[str, Any]]:
    capture = CapturingNotifier.create("capture.capture")
    alerts = engine(config, sink, notifier_map(capture), tmp_path / "state")
    with capture_logs() as logs:
        await alerts.evaluate(now, {})
    alerts.close()
    return [e for e in logs if e["event"] == "Anomaly detected"]


async def test_a_new_key_spending_over_the_floor_on_its_first_day_fires(
    sink: MemorySink, tmp_path: Path
) -> None:
    workdays(sink, "alice", "10", "3", 20)
    sink.add(cost(MONDAY.replace(hour=9), "60", user="leaked-key"))
    sink.add(cost(MONDAY.replace(hour=9), "9", user="tiny-new"))  # under the $10 floor
    config = with_rules({"name": "users", "group_by": "user_id", "floor_usd": 50})
    fired = await judge_at(sink, config, MONDAY.replace(hour=12), tmp_path)
    assert [("leaked-key", "day:2026-11-16")] == [(e["group"], e["bucket"]) for e in fired]
    assert "$0.00" == fired[0]["expected"]


async def test_monday_after_a_quiet_weekend_is_not_a_spike(
    sink: MemorySink, tmp_path: Path
) -> None:
    """Weekdays at $40, weekends at $4: without the weekday correction the
    median of the last 14 days would be dragged down by weekends (it is not,
    with 10 weekdays of 14, but the weekend's own band would be)."""
    workdays(sink, "alice", "40", "4", 28)
    config = with_rules({"name": "users", "group_by": "user_id", "min_increase_usd": 1})
    sunday = MONDAY - timedelta(days=1)
    monday_fired = await judge_at(sink, config, MONDAY + timedelta(days=1), tmp_path)
    sunday_fired = await judge_at(sink, config, sunday + timedelta(hours=23), tmp_path / "b")
    assert [] == monday_fired
    assert [] == sunday_fired


def test_a_weekend_expectation_is_the_weekend_level() -> None:
    history = [Decimal(40)] * 5 + [Decimal(4)] * 2 + [Decimal(40)] * 5 + [Decimal(4)] * 2
    weekdays = [0, 1, 2, 3, 4, 5, 6] * 2
    by_weekday: dict[int, list[Decimal]] = {}
    for weekday, value in zip(weekdays, history, strict=True):
        by_weekday.setdefault(weekday, []).append(value)
    factors = weekday_factors(by_weekday)
    saturday = band(
        history, Decimal(6), factors=[factors[w] for w in weekdays], target_factor=factors[5]
    )
    assert Decimal(4) == saturday.expected.quantize(Decimal(1))
    assert judge(Decimal(30), saturday, Decimal(5), Decimal(5)).anomalous


def test_a_noisy_group_needs_min_increase_before_it_fires() -> None:
    noisy = Band(expected=Decimal("0.50"), low=Decimal(0), high=Decimal("1.00"), history=14)
    assert not judge(Decimal("4.00"), noisy, Decimal(10), Decimal(10)).anomalous
    assert judge(Decimal("12.00"), noisy, Decimal(10), Decimal(10)).anomalous


async def test_an_hourly_rule_fires_for_the_hour_against_the_same_hour_of_past_days(
    sink: MemorySink, tmp_path: Path
) -> None:
    for n in range(1, 15):
        for hour in range(24):
            usd = "5" if 8 <= hour < 18 else "1"
            sink.add(cost((MONDAY - timedelta(days=n)).replace(hour=hour), usd, user="bob"))
    for hour in range(9):
        sink.add(cost(MONDAY.replace(hour=hour), "5" if hour == 8 else "1", user="bob"))
    sink.add(cost(MONDAY.replace(hour=9), "40", user="bob"))
    config = with_rules(
        {"name": "hourly", "group_by": "user_id", "granularity": "hour", "min_increase_usd": 5}
    )
    fired = await judge_at(sink, config, MONDAY.replace(hour=10, minute=5), tmp_path)
    assert [("bob", "hour:2026-11-16T09")] == [(e["group"], e["bucket"]) for e in fired]


async def test_a_rule_on_an_unknown_dimension_fails_alone_and_is_logged_once(
    sink: MemorySink, tmp_path: Path
) -> None:
    workdays(sink, "alice", "10", "3", 20)
    sink.add(cost(MONDAY.replace(hour=9), "200", user="alice", item="spike"))
    config = with_rules(
        {"name": "broken", "group_by": "no_such_dimension"},
        {"name": "users", "group_by": "user_id"},
    )
    capture = CapturingNotifier.create("capture.capture")
    alerts = engine(config, sink, notifier_map(capture), tmp_path / "state")
    with capture_logs() as logs:
        for minutes in (0, 15):
            await alerts.evaluate(MONDAY.replace(hour=12, minute=minutes), {})
    failed = [e for e in logs if e["event"] == "anomaly_evaluation_failed"]
    assert ["broken"] == [e["rule"] for e in failed]
    assert ["alice"] == [e["group"] for e in logs if e["event"] == "Anomaly detected"]
    assert 1 == len(capture.sent)


async def test_the_daemons_bucket_sums_equal_the_benchmarks_hourly_history(
    sink: MemorySink,
) -> None:
    """The evaluator asks per bucket, the benchmark reads one hourly series: both
    must give the same figures, here in Paris across the end of summer time."""
    start = datetime(2026, 10, 20, tzinfo=UTC)
    for hour in range(0, 14 * 24, 5):
        moment = start + timedelta(hours=hour)
        sink.add(cost(moment, f"{1 + hour % 7}.25", user=f"u{hour % 3}", item=str(hour)))
    reader = sink.reader()
    now = datetime(2026, 11, 2, 13, 20, tzinfo=UTC)
    buckets = [
        b
        for granularity in ("day", "hour")
        for judged in judged_buckets(now, granularity, "Europe/Paris")
        for b in (judged, *judged.baseline(10))
    ]

    def query(s: datetime, e: datetime) -> CostQuery:
        return CostQuery(s, e, Basis.BILLED)

    asked = await read_buckets(reader, query, buckets, "Europe/Paris", "user_id")
    series = await reader.series(query(start, now), Granularity.HOUR, "Europe/Paris", by="user_id")
    hourly = HourlyHistory(series)
    assert hourly.groups == asked.groups
    for bucket in buckets:
        for group in [None, *asked.groups]:
            assert hourly.value(group, bucket) == asked.value(group, bucket), (group, bucket)


async def test_repeat_interval_reminds_at_its_pace_with_new_ids(
    sink: MemorySink, tmp_path: Path
) -> None:
    workdays(sink, "alice", "10", "3", 20)
    sink.add(cost(MONDAY.replace(hour=9), "200", user="alice", item="spike"))
    config = with_rules({"name": "users", "group_by": "user_id", "repeat_interval": "1h"})
    capture = CapturingNotifier.create("capture.capture")
    alerts = engine(config, sink, notifier_map(capture), tmp_path / "state")
    for minutes in (0, 30, 61, 90, 125):
        await alerts.evaluate(MONDAY.replace(hour=12) + timedelta(minutes=minutes), {})
    titles = [n.title for n in capture.sent]
    assert 3 == len(titles)
    assert [False, True, True] == ["(reminder)" in t for t in titles]
    assert 3 == len(set(capture.ids))
