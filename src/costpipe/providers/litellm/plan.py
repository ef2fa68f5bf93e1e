"""The requests that walk LiteLLM's ``/spend/logs/v2`` over a window (no IO).

* Only complete UTC hours are asked for (:func:`pieces`), cut into pieces of
  ``chunk_hours`` that are walked, and yielded, one at a time.
* ``start_date``/``end_date`` are ``YYYY-MM-DD HH:MM:SS`` UTC, the only form
  the proxy parses; it compares them inclusively at both ends, so the row
  starting exactly at a piece's end is dropped by the decoder's aggregation.
* Pages are numbered from 1; the walk stops at ``total_pages`` or at the
  first short page (``total_pages`` lags behind rows logged during the walk).
  When the proxy says ``total_is_capped`` (it stops counting at 10,000 rows
  and computes ``total_pages`` from that), ``total_pages`` is a floor: only a
  short page ends the walk.
"""

from __future__ import annotations

from datetime import datetime

from costpipe.providers.litellm.decode import HOUR
from costpipe.providers.litellm.schema import SpendLogsPage
from costpipe.providers.planning import aligned_range
from costpipe.records import Window

__all__ = ["SPEND_LOGS", "is_last_page", "pieces", "spend_logs_query"]

SPEND_LOGS = "/spend/logs/v2"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def pieces(window: Window, now: datetime, chunk_hours: int) -> list[Window]:
    """The complete hours of *window* before *now*, in pieces of *chunk_hours*."""
    span = aligned_range(window, HOUR, now)
    return [] if span is None else span.split(HOUR * chunk_hours)


def date_range(piece: Window) -> list[tuple[str, str]]:
    return [
        ("start_date", piece.start.strftime(DATE_FORMAT)),
        ("end_date", piece.end.strftime(DATE_FORMAT)),
    ]


def spend_logs_query(
    piece: Window, page: int, page_size: int, team_id: str | None = None
) -> list[tuple[str, str]]:
    """The query of page *page* (from 1) of *piece*."""
    query = [*date_range(piece), ("page_size", str(page_size))]
    if team_id:
        query.append(("team_id", team_id))
    query.append(("page", str(page)))
    return query


def is_last_page(page: int, answer: SpendLogsPage, page_size: int) -> bool:
    """Whether the walk of a piece ends with page *page*."""
    if len(answer.data) < page_size:
        return True
    return page >= answer.total_pages and not answer.total_is_capped
