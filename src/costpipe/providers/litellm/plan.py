"""The requests that walk LiteLLM's ``/spend/logs/v2`` over a window (no IO).

What the proxy does (BerriAI/litellm 1.110.2,
``litellm/proxy/spend_tracking/spend_management_endpoints.py``):

* ``page_size`` is ``ge=1, le=1000`` (line 2552): :data:`MAX_PAGE_SIZE`;
* ``start_date``/``end_date`` are ``YYYY-MM-DD HH:MM:SS`` UTC (lines
  2704-2722), compared ``>=`` and ``<=`` (lines 2824-2829): a range is
  inclusive at both ends and cannot be finer than a second;
* ``total`` is counted only up to ``SPEND_LOGS_PAGINATION_COUNT_CAP`` = 10,000
  rows (line 92); past it ``total = 10000``, ``total_is_capped = true`` and
  ``total_pages`` comes from that capped count (lines 3011-3025, 3064);
* rows are ``ORDER BY "startTime" DESC LIMIT .. OFFSET ..`` with no tie-break
  (lines 3042-3046): rows sharing a ``startTime`` may be ordered differently
  on each page, so OFFSET paging can skip one and serve another twice.

How costpipe walks it: only complete UTC hours (:func:`pieces`, in pieces of
``chunk_hours`` walked and yielded one at a time), each piece cut into time
slices until every slice's rows come back in **one** answer (fewer rows than
``page_size``). A single answer is one SQL statement: it holds every row the
slice had at that instant, whatever the order of ties, and no OFFSET is ever
used, so neither ties nor rows logged during the walk can shift a row out of
the walk. A full answer is thrown away and its slice split (:func:`split`),
using the count it carried to aim at half a page per part. Slices are
disjoint half-open second ranges: the row starting exactly at a slice's end
(returned because ``end_date`` is inclusive) is left to the next slice.
Only a single second holding ``page_size`` rows or more cannot be split; it
is paged with OFFSET, see ``LiteLLMProvider._walk_crowded_second``.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from costpipe.providers.litellm.decode import HOUR
from costpipe.providers.litellm.schema import SpendLogsPage
from costpipe.providers.planning import aligned_range
from costpipe.records import Window

__all__ = [
    "COUNT_CAP",
    "MAX_PAGE_SIZE",
    "SECOND",
    "SPEND_LOGS",
    "holds_the_whole_slice",
    "pieces",
    "spend_logs_query",
    "split",
]

SPEND_LOGS = "/spend/logs/v2"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_PAGE_SIZE = 1000
COUNT_CAP = 10_000
SECOND = timedelta(seconds=1)


def pieces(window: Window, now: datetime, chunk_hours: int) -> list[Window]:
    """The complete hours of *window* before *now*, in pieces of *chunk_hours*."""
    span = aligned_range(window, HOUR, now)
    return [] if span is None else span.split(HOUR * chunk_hours)


def date_range(start: datetime, end: datetime) -> list[tuple[str, str]]:
    """Rows with ``start <= startTime <= end`` (whole seconds, both inclusive)."""
    return [
        ("start_date", start.strftime(DATE_FORMAT)),
        ("end_date", end.strftime(DATE_FORMAT)),
    ]


def spend_logs_query(
    start: datetime,
    end: datetime,
    page: int,
    page_size: int,
    team_id: str | None = None,
) -> list[tuple[str, str]]:
    """The query of page *page* (from 1) of the rows with ``start <= startTime <= end``."""
    query = [*date_range(start, end), ("page_size", str(page_size))]
    if team_id:
        query.append(("team_id", team_id))
    query.append(("page", str(page)))
    return query


def holds_the_whole_slice(answer: SpendLogsPage, page_size: int) -> bool:
    """Whether the first page of a slice is all of it: a short page is the whole
    result of its query (a LIMIT that was not reached)."""
    return len(answer.data) < page_size


def split(part: Window, answer: SpendLogsPage, page_size: int) -> list[Window]:
    """*part* cut into whole-second slices, oldest first, sized from the count in
    *answer* so that each holds about half a page (a capped count means at least
    twice the cap); at least two, at most one per second."""
    seconds = int(part.duration / SECOND)
    if answer.total_is_capped or (answer.total or 0) >= COUNT_CAP:
        expected = 2 * COUNT_CAP
    else:
        expected = max(answer.total or 0, page_size)
    parts = min(seconds, max(2, math.ceil(2 * expected / page_size)))
    edges = [part.start + (seconds * n // parts) * SECOND for n in range(parts)]
    return [Window(a, b) for a, b in zip(edges, [*edges[1:], part.end], strict=True)]
