"""Date-range presets on the configured zone's wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from costpipe.dashboard.periods import Preset, preset_range

BERLIN = "Europe/Berlin"


def test_today_starts_at_local_midnight_and_compares_with_yesterday_until_the_same_hour() -> None:
    now = datetime(2026, 11, 4, 13, 30, tzinfo=UTC)  # 14:30 in Berlin (CET, +1)
    span = preset_range(Preset.TODAY, now, BERLIN)
    assert datetime(2026, 11, 3, 23, 0, tzinfo=UTC) == span.start
    assert now == span.end
    assert datetime(2026, 11, 2, 23, 0, tzinfo=UTC) == span.previous_start
    assert datetime(2026, 11, 3, 13, 30, tzinfo=UTC) == span.previous_end


def test_last_7_days_are_seven_calendar_days_including_today_across_dst() -> None:
    # DST ended in Berlin on 2026-10-25: the previous range straddles it.
    now = datetime(2026, 10, 28, 12, 0, tzinfo=UTC)
    span = preset_range(Preset.LAST_7_DAYS, now, BERLIN)
    assert datetime(2026, 10, 21, 22, 0, tzinfo=UTC) == span.start  # 22 Oct 00:00 CEST
    assert datetime(2026, 10, 14, 22, 0, tzinfo=UTC) == span.previous_start
    # Same wall-clock time a week earlier: 13:00 CET now, 13:00 CEST then.
    assert datetime(2026, 10, 21, 11, 0, tzinfo=UTC) == span.previous_end


def test_month_to_date_compares_with_the_previous_month_up_to_the_same_day() -> None:
    now = datetime(2026, 3, 31, 10, 0, tzinfo=UTC)
    span = preset_range(Preset.MONTH_TO_DATE, now, "UTC")
    assert datetime(2026, 3, 1, tzinfo=UTC) == span.start
    assert datetime(2026, 2, 1, tzinfo=UTC) == span.previous_start
    # February has no 31st: the comparison is clamped to its last day.
    assert datetime(2026, 2, 28, 10, 0, tzinfo=UTC) == span.previous_end


def test_last_month_is_the_whole_previous_calendar_month_in_the_zone() -> None:
    now = datetime(2026, 1, 10, tzinfo=UTC)
    span = preset_range(Preset.LAST_MONTH, now, "America/New_York")
    assert datetime(2025, 12, 1, 5, 0, tzinfo=UTC) == span.start
    assert datetime(2026, 1, 1, 5, 0, tzinfo=UTC) == span.end
    assert datetime(2025, 11, 1, 4, 0, tzinfo=UTC) == span.previous_start  # EDT until 2 Nov
    assert span.start == span.previous_end


@pytest.mark.parametrize("preset", list(Preset))
def test_every_preset_is_a_non_empty_range_after_its_comparison(preset: Preset) -> None:
    now = datetime(2026, 11, 4, 0, 30, tzinfo=UTC)
    span = preset_range(preset, now, "Asia/Kolkata")
    assert span.start < span.end <= now
    assert span.previous_start < span.previous_end <= span.start


def test_last_90_days_covers_ninety_local_days_ending_now() -> None:
    now = datetime(2026, 11, 18, 14, 20, tzinfo=UTC)
    span = preset_range(Preset.LAST_90_DAYS, now, BERLIN)
    assert datetime(2026, 8, 20, 22, 0, tzinfo=UTC) == span.start  # 21 Aug, Berlin midnight (CEST)
    assert now == span.end
    assert span.start - timedelta(days=90) == span.previous_start


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
def test_month_to_date_and_the_monthly_budget_share_their_local_midnights(zone: str) -> None:
    """One local-midnight helper for alerts and dashboard: across DST changes the
    dashboard's month and the budget period start and end at the same instants."""
    from costpipe.alerts.periods import period_at

    for now in (
        datetime(2026, 3, 31, 12, tzinfo=UTC),
        datetime(2026, 11, 1, 12, tzinfo=UTC),
        datetime(2026, 4, 5, 12, tzinfo=UTC),
    ):
        period = period_at("month", now, zone)
        span = preset_range(Preset.MONTH_TO_DATE, now, zone)
        assert period.start == span.start
        last = preset_range(Preset.LAST_MONTH, period.end + timedelta(hours=1), zone)
        assert (period.start, period.end) == (last.start, last.end)
