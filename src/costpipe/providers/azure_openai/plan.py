"""The Cost Management Query requests for a window (no IO).

Only completed UTC days are asked for (Cost Management's daily rows are
revised until the day is over, and for up to 72 hours after: re-reading the
lookback picks the revisions up). The API's ``timePeriod.to`` is inclusive, so
a span ``[a, b)`` is sent as ``from a`` ``to b - 1 s``; a long span is cut into
pieces of :data:`MAX_SPAN_DAYS` so that one query stays well inside the
service's one-year range limit and one piece's pages stay few.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from costpipe.providers.azure_openai.decode import DAY
from costpipe.providers.planning import aligned_range
from costpipe.records import Window

__all__ = ["MAX_SPAN_DAYS", "QUERY_PATH", "plan_spans", "query_body"]

QUERY_PATH = "/providers/Microsoft.CostManagement/query"
MAX_SPAN_DAYS = 31


def plan_spans(window: Window, now: datetime) -> list[Window]:
    """The completed-day spans to query for *window* (empty: nothing to ask)."""
    span = aligned_range(window, DAY, now)
    return [] if span is None else span.split(MAX_SPAN_DAYS * DAY)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def query_body(span: Window, service_names: Sequence[str]) -> dict[str, object]:
    """``ActualCost``, daily, by resource and meter, for the services named."""
    return {
        "type": "ActualCost",
        "timeframe": "Custom",
        "timePeriod": {
            "from": _stamp(span.start),
            "to": _stamp(span.end - timedelta(seconds=1)),
        },
        "dataset": {
            "granularity": "Daily",
            "aggregation": {
                "totalCost": {"name": "Cost", "function": "Sum"},
                "totalCostUSD": {"name": "CostUSD", "function": "Sum"},
            },
            "grouping": [
                {"type": "Dimension", "name": "ResourceId"},
                {"type": "Dimension", "name": "MeterName"},
            ],
            "filter": {
                "dimensions": {
                    "name": "ServiceName",
                    "operator": "In",
                    "values": list(service_names),
                }
            },
        },
    }
