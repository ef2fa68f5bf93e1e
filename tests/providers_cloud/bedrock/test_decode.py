"""The decoders on hand-written answers in botocore's parsed shapes: both
TimePeriod forms, tag group keys, and untrusted values refused with their path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from costpipe.errors import MalformedDataError
from costpipe.providers.bedrock.decode import add_metric_data, billed_records
from costpipe.providers.bedrock.schema import MetricDataResult
from costpipe.records import Window

DAY = Window(datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC))


def page(start: str, end: str, amount: str = "1.000000001", unit: str = "USD",
         keys: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    group = {"Keys": keys or ["USE1-NovaPro-input-tokens", "111122223333"],
             "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": unit}}}  # fmt: skip
    period = {"TimePeriod": {"Start": start, "End": end}, "Groups": [group], "Estimated": True}
    return {"ResultsByTime": [period], "NextPageToken": "t"}


def decode(raw: dict[str, Any], tag: str | None = None, span: Window = DAY) -> list[Any]:
    return billed_records(
        raw, service="Amazon Bedrock", metric="UnblendedCost", account="a", span=span, tag=tag
    )


def test_daily_and_hourly_periods() -> None:
    (daily,) = decode(page("2026-11-15", "2026-11-16"))
    assert (daily.start, daily.width, daily.cost_usd) == (
        DAY.start, timedelta(days=1), Decimal("1.000000001"))  # fmt: skip
    assert (daily.model, daily.project_id) == ("NovaPro", "111122223333")
    (hourly,) = decode(page("2026-11-15T03:00:00Z", "2026-11-15T04:00:00Z"))
    assert hourly.start == DAY.start + timedelta(hours=3)
    assert hourly.width == timedelta(hours=1)


def test_tag_groups_keep_the_value_and_untagged_is_empty() -> None:
    (tagged,) = decode(
        page("2026-11-15", "2026-11-16", keys=["USE1-X-input-tokens", "team$ml"]), "team"
    )
    (untagged,) = decode(
        page("2026-11-15", "2026-11-16", keys=["USE1-X-input-tokens", "team$"]), "team"
    )
    assert (tagged.project_id, untagged.project_id) == ("ml", "")


def test_a_period_outside_the_span_is_not_this_windows() -> None:
    assert decode(page("2026-11-16", "2026-11-17")) == []


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (page("2026-11-15", "2026-11-16", amount="NaN"), "out of range"),
        (page("2026-11-15", "2026-11-16", amount="1e13"), "out of range"),
        (page("2026-11-15", "2026-11-16", amount="12,5"), "not a number"),
        (page("2026-11-15", "2026-11-16", unit="EUR"), "not USD"),
        (page("2026-11-15", "2026-11-18"), "a period of"),
        (page("15/11/2026", "2026-11-16"), "not a date"),
        (page("2026-11-15", "2026-11-16", keys=["only-one"]), "1 keys"),
        ({"ResultsByTime": [{"TimePeriod": "x"}]}, "GetCostAndUsage"),
    ],
)
def test_untrusted_values_are_refused(raw: dict[str, Any], reason: str) -> None:
    with pytest.raises(MalformedDataError, match=reason):
        decode(raw)


def test_metric_data_must_pair_timestamps_with_whole_counts() -> None:
    hour = DAY.start
    queries = {"m0_0": ("amazon.nova-pro-v1:0", "InputTokenCount")}
    totals: dict[Any, dict[str, int]] = {}
    add_metric_data(totals, [MetricDataResult("m0_0", [hour, hour], [3.0, 4.0])], queries, DAY)
    assert totals == {(hour, "amazon.nova-pro-v1:0"): {"uncached_input_tokens": 7}}
    for bad in (
        MetricDataResult("m0_0", [hour], [1.5]),
        MetricDataResult("m0_0", [hour], [-1.0]),
        MetricDataResult("m0_0", [hour, hour], [1.0]),
        MetricDataResult("zz", [hour], [1.0]),
    ):
        with pytest.raises(MalformedDataError):
            add_metric_data({}, [bad], queries, DAY)
