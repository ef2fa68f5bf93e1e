"""Which requests a window needs from Anthropic's Admin API reports (no IO).

Fetching ``[a, b)`` requests the complete buckets ending in ``(a, b]`` (see
:mod:`costpipe.providers.planning`), costs first, in pieces of one page's worth
of buckets; times are RFC 3339 (``...Z``) and array parameters use brackets
(``group_by[]=model&group_by[]=...``).

``ending_at`` is documented as "Time buckets that end before this RFC 3339
timestamp will be returned" (Admin API reference, usage report and cost report),
while the Usage and Cost API guide's quick start asks ``starting_at=01-08,
ending_at=01-15, bucket_width=1d`` for "the last 7 days", i.e. reads it as "end
at or before". To be right under both readings, a piece of *n* buckets asks for
one bucket more: ``ending_at`` = the piece's end + one width and ``limit`` =
*n* + 1. A strict server then returns exactly the *n* buckets, an inclusive one
*n* + 1, and the extra one (outside the piece) is dropped by the decoder, so
each piece is still one request, and its ``limit`` never exceeds the documented
maximum (31/168/1440 for ``1d``/``1h``/``1m``).

Usage pieces (:data:`USAGE_PIECE_BUCKETS`) are a day of hours and an hour of
minutes (the reference's default ``limit``, 24 and 60), not a week of hours: a
page's body, its decoded rows and its records are what a pass holds at its
peak, so a smaller page bounds a backfill's memory, at the cost of more
requests (one per day of hours instead of one per week).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from costpipe.providers.anthropic.decode import COSTS, USAGE_ENDPOINTS
from costpipe.providers.bucketed import Endpoint
from costpipe.providers.planning import WIDTHS, aligned_range
from costpipe.records import Window

__all__ = [
    "COST_PAGE_LIMIT",
    "USAGE_PAGE_LIMITS",
    "USAGE_PIECE_BUCKETS",
    "Request",
    "plan",
    "rfc3339",
]

#: Most buckets one page may hold (the reference's maxima of ``limit``).
COST_PAGE_LIMIT = 31
USAGE_PAGE_LIMITS = {"1d": 31, "1h": 168, "1m": 1440}
#: Buckets of one usage piece; its request asks for one more (see above).
USAGE_PIECE_BUCKETS = {"1d": 30, "1h": 24, "1m": 60}


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
        for piece in span.split(day * (COST_PAGE_LIMIT - 1)):
            requests.append(Request(COSTS, _params(piece, "1d", day, COSTS.group_by), piece))
    width = WIDTHS[bucket_width]
    span = aligned_range(window, width, now)
    if span is not None:
        for endpoint in USAGE_ENDPOINTS:
            for piece in span.split(width * USAGE_PIECE_BUCKETS[bucket_width]):
                params = _params(piece, bucket_width, width, endpoint.group_by)
                requests.append(Request(endpoint, params, piece))
    return requests


def _params(
    piece: Window, width_name: str, width: timedelta, groups: tuple[str, ...]
) -> list[tuple[str, str]]:
    # One bucket past the piece, under either reading of ending_at (see above).
    buckets = max(1, -(-piece.duration // width))
    return [
        ("starting_at", rfc3339(piece.start)),
        ("ending_at", rfc3339(piece.end + width)),
        ("bucket_width", width_name),
        ("limit", str(buckets + 1)),
        *[("group_by[]", g) for g in groups],
    ]
