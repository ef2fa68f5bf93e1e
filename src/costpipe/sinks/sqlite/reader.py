"""The query layer over the SQLite store: :class:`~costpipe.query.api.CostReader` in SQL.

Every sum runs in SQLite over the integer ``cost_nanos`` column, so totals are
exact. Dimension names come from :func:`~costpipe.query.api.check_dimension`;
built-in ones are column names from a fixed list, enricher tags are read with
``json_extract`` and a *bound* JSON path; every value is a bound parameter.

Calendar days and hours in an IANA zone (DST-safe): Python computes the UTC
boundaries of every local period overlapping the range (a 23-hour or 25-hour
day is just a pair of boundaries), passes them as one JSON parameter, and SQL
joins each row to its period and sums per period. Python does no money
arithmetic.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from costpipe.query.api import (
    OTHER,
    QUERYABLE_DIMENSIONS,
    Breakdown,
    CostQuery,
    Granularity,
    SeriesPoint,
    SpendRequest,
    check_dimension,
)
from costpipe.query.grouped import answer_batch, empty_answer, plan_batches
from costpipe.records import TOKEN_FIELDS, UNIT_FIELDS
from costpipe.sinks.sqlite.rows import stored_rows
from costpipe.sinks.sqlite.stream import stream_records

__all__ = ["SQLiteReader", "micros", "period_bounds"]

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_HOUR = timedelta(hours=1)


class _Database(Protocol):
    def read(self, work: Callable[[sqlite3.Connection], T]) -> Awaitable[T]: ...


def micros(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime, exactly."""
    return (moment - _EPOCH) // _MICROSECOND


def _floor(moment: datetime, granularity: Granularity, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    if granularity is Granularity.HOUR:
        # replace() keeps `fold`, so the repeated hour of a DST fall-back stays distinct.
        return local.replace(minute=0, second=0, microsecond=0)
    return datetime.combine(local.date(), time(0), tzinfo=zone)


def _next(start: datetime, granularity: Granularity, zone: ZoneInfo) -> datetime:
    if granularity is Granularity.HOUR:
        candidate = _floor(start.astimezone(UTC) + _HOUR, granularity, zone)
    else:
        candidate = datetime.combine(start.date() + timedelta(days=1), time(0), tzinfo=zone)
    if candidate.astimezone(UTC) <= start.astimezone(UTC):
        # Only in zones whose transitions are not on a period boundary.
        candidate = (start.astimezone(UTC) + _HOUR).astimezone(zone)
    return candidate


def period_bounds(
    start: datetime, end: datetime, granularity: Granularity, zone: ZoneInfo
) -> list[tuple[datetime, int, int]]:
    """``(local period start, lo µs, hi µs)`` for every period overlapping
    ``[start, end)``, in order; each period is ``[lo, hi)`` in UTC."""
    bounds: list[tuple[datetime, int, int]] = []
    cursor = _floor(start, granularity, zone)
    while cursor.astimezone(UTC) < end:
        upper = _next(cursor, granularity, zone)
        bounds.append((cursor, micros(cursor.astimezone(UTC)), micros(upper.astimezone(UTC))))
        cursor = upper
    return bounds


_DAY_US = 86_400_000_000
# The best basis (see Basis): allocated rows, and estimated rows of a provider
# account's UTC day that holds no allocated row. The subquery reads allocated
# rows only (the (basis, ts) index) over whole UTC days around the range.
_BEST = (
    "c.basis IN ('allocated', 'estimated') AND (c.basis = 'allocated' OR "
    f"(c.provider, c.account, c.ts - c.ts % {_DAY_US}) NOT IN "
    f"(SELECT b.provider, b.account, b.ts - b.ts % {_DAY_US} FROM costs b "
    "WHERE b.basis = 'allocated' AND b.ts >= ? AND b.ts < ?))"
)


def _basis_clause(query: CostQuery) -> tuple[str, list[Any]]:
    if query.basis.stored:
        return "c.basis = ?", [query.basis.value]
    lo, hi = micros(query.start), micros(query.end)
    return _BEST, [lo - lo % _DAY_US, -(-hi // _DAY_US) * _DAY_US]


def _dollars(nanos: Any) -> Decimal:
    return Decimal(int(nanos or 0)).scaleb(-9)


# Every token category (text, cache, audio, image) and every usage unit, summed
# per row for the unpriced-usage report.
_TOKENS = " + ".join(f"c.{name}" for name in TOKEN_FIELDS if name.endswith("_tokens"))
_UNITS = " + ".join(f"c.{name}" for name in UNIT_FIELDS)


class SQLiteReader:
    """:class:`~costpipe.query.api.CostReader` over a :class:`~costpipe.sinks.sqlite.store.SQLiteDatabase`."""

    def __init__(self, db: _Database) -> None:
        self._db = db
        self._tags: list[str] = []

    async def _dimension(self, name: str) -> tuple[str, list[Any]]:
        """SQL expression and parameters for a checked dimension."""
        if name not in QUERYABLE_DIMENSIONS and name not in self._tags:
            self._tags = await self.tag_names()
        checked = check_dimension(name, self._tags)
        if checked in QUERYABLE_DIMENSIONS:
            return f'c."{checked}"', []
        return "coalesce(json_extract(c.tags, ?), '')", [f'$."{checked}"']

    async def _where(self, query: CostQuery, *, basis: bool = True) -> tuple[str, list[Any]] | None:
        """WHERE clause and parameters, or None when a filter admits nothing."""
        clauses = ["c.ts >= ?", "c.ts < ?"]
        params: list[Any] = [micros(query.start), micros(query.end)]
        if basis:
            basis_clause, basis_params = _basis_clause(query)
            clauses.append(basis_clause)
            params += basis_params
        for name, values in sorted(query.filters.items()):
            if not values:
                return None
            expr, expr_params = await self._dimension(name)
            unique = sorted(set(values))
            clauses.append(f"{expr} IN ({', '.join('?' for _ in unique)})")
            params += [*expr_params, *unique]
        return " AND ".join(clauses), params

    async def _fetch(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return await self._db.read(lambda conn: conn.execute(sql, params).fetchall())

    async def total(self, query: CostQuery) -> Decimal:
        where = await self._where(query)
        if where is None:
            return Decimal(0)
        clause, params = where
        rows = await self._fetch(f"SELECT sum(c.cost_nanos) FROM costs c WHERE {clause}", params)
        return _dollars(rows[0][0])

    async def breakdown(self, query: CostQuery, by: str, top: int | None = None) -> list[Breakdown]:
        expr, expr_params = await self._dimension(by)
        where = await self._where(query)
        if where is None:
            return []
        clause, params = where
        sql = (
            f"SELECT {expr} AS grp, sum(c.cost_nanos) AS nanos FROM costs c WHERE {clause} "
            "GROUP BY grp ORDER BY nanos DESC, grp"
        )
        if top is not None:
            # The top N and one "other" row, both summed by SQLite.
            sql = (
                f"WITH g AS ({sql}), r AS (SELECT grp, nanos, row_number() OVER "
                "(ORDER BY nanos DESC, grp) AS n FROM g) "
                "SELECT grp, nanos FROM (SELECT grp, nanos, n FROM r WHERE n <= ? "
                "UNION ALL SELECT ?, sum(nanos), ? + 1 FROM r WHERE n > ? HAVING count(*) > 0) "
                "ORDER BY n"
            )
            params = [*expr_params, *params, top, OTHER, top, top]
        else:
            params = [*expr_params, *params]
        rows = await self._fetch(sql, params)
        return [Breakdown(str(group), _dollars(nanos)) for group, nanos in rows]

    async def series(
        self,
        query: CostQuery,
        granularity: Granularity,
        timezone: str = "UTC",
        by: str | None = None,
    ) -> list[SeriesPoint]:
        zone = ZoneInfo(timezone)
        expr, expr_params = await self._dimension(by) if by is not None else ("''", [])
        where = await self._where(query)
        if where is None or query.start >= query.end:
            return []
        clause, params = where
        bounds = period_bounds(query.start, query.end, granularity, zone)
        starts = {lo: local for local, lo, _ in bounds}
        sql = (
            "WITH b(lo, hi) AS (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') "
            "FROM json_each(?)) "
            f"SELECT b.lo, {expr} AS grp, sum(c.cost_nanos) FROM b "
            f"JOIN costs c ON c.ts >= b.lo AND c.ts < b.hi WHERE {clause} "
            "GROUP BY b.lo, grp ORDER BY b.lo, grp"
        )
        pairs = json.dumps([[lo, hi] for _, lo, hi in bounds])
        rows = await self._fetch(sql, [pairs, *expr_params, *params])
        return [SeriesPoint(starts[lo], str(group), _dollars(nanos)) for lo, group, nanos in rows]

    async def unpriced_usage(self, query: CostQuery) -> dict[str, int]:
        """Unpriced rows are always on the estimated basis: ``query.basis`` is ignored."""
        where = await self._where(query, basis=False)
        if where is None:
            return {}
        clause, params = where
        rows = await self._fetch(
            f"SELECT c.model, sum({_TOKENS}), sum({_UNITS}) FROM costs c "
            f"WHERE {clause} AND c.cost_source = 'unpriced' GROUP BY c.model ORDER BY c.model",
            params,
        )
        # A model whose unpriced usage is units only (images, calls...) is listed
        # too, with its tokens: its cost is unknown, not 0.
        return {str(model): int(tokens) for model, tokens, units in rows if tokens or units}

    async def spend(self, requests: Sequence[SpendRequest]) -> list[dict[str, Decimal]]:
        """:class:`~costpipe.query.api.GroupedReader`: one ``GROUP BY`` per range
        and basis over every dimension the requests use."""
        batches, empty = plan_batches(requests)
        # What total() returns for a filter that admits nothing, and for no matching row.
        answers = {i: empty_answer(requests[i], Decimal(0)) for i in empty}
        no_rows = _dollars(None)
        for batch in batches:
            exprs: list[str] = []
            params: list[Any] = []
            for dim in batch.dims:
                expr, expr_params = await self._dimension(dim)
                exprs.append(expr)
                params += expr_params
            where = await self._where(batch.query)
            assert where is not None  # a batch's query has no filters
            clause, where_params = where
            columns = "".join(f"{expr}, " for expr in exprs)
            group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(exprs)))}" if exprs else ""
            sql = f"SELECT {columns}sum(c.cost_nanos) FROM costs c WHERE {clause}{group}"
            fetched = await self._fetch(sql, [*params, *where_params])
            width = len(exprs)
            rows = [
                (tuple(str(v) for v in row[:width]), int(row[width]))
                for row in fetched
                if row[width] is not None
            ]
            answers.update(answer_batch(batch, requests, rows, empty_total=no_rows))
        return [answers[i] for i in range(len(requests))]

    stream_records = stream_records  # what `costpipe export` reads (module docstring)
    stored_rows = stored_rows  # what allocation reads (costpipe.allocation.runner)

    async def tag_names(self) -> list[str]:
        rows = await self._fetch("SELECT name FROM tag_names ORDER BY name", [])
        return [str(name) for (name,) in rows]
