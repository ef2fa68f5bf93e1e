"""A :class:`~costpipe.query.api.CostReader` that asks its store each distinct question once.

The dashboard asks many questions per control change, and most of them do not
change with the control: switching the group-by leaves the total, the previous
range's total, unpriced usage and the filter options as they were, and the top-N
breakdown is the full breakdown with its tail folded. :class:`CachingReader`
wraps any reader and

* coalesces identical calls that are in flight at the same time (one store
  query, every caller gets the answer);
* keeps each answer for ``max_age`` (by an injected monotonic clock), so an
  unchanged question in the next view costs nothing;
* answers ``breakdown(..., top=N)`` from the full breakdown, folding the tail
  into :data:`~costpipe.query.api.OTHER` exactly as the stores do (largest
  first, ties by name; the tail summed), so the page's bars and table share
  one query.

Answers are at most ``max_age`` old: a figure may miss data written since it
was asked. The alert engine never uses this; it reads the store directly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar, cast

from costpipe.query.api import (
    OTHER,
    Breakdown,
    CostQuery,
    CostReader,
    Granularity,
    SeriesPoint,
    SpendRequest,
)
from costpipe.query.grouped import request_key
from costpipe.query.grouped import spend as grouped_spend

__all__ = ["CachingReader", "fold_top"]

T = TypeVar("T")


def fold_top(rows: list[Breakdown], top: int | None) -> list[Breakdown]:
    """The top *top* rows of a full breakdown (largest first) and one
    :data:`OTHER` row summing the rest, as ``breakdown(..., top=top)`` returns."""
    if top is None or len(rows) <= top:
        return list(rows)
    rest = sum((row.cost_usd for row in rows[top:]), Decimal(0))
    return [*rows[:top], Breakdown(OTHER, rest)]


def _query_key(query: CostQuery) -> Hashable:
    filters = tuple(sorted((dim, tuple(sorted(set(v)))) for dim, v in query.filters.items()))
    return (query.start, query.end, query.basis, filters)


@dataclass(slots=True)
class _Entry:
    at: float
    task: asyncio.Future[object]


class CachingReader:
    """Wraps *reader*; see the module doc. Not shared across event loops."""

    def __init__(
        self,
        reader: CostReader,
        max_age: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reader = reader
        self.max_age = max_age
        self._clock = clock
        self._entries: dict[Hashable, _Entry] = {}

    def clear(self) -> None:
        """Forget every answer (the next calls ask the store)."""
        self._entries.clear()

    async def _cached(self, key: Hashable, ask: Callable[[], Awaitable[T]]) -> T:
        now = self._clock()
        entry = self._entries.get(key)
        if entry is None or now - entry.at > self.max_age or _failed(entry.task):
            # A future, not the coroutine: every waiter gets the one answer.
            task: asyncio.Future[object] = asyncio.ensure_future(ask())
            entry = _Entry(now, task)
            self._entries[key] = entry
            self._evict(now)
        return cast(T, await asyncio.shield(entry.task))

    def _evict(self, now: float) -> None:
        stale = [k for k, e in self._entries.items() if now - e.at > self.max_age]
        for key in stale:
            del self._entries[key]

    # -- CostReader --------------------------------------------------------------

    async def total(self, query: CostQuery) -> Decimal:
        return await self._cached(("total", _query_key(query)), lambda: self.reader.total(query))

    async def breakdown(self, query: CostQuery, by: str, top: int | None = None) -> list[Breakdown]:
        rows = await self._cached(
            ("breakdown", _query_key(query), by), lambda: self.reader.breakdown(query, by)
        )
        return fold_top(rows, top)

    async def series(
        self,
        query: CostQuery,
        granularity: Granularity,
        timezone: str = "UTC",
        by: str | None = None,
    ) -> list[SeriesPoint]:
        key = ("series", _query_key(query), granularity, timezone, by)
        rows = await self._cached(
            key, lambda: self.reader.series(query, granularity, timezone, by=by)
        )
        return list(rows)

    async def unpriced_usage(self, query: CostQuery) -> dict[str, int]:
        usage = await self._cached(
            ("unpriced", _query_key(query)), lambda: self.reader.unpriced_usage(query)
        )
        return dict(usage)

    async def tag_names(self) -> list[str]:
        return list(await self._cached(("tags",), self.reader.tag_names))

    # -- GroupedReader -------------------------------------------------------------

    async def spend(self, requests: Sequence[SpendRequest]) -> list[dict[str, Decimal]]:
        """The batch through :func:`costpipe.query.grouped.spend` (grouped when the
        wrapped reader can), cached as one answer."""
        key = ("spend", tuple(request_key(r) for r in requests))
        answers = await self._cached(key, lambda: grouped_spend(self.reader, requests))
        return [dict(answer) for answer in answers]


def _failed(task: asyncio.Future[object]) -> bool:
    """A failed answer is not kept: the next call asks again."""
    return task.done() and (task.cancelled() or task.exception() is not None)
