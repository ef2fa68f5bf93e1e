"""Calendar periods in a timezone, and the pure budget assessment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from costpipe.alerts.periods import period_at
from costpipe.alerts.rules import MIN_ELAPSED_FRACTION, assess, budget_amount, forecast

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


def test_month_in_new_york_starts_at_local_midnight() -> None:
    period = period_at("month", datetime(2026, 11, 15, tzinfo=UTC), "America/New_York")
    assert period.start == datetime(2026, 11, 1, 4, tzinfo=UTC)  # EDT until Nov 1 06:00 UTC
    assert period.end == datetime(2026, 12, 1, 5, tzinfo=UTC)  # EST
    assert period.key == "month:2026-11-01"
    assert period.label == "November 2026"


def test_dst_days_are_23_and_25_hours_long() -> None:
    spring = period_at("day", datetime(2026, 3, 29, 12, tzinfo=UTC), "Europe/Paris")
    autumn = period_at("day", datetime(2026, 10, 25, 12, tzinfo=UTC), "Europe/Paris")
    assert (spring.duration, autumn.duration) == (timedelta(hours=23), timedelta(hours=25))


def test_skipped_midnight_starts_at_the_first_existing_instant() -> None:
    """America/Santiago jumped from 00:00 to 01:00 on 2024-09-08."""
    period = period_at("day", datetime(2024, 9, 8, 12, tzinfo=UTC), "America/Santiago")
    assert period.start == datetime(2024, 9, 8, 4, tzinfo=UTC)
    assert period.duration == timedelta(hours=23)


@pytest.mark.parametrize(
    ("week_start", "first_day"),
    [("monday", "2026-11-23"), ("sunday", "2026-11-22"), ("friday", "2026-11-27")],
)
def test_week_start_is_configurable(week_start: str, first_day: str) -> None:
    period = period_at("week", datetime(2026, 11, 27, 12, tzinfo=UTC), "UTC", week_start)
    assert period.first_day.isoformat() == first_day
    assert period.duration == timedelta(days=7)


@given(
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    kind=st.sampled_from(["day", "week", "month"]),
    zone=st.sampled_from(ZONES),
    week_start=st.sampled_from(["monday", "sunday", "wednesday"]),
)
def test_periods_contain_now_and_tile_time(
    moment: datetime, kind: str, zone: str, week_start: str
) -> None:
    """The period of a moment contains it, and the next period starts where it ends."""
    period = period_at(kind, moment, zone, week_start)  # type: ignore[arg-type]
    assert period.start <= moment < period.end
    following = period_at(kind, period.end, zone, week_start)  # type: ignore[arg-type]
    assert following.start == period.end
    assert following.key != period.key


def test_budget_amount_keeps_the_written_form() -> None:
    assert [str(budget_amount(x)) for x in (100.0, 0.1, 1234.56)] == ["100", "0.1", "1234.56"]


def test_thresholds_are_reached_at_exactly_the_percentage() -> None:
    period = period_at("month", datetime(2026, 11, 15, tzinfo=UTC))
    now = datetime(2026, 11, 15, tzinfo=UTC)
    status = assess("", Decimal("80.00"), Decimal(100), [50, 80, 100], period, now, False)
    assert status.crossed == (50, 80)
    below = assess("", Decimal("79.999"), Decimal(100), [50, 80, 100], period, now, False)
    assert below.crossed == (50,)


def test_forecast_needs_a_minimum_share_of_the_period() -> None:
    period = period_at("day", datetime(2026, 11, 15, tzinfo=UTC))
    too_early = period.start + timedelta(hours=2)  # 8 % of the day
    assert forecast(Decimal(50), Decimal(100), period, too_early) is None
    enough = period.start + period.duration * float(MIN_ELAPSED_FRACTION)
    result = forecast(Decimal(50), Decimal(100), period, enough)
    assert result is not None
    assert result.projected_usd == Decimal("500.00")
    assert result.exhaustion == period.start + timedelta(hours=4, minutes=48)


def test_forecast_has_no_exhaustion_beyond_the_period() -> None:
    period = period_at("month", datetime(2026, 11, 15, tzinfo=UTC))
    result = forecast(Decimal(30), Decimal(100), period, datetime(2026, 11, 16, tzinfo=UTC))
    assert result is not None
    assert result.projected_usd == Decimal("60.00")
    assert result.exhaustion is None
