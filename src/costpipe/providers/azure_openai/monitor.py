"""Azure Monitor metrics of Azure OpenAI resources -> hourly usage records (pure, no IO).

Source: Azure/azure-rest-api-specs, ``specification/monitor/resource-manager/
Microsoft.Insights/stable/2023-10-01/metrics_API.json`` (operation
``Metrics_List``, ``GET {resourceUri}/providers/Microsoft.Insights/metrics``;
definitions ``Response`` -> ``value[]`` (``Metric``: ``name.value``, ``unit``,
``timeseries[]`` (``TimeSeriesElement``: ``metadatavalues[]`` with
``name.value`` / ``value``, ``data[]`` (``MetricValue``: ``timeStamp``,
``total``, a Number)))). The metric names are Microsoft's "Monitor Azure
OpenAI" reference: ``ProcessedPromptTokens`` (prompt tokens processed),
``GeneratedTokens`` (completion tokens generated), ``AzureOpenAIRequests``
(calls), split by the dimensions ``ModelDeploymentName`` and ``ModelName``.

Mapping (one hourly record per hour, resource and deployment):
``ProcessedPromptTokens`` -> ``uncached_input_tokens`` (the metric does not
split cache reads out, so cached prompt tokens count as uncached input and an
estimate is an upper bound), ``GeneratedTokens`` -> ``output_tokens``,
``AzureOpenAIRequests`` -> ``requests``; ``model`` the ``ModelName``
dimension (the deployment name when absent), ``line_item`` ``deployment
<name>``, ``project_id`` the resource as in :mod:`.decode`. ``total`` must be
a whole, non-negative number of tokens (Azure writes ``1234.0``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec

from costpipe.errors import MalformedDataError
from costpipe.providers.azure_openai.decode import MAX_TEXT, resource_label
from costpipe.providers.typed_json import MAX_COUNT
from costpipe.records import Window

__all__ = [
    "HOUR",
    "METRICS",
    "HourUsage",
    "decode_metrics",
    "metrics_params",
]

HOUR = timedelta(hours=1)
METRICS = ("ProcessedPromptTokens", "GeneratedTokens", "AzureOpenAIRequests")
_FIELD_OF = {
    "processedprompttokens": "prompt",
    "generatedtokens": "generated",
    "azureopenairequests": "requests",
}


class _Name(msgspec.Struct, frozen=True):
    value: str = ""


class _Meta(msgspec.Struct, frozen=True):
    name: _Name = _Name()
    value: str | None = None


class _Point(msgspec.Struct, frozen=True):
    timeStamp: str
    total: Decimal | None = None


class _Series(msgspec.Struct, frozen=True):
    metadatavalues: list[_Meta] = []
    data: list[_Point] = []


class _Metric(msgspec.Struct, frozen=True):
    name: _Name = _Name()
    timeseries: list[_Series] = []


class _Response(msgspec.Struct, frozen=True):
    value: list[_Metric] = []


_DECODER = msgspec.json.Decoder(_Response, float_hook=Decimal)


@dataclass(slots=True)
class HourUsage:
    """The counters of one (hour, deployment) of one resource."""

    start: datetime
    project_id: str
    deployment: str
    model: str
    counts: dict[str, int] = field(default_factory=dict)


def metrics_params(span: Window) -> list[tuple[str, str]]:
    """The ``Metrics_List`` query for *span* (hourly totals by deployment and model)."""
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    return [
        ("metricnames", ",".join(METRICS)),
        ("timespan", f"{span.start.strftime(stamp)}/{span.end.strftime(stamp)}"),
        ("interval", "PT1H"),
        ("aggregation", "Total"),
        ("$filter", "ModelDeploymentName eq '*' and ModelName eq '*'"),
        ("top", "1000"),
    ]


def _count(value: Decimal | None, where: str) -> int:
    if value is None:
        return 0
    if not value.is_finite() or value != value.to_integral_value() or not 0 <= value <= MAX_COUNT:
        raise MalformedDataError(f"{where}: {str(value)[:40]!r} is not a token count")
    return int(value)


def _hour(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text[:40].replace("Z", "+00:00"))
    except ValueError:
        raise MalformedDataError(f"timeStamp {text[:40]!r} is not a date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def decode_metrics(body: bytes, resource_id: str, span: Window) -> list[HourUsage]:
    """The hourly usage in *span* of one ``Metrics_List`` answer."""
    try:
        response = _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedDataError(str(exc)[:300]) from None
    project = resource_label(resource_id)
    usage: dict[tuple[datetime, str], HourUsage] = {}
    for metric in response.value:
        counter = _FIELD_OF.get(metric.name.value.lower())
        if counter is None:
            continue
        for series in metric.timeseries:
            dims = {m.name.value.lower(): (m.value or "")[:MAX_TEXT] for m in series.metadatavalues}
            deployment = dims.get("modeldeploymentname", "")
            model = dims.get("modelname", "") or deployment
            for point in series.data:
                start = _hour(point.timeStamp)
                if start not in span:
                    continue
                count = _count(point.total, f"{metric.name.value} at {point.timeStamp[:40]}")
                if not count:
                    continue
                row = usage.setdefault(
                    (start, deployment), HourUsage(start, project, deployment, model)
                )
                row.counts[counter] = row.counts.get(counter, 0) + count
    return list(usage.values())
