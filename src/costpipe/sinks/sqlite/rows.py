"""Stored rows of the SQLite store read back as records (allocation's input).

Allocation splits a day's bill over that day's usage rows, so it needs the rows
themselves, not sums: one provider account and UTC day at a time, which is
bounded. Money comes back from the exact decimal text (``cost_usd``), the
bucket width from ``width_us``, so a record read back has the key it was
written under.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from costpipe.query.api import CostQuery
from costpipe.records import TEXT_DIMENSIONS, TOKEN_FIELDS, CostRecord, CostSource, PriceSource

__all__ = ["stored_rows"]

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Reader(Protocol):
    """What this module uses of :class:`~costpipe.sinks.sqlite.reader.SQLiteReader`."""

    async def _where(self, query: CostQuery) -> tuple[str, list[Any]] | None: ...

    async def _fetch(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]: ...


class _Database(Protocol):
    def read(self, work: Callable[[sqlite3.Connection], T]) -> Awaitable[T]: ...


_COLUMNS = ", ".join(
    ["c.ts", "c.width_us", *(f"c.{d}" for d in TEXT_DIMENSIONS), "c.cost_source", "c.cost_usd"]
    + [f"c.{f}" for f in TOKEN_FIELDS]
    + ["c.tags", "c.price_source"]
)


async def stored_rows(reader: _Reader, query: CostQuery) -> list[CostRecord]:
    """Every row of the query's (stored) basis, range and filters, ordered by key."""
    where = await reader._where(query)
    if where is None:
        return []
    clause, params = where
    rows = await reader._fetch(
        f"SELECT {_COLUMNS} FROM costs c WHERE {clause} ORDER BY c.key", params
    )
    width = len(TEXT_DIMENSIONS)
    records = []
    for row in rows:
        dims = dict(zip(TEXT_DIMENSIONS, (str(v) for v in row[2 : 2 + width]), strict=True))
        counts = row[4 + width : 4 + width + len(TOKEN_FIELDS)]
        tags: dict[str, str] = json.loads(row[-2] or "{}")
        fields: dict[str, Any] = {
            **dims,
            **{f: int(v or 0) for f, v in zip(TOKEN_FIELDS, counts, strict=True)},
        }
        records.append(
            CostRecord(
                start=_EPOCH + timedelta(microseconds=int(row[0])),
                width=timedelta(microseconds=int(row[1])),
                cost_source=CostSource(row[2 + width]),
                cost_usd=Decimal(str(row[3 + width])),
                tags=tuple((str(k), str(v)) for k, v in tags.items()),
                price_source=PriceSource(str(row[-1] or "")),
                **fields,
            )
        )
    return records
