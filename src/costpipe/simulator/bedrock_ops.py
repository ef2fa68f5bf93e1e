"""The four AWS operations the Bedrock fake answers, on decoded input members
(botocore's shapes: ``GetCostAndUsageRequest``, ``GetDimensionValuesRequest``,
``ListMetricsInput``, ``GetMetricDataInput``), returning output members.

Pages are small on purpose (seven groups, two services, four metrics, a
hundred data points), so every client pages. A Cost Explorer page token binds
the request's other parameters and the data's revision: botocore's model
documents ``RequestChangedException`` as "Your request parameters changed
between pages"; the fake also answers it when the data was revised between
pages, so a client must be right under both readings (start over).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, date, datetime
from typing import Any

from costpipe.simulator.bedrock_world import (
    ACCOUNTS,
    METRICS,
    MODEL_IDS,
    SERVICES,
    BedrockWorld,
    iso_hour,
)

__all__ = ["CE_GROUPS_PER_PAGE", "AwsFault", "answer"]

CE_GROUPS_PER_PAGE = 7
SERVICES_PER_PAGE = 2
METRICS_PER_PAGE = 4
POINTS_PER_PAGE = 100
_ID = re.compile(r"^[a-z][A-Za-z0-9_]{0,254}$")


class AwsFault(Exception):
    """An error answer: its code (``ValidationException``) and message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _digest(request: dict[str, Any]) -> str:
    rest = {k: v for k, v in request.items() if k not in ("NextPageToken", "NextToken")}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _token(offset: int, revision: int, request: dict[str, Any] | None = None) -> str:
    bound = [offset, revision, _digest(request) if request is not None else ""]
    return base64.urlsafe_b64encode(json.dumps(bound).encode()).decode()


def _offset(token: object, world: BedrockWorld, changed: str | None,
            request: dict[str, Any] | None = None) -> int:  # fmt: skip
    if token is None:
        return 0
    try:
        offset, revision, digest = json.loads(base64.urlsafe_b64decode(str(token)))
    except ValueError:
        raise AwsFault("InvalidNextTokenException", "The NextToken is invalid") from None
    if changed is not None and request is not None and digest != _digest(request):
        raise AwsFault(changed, "Your request parameters changed between pages.")
    if changed is not None and revision != world.revision:
        raise AwsFault(changed, "The data changed since the first page; start over")
    return int(offset)


def _day_or_instant(text: object, hourly: bool) -> int:
    value = str(text)
    try:
        if hourly:
            return int(
                datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
            )
        return int(
            datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC).timestamp()
        )
    except ValueError:
        raise AwsFault("ValidationException", f"Invalid date {value[:30]!r}") from None


def _period(request: dict[str, Any], hourly: bool) -> tuple[int, int]:
    period = request.get("TimePeriod") or {}
    start = _day_or_instant(period.get("Start"), hourly)
    end = _day_or_instant(period.get("End"), hourly)
    if end <= start:
        raise AwsFault("ValidationException", "Start date must be before end date")
    return start, end


def _services_filter(request: dict[str, Any]) -> list[str]:
    dims = (request.get("Filter") or {}).get("Dimensions") or {}
    if dims.get("Key") != "SERVICE" or not dims.get("Values"):
        raise AwsFault("ValidationException", "this fake needs a SERVICE Dimensions filter")
    return [str(v) for v in dims["Values"]]


def _stamp(moment: int, hourly: bool) -> str:
    return iso_hour(moment) if hourly else iso_hour(moment)[:10]


def get_cost_and_usage(world: BedrockWorld, request: dict[str, Any], now: int) -> dict[str, Any]:
    granularity = request.get("Granularity")
    if granularity not in ("DAILY", "HOURLY"):
        raise AwsFault("ValidationException", f"Granularity {granularity!r} is not supported")
    hourly = granularity == "HOURLY"
    start, end = _period(request, hourly)
    metrics = request.get("Metrics") or []
    if not metrics:
        raise AwsFault("ValidationException", "Metrics is required")
    group_by = request.get("GroupBy") or []
    if len(group_by) != 2 or group_by[0] != {"Type": "DIMENSION", "Key": "USAGE_TYPE"}:
        raise AwsFault("ValidationException", "this fake groups by USAGE_TYPE and one more key")
    owner = group_by[1]
    tagged = owner.get("Type") == "TAG"
    services = _services_filter(request)
    step = 3600 if hourly else 86400
    items: list[tuple[int, list[str] | None, str]] = []
    for moment in range(start, end, step):
        groups = [
            ([usage_type, f"{owner['Key']}$team-{account[-4:]}" if tagged else account], amount)
            for service in services
            for usage_type in SERVICES.get(service, ())
            for account in ACCOUNTS
            if (amount := world.amount(service, usage_type, account, moment, moment + step, now))
        ]
        items += [
            (moment, keys, "1,5" if keys[0] == world.corrupt_usage_type else str(amount))
            for keys, amount in groups
        ] or [(moment, None, "")]
    offset = _offset(request.get("NextPageToken"), world, "RequestChangedException", request)
    page = items[offset : offset + CE_GROUPS_PER_PAGE]
    results: list[dict[str, Any]] = []
    for moment, keys, text in page:
        if not results or results[-1]["_at"] != moment:
            results.append(
                {
                    "_at": moment,
                    "TimePeriod": {
                        "Start": _stamp(moment, hourly),
                        "End": _stamp(moment + step, hourly),
                    },
                    "Total": {},
                    "Groups": [],
                    "Estimated": moment + step > now - 2 * 86400,
                }
            )
        if keys is not None:
            metric_values = {m: {"Amount": text, "Unit": "USD"} for m in metrics}
            results[-1]["Groups"].append({"Keys": keys, "Metrics": metric_values})
    for result in results:
        del result["_at"]
    answer: dict[str, Any] = {
        "GroupDefinitions": group_by,
        "ResultsByTime": results,
        "DimensionValueAttributes": [],
    }
    if offset + CE_GROUPS_PER_PAGE < len(items):
        answer["NextPageToken"] = _token(offset + CE_GROUPS_PER_PAGE, world.revision, request)
    return answer


def get_dimension_values(world: BedrockWorld, request: dict[str, Any], now: int) -> dict[str, Any]:
    if request.get("Dimension") != "SERVICE":
        raise AwsFault("ValidationException", "this fake knows the SERVICE dimension only")
    start, end = _period(request, hourly=False)
    search = str(request.get("SearchString") or "").lower()
    names = [
        name
        for name, usage_types in SERVICES.items()
        if search in name.lower()
        and any(world.amount(name, u, a, start, end, now) for u in usage_types for a in ACCOUNTS)
    ]
    offset = _offset(request.get("NextPageToken"), world, None)
    page = names[offset : offset + SERVICES_PER_PAGE]
    answer: dict[str, Any] = {
        "DimensionValues": [{"Value": name, "Attributes": {}} for name in page],
        "ReturnSize": len(page),
        "TotalSize": len(names),
    }
    if offset + SERVICES_PER_PAGE < len(names):
        answer["NextPageToken"] = _token(offset + SERVICES_PER_PAGE, world.revision)
    return answer


def list_metrics(world: BedrockWorld, request: dict[str, Any], now: int) -> dict[str, Any]:
    if request.get("Namespace") != "AWS/Bedrock":
        return {"Metrics": []}
    wanted = request.get("MetricName")
    found = [
        {"Namespace": "AWS/Bedrock", "MetricName": metric,
         "Dimensions": [{"Name": "ModelId", "Value": model}]}
        for model in MODEL_IDS
        for metric in METRICS
        if wanted in (None, metric)
    ]  # fmt: skip
    offset = _offset(request.get("NextToken"), world, None)
    answer: dict[str, Any] = {"Metrics": found[offset : offset + METRICS_PER_PAGE]}
    if offset + METRICS_PER_PAGE < len(found):
        answer["NextToken"] = _token(offset + METRICS_PER_PAGE, world.revision)
    return answer


def _query_points(world: BedrockWorld, query: dict[str, Any], start: int, end: int,
                  now: int) -> list[tuple[int, int]]:  # fmt: skip
    query_id = str(query.get("Id", ""))
    if not _ID.match(query_id):
        raise AwsFault("ValidationException", f"Invalid Id {query_id[:40]!r}")
    stat = query.get("MetricStat") or {}
    metric = stat.get("Metric") or {}
    if stat.get("Stat") != "Sum" or int(stat.get("Period", 0)) % 3600:
        raise AwsFault("ValidationException", "this fake serves hourly Sums")
    dims = {d.get("Name"): d.get("Value") for d in metric.get("Dimensions") or []}
    model = dims.get("ModelId")
    if metric.get("Namespace") != "AWS/Bedrock" or model not in MODEL_IDS:
        return []
    if metric.get("MetricName") not in METRICS:
        return []
    first = -(-start // 3600) * 3600
    return [
        (hour, value)
        for hour in range(first, end, 3600)
        if (value := world.metric_sum(model, metric["MetricName"], hour, now)) is not None
    ]


def get_metric_data(world: BedrockWorld, request: dict[str, Any], now: int) -> dict[str, Any]:
    queries = request.get("MetricDataQueries") or []
    if not 0 < len(queries) <= 500:
        raise AwsFault("ValidationException", "MetricDataQueries must hold 1 to 500 queries")
    start, end = int(request["StartTime"]), int(request["EndTime"])
    if end <= start:
        raise AwsFault("ValidationException", "The parameter StartTime must be before EndTime")
    if len({q.get("Id") for q in queries}) != len(queries):
        raise AwsFault("ValidationException", "Query Ids must be unique")
    points = [
        (str(q["Id"]), hour, value)
        for q in queries
        for hour, value in _query_points(world, q, start, end, now)
    ]
    offset = _offset(request.get("NextToken"), world, None)
    page = points[offset : offset + POINTS_PER_PAGE]
    more = offset + POINTS_PER_PAGE < len(points)
    results: dict[str, dict[str, Any]] = {}
    for query_id, hour, value in page:
        result = results.setdefault(
            query_id,
            {"Id": query_id, "Label": query_id, "Timestamps": [], "Values": [],
             "StatusCode": "Complete"},
        )  # fmt: skip
        result["Timestamps"].append(hour)
        result["Values"].append(float(value))
    if more and page:
        results[page[-1][0]]["StatusCode"] = "PartialData"
    answer: dict[str, Any] = {"MetricDataResults": list(results.values()), "Messages": []}
    if more:
        answer["NextToken"] = _token(offset + POINTS_PER_PAGE, world.revision)
    return answer


OPERATIONS = {
    ("ce", "GetCostAndUsage"): get_cost_and_usage,
    ("ce", "GetDimensionValues"): get_dimension_values,
    ("cloudwatch", "ListMetrics"): list_metrics,
    ("cloudwatch", "GetMetricData"): get_metric_data,
}


def answer(world: BedrockWorld, service: str, operation: str, request: dict[str, Any],
           now: int) -> dict[str, Any]:  # fmt: skip
    """The output members of *operation*, or an :class:`AwsFault`."""
    handler = OPERATIONS.get((service, operation))
    if handler is None:
        raise AwsFault("UnknownOperationException", f"{operation} is not served here")
    return handler(world, request, now)
