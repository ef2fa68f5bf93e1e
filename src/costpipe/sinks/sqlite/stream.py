"""Stored rows of the SQLite store, aggregated per period and streamed in chunks.

``costpipe export`` reads through :func:`stream_records` (the reader's
``stream_records``). SQLite sums per UTC period (hour or day) and per group;
Python only turns each aggregated row into a :class:`~costpipe.records.CostRecord`.
The rows leave SQLite through one cursor read ``chunk`` at a time on a reader
thread and cross to the event loop through a queue of two chunks, so memory
stays flat however many rows the range holds (SQLite's sorter spills a large
``GROUP BY`` to temporary files, not to this process's heap).

A row wider than the period (a day bucket exported per hour) keeps its own
bucket: its period is ``[start, start + width)``, never a false hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from costpipe.query.api import QUERYABLE_DIMENSIONS, CostQuery
from costpipe.records import TEXT_DIMENSIONS, TOKEN_FIELDS, CostRecord, CostSource, PriceSource

__all__ = ["stream_records"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_DONE = object()
T = TypeVar("T")


class _Database(Protocol):
    def read(self, work: Callable[[sqlite3.Connection], T]) -> Awaitable[T]: ...


class SQLiteReader(Protocol):
    """What this module uses of :class:`~costpipe.sinks.sqlite.reader.SQLiteReader`
    (which imports this module, so it is not imported back)."""

    _db: _Database

    async def _where(self, query: CostQuery) -> tuple[str, list[Any]] | None: ...

    async def _dimension(self, name: str) -> tuple[str, list[Any]]: ...


async def stream_records(
    reader: SQLiteReader,
    query: CostQuery,
    by: Sequence[str] | None = None,
    period: timedelta = timedelta(days=1),
    chunk: int = 5000,
) -> AsyncIterator[list[CostRecord]]:
    """Records of *query* summed per *period* and per *by* (every dimension and
    enricher tag when None), in period order, ``chunk`` at a time."""
    period_us = period // _MICROSECOND
    where = await reader._where(query)
    if where is None:
        return
    clause, where_params = where
    names = list(TEXT_DIMENSIONS) if by is None else list(dict.fromkeys(by))
    exprs: list[str] = []
    expr_params: list[Any] = []
    for name in names:
        expr, params = await reader._dimension(name)
        exprs.append(expr)
        expr_params += params
    if by is None:
        exprs.append("c.tags")
    sums = ", ".join(f"sum(c.{field})" for field in ("cost_nanos", *TOKEN_FIELDS))
    # The price source is grouped too: rows priced from different data stay
    # apart, so every exported estimate names the prices it came from.
    groups = ", ".join(str(i) for i in range(1, len(exprs) + 5))
    sql = (
        "SELECT CASE WHEN c.width_us > ? THEN c.ts ELSE c.ts - c.ts % ? END, "
        f"max(c.width_us, ?), c.cost_source, {', '.join(exprs)}, c.price_source, {sums} "
        f"FROM costs c WHERE {clause} GROUP BY {groups} ORDER BY 1, 2"
    )
    params = [period_us, period_us, period_us, *expr_params, *where_params]
    width = len(exprs)

    def convert(row: Sequence[Any]) -> CostRecord:
        values = dict(zip(names, row[3 : 3 + len(names)], strict=True))
        tags: dict[str, str] = json.loads(row[3 + len(names)]) if by is None else {}
        fields = {n: str(v) for n, v in values.items() if n in QUERYABLE_DIMENSIONS}
        tags.update({n: str(v) for n, v in values.items() if n not in QUERYABLE_DIMENSIONS and v})
        counts = row[3 + width + 2 :]
        built: dict[str, Any] = {
            **fields,
            **{f: int(v or 0) for f, v in zip(TOKEN_FIELDS, counts, strict=True)},
        }
        return CostRecord(
            start=_EPOCH + timedelta(microseconds=int(row[0])),
            width=timedelta(microseconds=int(row[1])),
            cost_source=CostSource(row[2]),
            cost_usd=Decimal(int(row[3 + width + 1] or 0)).scaleb(-9),
            price_source=PriceSource(str(row[3 + width] or "")),
            provider=built.pop("provider", ""),
            account=built.pop("account", ""),
            tags=tuple(tags.items()),
            **built,
        )

    async for rows in _cursor_chunks(reader, sql, params, chunk):
        yield [convert(row) for row in rows]


async def _cursor_chunks(
    reader: SQLiteReader, sql: str, params: list[Any], chunk: int
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """The rows of *sql*, ``chunk`` at a time, read on one reader thread with
    at most two chunks waiting: the thread waits while the consumer writes."""
    handoff: queue.Queue[object] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item: object) -> None:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                handoff.put(item, timeout=0.1)
                return

    def produce(conn: sqlite3.Connection) -> None:
        try:
            cursor = conn.execute(sql, params)
            try:
                while not stop.is_set():
                    rows = cursor.fetchmany(chunk)
                    if not rows:
                        break
                    put(rows)
            finally:
                cursor.close()
        except BaseException as exc:
            put(exc)
            raise
        put(_DONE)

    task = asyncio.ensure_future(reader._db.read(produce))
    try:
        while True:
            item = await asyncio.to_thread(handoff.get)
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                break  # the task raises it, translated by the database
            assert isinstance(item, list)
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                handoff.get_nowait()
        await task
