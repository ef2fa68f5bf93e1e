"""Many spend questions answered by a few grouped queries.

A thousand budgets ask a thousand small questions ("spend of project A this
month", "spend per model this week"), but they cover only a handful of
(range, basis) pairs. A :class:`~costpipe.query.api.GroupedReader` asks its
store once per pair, grouped by every dimension any of those questions filters
or groups by, and this module answers each question from the aggregated rows:
a filter keeps the rows whose group values it admits, a group-by sums rows per
value. Sums are of integer nanodollars, so every answer is exactly what
``total``/``breakdown`` would have returned.

The store supplies two things only: the rows, and how it stores a filter value
(InfluxDB rewrites some tag values on write, so a filter value must be compared
in its stored form, as the store's ``WHERE`` would).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from costpipe.query.api import Basis, CostQuery, CostReader, GroupedReader, SpendRequest

__all__ = ["Batch", "GroupedRow", "answer_batch", "plan_batches", "request_key", "spend"]

#: Group values in the order of :attr:`Batch.dims`, and their summed nanodollars.
GroupedRow = tuple[tuple[str, ...], int]
RequestKey = tuple[datetime, datetime, str, tuple[tuple[str, tuple[str, ...]], ...], str | None]


def request_key(request: SpendRequest) -> RequestKey:
    """A hashable identity: two requests with equal keys have equal answers."""
    query = request.query
    filters = tuple(sorted((dim, tuple(sorted(set(v)))) for dim, v in query.filters.items()))
    return (query.start, query.end, query.basis.value, filters, request.by)


@dataclass(frozen=True, slots=True)
class Batch:
    """Requests over one range and basis: one store query grouped by :attr:`dims`."""

    start: datetime
    end: datetime
    basis: Basis
    dims: tuple[str, ...]
    members: tuple[int, ...]
    """Indexes into the request list."""

    @property
    def query(self) -> CostQuery:
        """The range and basis, without filters: the batch filters in memory."""
        return CostQuery(self.start, self.end, self.basis)


def plan_batches(requests: Sequence[SpendRequest]) -> tuple[list[Batch], list[int]]:
    """The batches for *requests*, and the indexes of requests that admit no row
    at all (a filter with no values), which need no query."""
    members: dict[tuple[datetime, datetime, Basis], list[int]] = defaultdict(list)
    dims: dict[tuple[datetime, datetime, Basis], set[str]] = defaultdict(set)
    empty: list[int] = []
    for index, request in enumerate(requests):
        query = request.query
        if any(not values for values in query.filters.values()):
            empty.append(index)
            continue
        key = (query.start, query.end, query.basis)
        members[key].append(index)
        dims[key].update(query.filters)
        if request.by is not None:
            dims[key].add(request.by)
    batches = [
        Batch(start, end, basis, tuple(sorted(dims[key])), tuple(indexes))
        for key, indexes in members.items()
        for start, end, basis in [key]
    ]
    return batches, empty


def empty_answer(request: SpendRequest, empty_total: Decimal) -> dict[str, Decimal]:
    """The answer when no row matches: ``total`` is zero, ``breakdown`` has no row."""
    return {"": empty_total} if request.by is None else {}


class _RowIndex:
    """The batch's rows, with per-dimension indexes built on first use, so that a
    request filtered to one value reads only that value's rows."""

    def __init__(self, dims: tuple[str, ...], rows: Sequence[GroupedRow]) -> None:
        self.positions = {dim: i for i, dim in enumerate(dims)}
        self.rows = rows
        self._by_value: dict[str, dict[str, list[int]]] = {}

    def candidates(self, dim: str, allowed: set[str]) -> list[int]:
        index = self._by_value.get(dim)
        if index is None:
            index = defaultdict(list)
            position = self.positions[dim]
            for row_id, (values, _) in enumerate(self.rows):
                index[values[position]].append(row_id)
            self._by_value[dim] = index
        return [row_id for value in allowed for row_id in index.get(value, ())]


def _dollars(nanos: int) -> Decimal:
    return Decimal(nanos).scaleb(-9)


def answer_batch(
    batch: Batch,
    requests: Sequence[SpendRequest],
    rows: Iterable[GroupedRow],
    *,
    stored_value: Callable[[str], str] = str,
    empty_total: Decimal = Decimal(0),
) -> dict[int, dict[str, Decimal]]:
    """Each member's answer from the batch's grouped *rows*.

    *stored_value* maps a filter value to the form the store compares (the
    identity for SQL; :func:`~costpipe.sinks.influxdb.encoder.stored_tag_value`
    for InfluxDB); *empty_total* is what the store's ``total`` returns when no
    row matches.
    """
    table = _RowIndex(batch.dims, list(rows))
    answers: dict[int, dict[str, Decimal]] = {}
    solved: dict[RequestKey, dict[str, Decimal]] = {}
    for index in batch.members:
        request = requests[index]
        key = request_key(request)
        if key not in solved:
            solved[key] = _answer(table, request, stored_value, empty_total)
        answers[index] = dict(solved[key])
    return answers


def _answer(
    table: _RowIndex,
    request: SpendRequest,
    stored_value: Callable[[str], str],
    empty_total: Decimal,
) -> dict[str, Decimal]:
    filters = [
        (table.positions[dim], {stored_value(v) for v in values})
        for dim, values in request.query.filters.items()
    ]
    row_ids: Sequence[int] = range(len(table.rows))
    if filters:
        # Start from the most selective filter; check the others row by row.
        choices = [
            table.candidates(dim, {stored_value(v) for v in values})
            for dim, values in request.query.filters.items()
        ]
        row_ids = min(choices, key=len)
    by = None if request.by is None else table.positions[request.by]
    sums: dict[str, int] = {}
    for row_id in row_ids:
        values, nanos = table.rows[row_id]
        if all(values[position] in allowed for position, allowed in filters):
            group = "" if by is None else values[by]
            sums[group] = sums.get(group, 0) + nanos
    if not sums:
        return empty_answer(request, empty_total)
    return {group: _dollars(nanos) for group, nanos in sums.items()}


async def _one(reader: CostReader, request: SpendRequest) -> dict[str, Decimal]:
    if request.by is None:
        return {"": await reader.total(request.query)}
    return {row.group: row.cost_usd for row in await reader.breakdown(request.query, request.by)}


async def spend(reader: CostReader, requests: Sequence[SpendRequest]) -> list[dict[str, Decimal]]:
    """One answer per request, in order: through the reader's grouped queries when
    it is a :class:`~costpipe.query.api.GroupedReader`, else one ``total`` or
    ``breakdown`` per distinct request (run concurrently). Raises what the
    reader raises."""
    if isinstance(reader, GroupedReader):
        return await reader.spend(requests)
    distinct = {request_key(r): r for r in requests}
    answers = await asyncio.gather(*(_one(reader, r) for r in distinct.values()))
    by_key = dict(zip(distinct, answers, strict=True))
    return [dict(by_key[request_key(r)]) for r in requests]
