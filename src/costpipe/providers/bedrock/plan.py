"""The AWS requests one window needs (no IO), shaped as botocore's models define
their input members (``GetCostAndUsageRequest``, ``GetDimensionValuesRequest``,
``GetMetricDataInput``, ``ListMetricsInput``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from costpipe.providers.bedrock.decode import METRIC_FIELDS
from costpipe.records import Window

__all__ = [
    "COST_PIECE",
    "METRIC_PIECE",
    "QUERIES_PER_CALL",
    "cost_and_usage",
    "list_models",
    "metric_queries",
    "service_search",
]

NAMESPACE = "AWS/Bedrock"
#: Cost Explorer pieces: a month of days, or a week of hours (HOURLY keeps 14 days).
COST_PIECE = {"DAILY": timedelta(days=31), "HOURLY": timedelta(days=7)}
#: GetMetricData takes at most 500 queries and returns at most 100,800 data
#: points per call: 500 queries of a week of hours is 84,000.
QUERIES_PER_CALL = 500
METRIC_PIECE = timedelta(days=7)


def _period(piece: Window, granularity: str) -> dict[str, str]:
    if granularity == "HOURLY":
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        return {"Start": piece.start.strftime(fmt), "End": piece.end.strftime(fmt)}
    return {"Start": piece.start.date().isoformat(), "End": piece.end.date().isoformat()}


def service_search(span: Window) -> dict[str, Any]:
    """``GetDimensionValues`` of SERVICE containing "Bedrock" (Amazon Bedrock and
    the Marketplace "... (Amazon Bedrock Edition)" services) over *span*'s days."""
    first = span.start.date()
    last = (span.end - timedelta(microseconds=1)).date() + timedelta(days=1)
    return {
        "TimePeriod": {"Start": first.isoformat(), "End": last.isoformat()},
        "Dimension": "SERVICE",
        "SearchString": "Bedrock",
        "Context": "COST_AND_USAGE",
    }


def cost_and_usage(
    piece: Window, *, granularity: str, metric: str, service: str, tag: str | None
) -> dict[str, Any]:
    """``GetCostAndUsage`` of one service, by usage type and account (or *tag*)."""
    owner = {"Type": "TAG", "Key": tag} if tag else {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}
    return {
        "TimePeriod": _period(piece, granularity),
        "Granularity": granularity,
        "Metrics": [metric],
        "Filter": {"Dimensions": {"Key": "SERVICE", "Values": [service]}},
        "GroupBy": [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}, owner],
    }


def list_models() -> dict[str, Any]:
    """``ListMetrics`` of ``Invocations`` by ``ModelId``: which models have metrics."""
    return {
        "Namespace": NAMESPACE,
        "MetricName": "Invocations",
        "Dimensions": [{"Name": "ModelId"}],
    }


def metric_queries(
    models: Sequence[str], piece: Window
) -> list[tuple[dict[str, Any], dict[str, tuple[str, str]]]]:
    """``GetMetricData`` calls (hourly Sums) for *models* over *piece*, each with
    its query Id -> (ModelId, metric) map; at most 500 queries a call."""
    queries: list[tuple[str, dict[str, Any], tuple[str, str]]] = []
    for number, model in enumerate(models):
        for index, metric in enumerate(METRIC_FIELDS):
            stat = {
                "Metric": {
                    "Namespace": NAMESPACE,
                    "MetricName": metric,
                    "Dimensions": [{"Name": "ModelId", "Value": model}],
                },
                "Period": 3600,
                "Stat": "Sum",
            }
            query_id = f"m{number}_{index}"
            queries.append((query_id, {"Id": query_id, "MetricStat": stat}, (model, metric)))
    calls = []
    for first in range(0, len(queries), QUERIES_PER_CALL):
        chunk = queries[first : first + QUERIES_PER_CALL]
        params = {
            "MetricDataQueries": [query for _, query, _ in chunk],
            "StartTime": piece.start,
            "EndTime": piece.end,
            "ScanBy": "TimestampAscending",
        }
        calls.append((params, {query_id: key for query_id, _, key in chunk}))
    return calls
