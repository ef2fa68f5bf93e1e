"""Which requests a window needs from Anthropic's Admin API reports (no IO).

Fetching ``[a, b)`` requests the complete buckets ending in ``(a, b]`` (see
:mod:`costpipe.providers.planning`), costs first, in pieces of one page's worth
of buckets; times are RFC 3339 (``...Z``) and array parameters use brackets
(``group_by[]=model&group_by[]=...``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from costpipe.providers.anthropic.decode import COSTS, USAGE_ENDPOINTS
from costpipe.providers.bucketed import Endpoint
from costpipe.providers.planning import WIDTHS, aligned_range
from costpipe.records import Window

__all__ = ["COST_PAGE_LIMIT", "USAGE_PAGE_LIMITS", "Request", "plan", "rfc3339"]

COST_PAGE_LIMIT = 31
USAGE_PAGE_LIMITS = {"1d": 31, "1h": 168, "1m": 1440}


@dataclass(frozen=True, slots=True)
class Request:
    """One request: its endpoint, query parameters and the buckets it asks for."""

    endpoint: Endpoint[Any]
    params: list[tuple[str, str]]
    span: Window


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan(window: Window, now: datetime, *, bucket_width: str) -> list[Request]:
    """Every request to fetch for *window*: the cost report, then each usage endpoint."""
    requests: list[Request] = []
    day = WIDTHS["1d"]
    span = aligned_range(window, day, now)
    if span is not None:
        for piece in span.split(day * COST_PAGE_LIMIT):
            requests.append(Request(COSTS, _params(piece, "1d", day, COSTS.group_by), piece))
    width = WIDTHS[bucket_width]
    span = aligned_range(window, width, now)
    if span is not None:
        for endpoint in USAGE_ENDPOINTS:
            for piece in span.split(width * USAGE_PAGE_LIMITS[bucket_width]):
                params = _params(piece, bucket_width, width, endpoint.group_by)
                requests.append(Request(endpoint, params, piece))
    return requests


def _params(
    piece: Window, width_name: str, width: timedelta, groups: tuple[str, ...]
) -> list[tuple[str, str]]:
    return [
        ("starting_at", rfc3339(piece.start)),
        ("ending_at", rfc3339(piece.end)),
        ("bucket_width", width_name),
        ("limit", str(max(1, -(-piece.duration // width)))),
        *[("group_by[]", g) for g in groups],
    ]
