"""How the LiteLLM proxy pages ``/spend/logs/v2``, reproduced from its source.

Source: BerriAI/litellm 1.110.2 (the wheel on PyPI),
``litellm/proxy/spend_tracking/spend_management_endpoints.py``:

* line 92: ``SPEND_LOGS_PAGINATION_COUNT_CAP: Final = 10000``;
* line 2552: ``page_size: int = fastapi.Query(default=50, ..., ge=1, le=1000)``
  and ``page`` ``ge=1``: anything else is FastAPI's 422, which the proxy's
  ``RequestValidationError`` handler (``litellm/proxy/proxy_server.py``
  line 2554) returns as ``{"detail": [<pydantic errors>]}``;
* lines 2704-2722: ``start_date``/``end_date`` are ``%Y-%m-%d %H:%M:%S`` or,
  on ``/v2`` only, ``%Y-%m-%d``, read as UTC; lines 2824-2829 compare them
  ``"startTime" >= start AND "startTime" <= end`` (both inclusive);
* lines 3011-3025: the total is a bounded count, ``SELECT COUNT(*) FROM
  (SELECT 1 ... LIMIT cap + 1)``; ``total_is_capped = raw_total > cap`` and
  then ``total = cap``; line 3064: ``total_pages = ceil(total / page_size)``
  from that capped total;
* lines 3042-3046: ``ORDER BY "startTime" DESC LIMIT page_size OFFSET
  (page - 1) * page_size``, with no tie-break (only the session view at
  line 3036 appends ``request_id``).

Postgres gives rows with equal sort keys no defined order, and its plan (a
bounded top-N heap sort) depends on LIMIT and OFFSET, so two pages of one walk
may order a tie group differently ("LIMIT and OFFSET", PostgreSQL manual 7.6:
"you are very likely to get different plans (yielding different row orders)
depending on what you give for LIMIT and OFFSET"). :func:`page_answer`
reproduces that: ties are ordered by a hash of the row and the query's
offset and limit, the same for the same query and different between pages.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, TypeVar

__all__ = ["COUNT_CAP", "MAX_PAGE_SIZE", "page_answer", "page_size_error"]

COUNT_CAP = 10_000
MAX_PAGE_SIZE = 1000


class Row(Protocol):
    @property
    def request_id(self) -> str: ...
    @property
    def start(self) -> datetime: ...


R = TypeVar("R", bound=Row)


def page_answer(rows: Sequence[R], page: int, size: int) -> tuple[list[R], dict[str, object]]:
    """The rows of page *page* and the paging fields the proxy sends with them."""
    offset = (page - 1) * size

    def order(row: R) -> tuple[datetime, int]:
        tie = zlib.crc32(f"{row.request_id}/{offset}/{size}".encode())
        return row.start, tie

    ordered = sorted(rows, key=order, reverse=True)
    capped = len(rows) > COUNT_CAP
    total = COUNT_CAP if capped else len(rows)
    fields: dict[str, object] = {
        "total": total,
        "page": page,
        "page_size": size,
        "total_pages": (total + size - 1) // size,
        "total_is_capped": capped,
    }
    return ordered[offset : offset + size], fields


def page_size_error(page: int, size: int) -> dict[str, object] | None:
    """FastAPI's 422 body for a ``page`` or ``page_size`` out of bounds, else None."""
    if page < 1:
        return _error("greater_than_equal", "page", "greater than or equal to 1", {"ge": 1})
    if size < 1:
        return _error("greater_than_equal", "page_size", "greater than or equal to 1", {"ge": 1})
    if size > MAX_PAGE_SIZE:
        return _error(
            "less_than_equal", "page_size", "less than or equal to 1000", {"le": MAX_PAGE_SIZE}
        )
    return None


def _error(kind: str, name: str, bound: str, ctx: dict[str, int]) -> dict[str, object]:
    return {
        "detail": [
            {"type": kind, "loc": ["query", name], "msg": f"Input should be {bound}", "ctx": ctx}
        ]
    }
