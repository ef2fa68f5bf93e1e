"""msgspec types of the AWS answers the Bedrock provider reads.

Mirrors botocore's service models (``botocore/data/ce/2017-10-25/service-2.json``:
``GetCostAndUsageResponse``, ``GetDimensionValuesResponse``; and
``botocore/data/cloudwatch/2010-08-01/service-2.json``, endpoint prefix
``monitoring``: ``GetMetricDataOutput``, ``ListMetricsOutput``). The SDK has
already parsed the wire format (JSON 1.1, or JSON 1.0 / query / CBOR for
CloudWatch, whichever the installed botocore picks); these types check the
shapes and bound the counts, because provider data is untrusted.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

__all__ = [
    "CostAndUsagePage",
    "DimensionValuesPage",
    "Group",
    "ListMetricsPage",
    "MetricDataPage",
    "MetricDataResult",
    "MetricValue",
    "ResultByTime",
]


class _Shape(msgspec.Struct, rename="pascal", forbid_unknown_fields=False):
    """AWS members are PascalCase; unknown members are ignored (the API grows)."""


class MetricValue(_Shape):
    """``MetricValue``: ``Amount`` is a decimal string, ``Unit`` ``USD`` for money."""

    amount: str
    unit: str = ""


class DateInterval(_Shape):
    """``DateInterval``: ``YYYY-MM-DD`` (DAILY) or ``YYYY-MM-DDThh:mm:ssZ`` (HOURLY)."""

    start: str
    end: str


class Group(_Shape):
    """``Group``: the values of the GroupBy keys, in request order, and metrics."""

    keys: list[str] = []
    metrics: dict[str, MetricValue] = {}


class ResultByTime(_Shape):
    """``ResultByTime``: one time period; a period's groups may span pages."""

    time_period: DateInterval
    groups: list[Group] = []
    estimated: bool = False


class CostAndUsagePage(_Shape):
    """``GetCostAndUsageResponse``."""

    results_by_time: list[ResultByTime] = []
    next_page_token: str | None = None


class DimensionValue(_Shape):
    value: str


class DimensionValuesPage(_Shape):
    """``GetDimensionValuesResponse``."""

    dimension_values: list[DimensionValue] = []
    next_page_token: str | None = None


class MetricDataResult(_Shape):
    """``MetricDataResult``: ``Timestamps[i]`` goes with ``Values[i]``."""

    id: str
    timestamps: list[datetime] = []
    values: list[float] = []
    status_code: str = "Complete"


class MetricDataPage(_Shape):
    """``GetMetricDataOutput``."""

    metric_data_results: list[MetricDataResult] = []
    next_token: str | None = None


class Dimension(_Shape):
    name: str
    value: str


class Metric(_Shape):
    metric_name: str = ""
    dimensions: list[Dimension] = []


class ListMetricsPage(_Shape):
    """``ListMetricsOutput``."""

    metrics: list[Metric] = []
    next_token: str | None = None
