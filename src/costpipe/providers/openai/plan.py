"""Which requests a window needs from OpenAI's Costs and Usage APIs (no IO).

Fetching ``[a, b)`` requests the complete buckets ending in ``(a, b]`` (see
:mod:`costpipe.providers.planning`), costs first, in pieces of one page's worth
of buckets, so that a malformed page costs at most one piece. Array parameters
are repeated keys (``group_by=model&group_by=...``). Every usage endpoint of the
spec takes ``bucket_width`` ``1m``/``1h``/``1d`` with the same ``limit``
defaults and maxima (60/1440, 24/168, 7/31); the usage endpoints requested are
the configured ones, in :data:`~costpipe.providers.openai.decode.ENDPOINTS`
order, and vector stores are always daily (a gauge stored as byte-days).

Usage pieces are not the maxima for ``1h`` and ``1m`` but the spec's defaults
(:data:`USAGE_PIECE_BUCKETS`): a page's body, its decoded rows and its records
are what a pass holds at its peak, and a week of hourly buckets of a busy
organisation is about 50k rows (tens of MiB). A day of hours (an hour of
minutes) keeps a page a seventh of that for the same number of rows fetched,
at one request per day of hours instead of per week.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from costpipe.providers.bucketed import Endpoint
from costpipe.providers.openai.decode import COSTS, DAILY_ENDPOINTS, ENDPOINTS
from costpipe.providers.planning import WIDTHS, aligned_range
from costpipe.records import Window

__all__ = ["COSTS_PAGE_LIMIT", "USAGE_PAGE_LIMITS", "USAGE_PIECE_BUCKETS", "Request", "plan"]

#: Most buckets one page may hold, by endpoint and width (the API's maxima).
COSTS_PAGE_LIMIT = 180
USAGE_PAGE_LIMITS = {"1d": 31, "1h": 168, "1m": 1440}
#: Buckets costpipe asks for per usage page (the ``limit`` of a whole piece):
#: daily the maximum, hourly and by the minute the spec's default ``limit``
#: (openapi.yaml, ``/organization/usage/*``: "1h: default: 24, max: 168",
#: "1m: default: 60, max: 1440"), which bounds a page's memory (see above).
USAGE_PIECE_BUCKETS = {"1d": 31, "1h": 24, "1m": 60}


@dataclass(frozen=True, slots=True)
class Request:
    """One request: its endpoint, query parameters and the buckets it asks for."""

    endpoint: Endpoint[Any]
    params: list[tuple[str, str]]
    span: Window


def plan(
    window: Window,
    now: datetime,
    *,
    bucket_width: str,
    project_ids: list[str],
    cost_group_by_api_key: bool,
    usage_endpoints: Collection[str] | None = None,
) -> list[Request]:
    """Every request to fetch for *window*, costs first, then each usage endpoint
    (those named in *usage_endpoints*, every one when None)."""
    requests: list[Request] = []
    projects = [("project_ids", p) for p in project_ids]
    day = WIDTHS["1d"]
    span = aligned_range(window, day, now)
    if span is not None:
        groups = [g for g in COSTS.group_by if cost_group_by_api_key or g != "api_key_id"]
        for piece in span.split(day * COSTS_PAGE_LIMIT):
            params = _params(piece, "1d", day, groups, projects)
            requests.append(Request(COSTS, params, piece))

    for name, endpoint in ENDPOINTS.items():
        if usage_endpoints is not None and name not in usage_endpoints:
            continue
        width_name = "1d" if name in DAILY_ENDPOINTS else bucket_width
        width = WIDTHS[width_name]
        span = aligned_range(window, width, now)
        if span is None:
            continue
        for piece in span.split(width * USAGE_PIECE_BUCKETS[width_name]):
            params = _params(piece, width_name, width, endpoint.group_by, projects)
            requests.append(Request(endpoint, params, piece))
    return requests


def _params(
    piece: Window,
    width_name: str,
    width: timedelta,
    groups: tuple[str, ...] | list[str],
    projects: list[tuple[str, str]],
) -> list[tuple[str, str]]:
    return [
        ("start_time", str(int(piece.start.timestamp()))),
        ("end_time", str(int(piece.end.timestamp()))),
        ("bucket_width", width_name),
        ("limit", str(max(1, -(-piece.duration // width)))),
        *[("group_by", g) for g in groups],
        *projects,
    ]
