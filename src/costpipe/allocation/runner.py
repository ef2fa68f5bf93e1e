"""Re-allocating stored days: read a day's rows, allocate, write what changed.

:func:`reallocate` is what a pass, ``costpipe backfill`` and ``costpipe reprice``
call for the UTC days they touched. For each day it reads the billed, usage and
allocated rows of every provider account from one store (a reader with
``stored_rows``), allocates (:func:`~costpipe.allocation.cells.allocate`) and
writes to every sink only the allocated rows that differ from what the store
holds, so running it twice writes nothing the second time.

An allocated row that a revision made obsolete (its usage row or its cell is
gone) is *zeroed*: written again with the same identity, no money and no
counts. Zeroing rather than deleting, in both stores: it is an ordinary write,
so it goes through the spool when a store is down and lands in every sink like
any other row (a delete would need a sink operation of its own, which a store
that is down cannot queue); in InfluxDB a point with the same series and
timestamp overwrites the old one, in SQLite the upsert by key does. Totals
therefore never drift; the zero rows cost a little space.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from decimal import Decimal
from typing import Protocol, runtime_checkable

from costpipe.allocation.cells import DayAllocation, allocate, day_start, nanos
from costpipe.query.api import Basis, CostQuery
from costpipe.records import TOKEN_FIELDS, CostRecord, Window

__all__ = ["AllocationRun", "RecordSink", "RowStore", "days_of", "reallocate"]

_DAY = timedelta(days=1)


@runtime_checkable
class RowStore(Protocol):
    """A store that gives its rows back as records (the SQLite and InfluxDB readers)."""

    async def stored_rows(self, query: CostQuery) -> list[CostRecord]: ...


class RecordSink(Protocol):
    """Where allocated rows go: every sink (behind its spool, in the daemon)."""

    async def write(self, records: Sequence[CostRecord]) -> None: ...


@dataclass(slots=True)
class AllocationRun:
    """What one :func:`reallocate` did."""

    days: list[date] = field(default_factory=list)
    written: int = 0
    """Allocated rows written because they were new or their figures changed."""
    zeroed: int = 0
    """Stored allocated rows that no longer exist, written with zero money."""
    changed_days: list[date] = field(default_factory=list)
    allocation: DayAllocation = field(default_factory=DayAllocation)
    """Unpriced tokens and unbilled usage of the days. Neither records nor cell
    reports are kept: a backfill of years would hold every day's (issue 16)."""
    unattributed_nanos: int = 0
    """Billed money of the days that no usage row took (the cells' sum)."""


#: Records handed to a sink per write: a day can hold tens of thousands of
#: allocated rows, and a sink holds what it is given until it is written.
WRITE_SLICE = 5000


def days_of(windows: Iterable[Window]) -> list[date]:
    """The UTC days the windows overlap, in order."""
    days: set[date] = set()
    for window in windows:
        cursor = window.start.astimezone(UTC).date()
        while day_start(cursor) < window.end:
            days.add(cursor)
            cursor += _DAY
    return sorted(days)


Identity = tuple[object, ...]


def _identity(record: CostRecord) -> Identity:
    """What both stores identify a row by, the width aside (InfluxDB keeps none):
    the key's dimensions, the bucket start and the enricher tags (part of an
    InfluxDB series)."""
    return (
        record.provider,
        record.account,
        record.start,
        record.model,
        record.user_id,
        record.project_id,
        record.api_key_id,
        record.line_item,
        record.tags,
    )


def _figures(record: CostRecord) -> tuple[int, ...]:
    return (nanos(record.cost_usd), *(getattr(record, f) for f in TOKEN_FIELDS))


def _zeroed(record: CostRecord) -> CostRecord:
    return record.replace(cost_usd=Decimal(0), **dict.fromkeys(TOKEN_FIELDS, 0))


async def reallocate(
    store: RowStore, sinks: Sequence[RecordSink], days: Iterable[date]
) -> AllocationRun:
    """Allocate each of *days* again from *store* and write the difference to *sinks*.

    Raises what the store or a sink raises; a day already written stays written
    (each day is written on its own, zeroed rows before new ones, so a store
    that upserts by key keeps the new figure).
    """
    run = AllocationRun()
    for day in sorted(set(days)):
        start = day_start(day)
        span = (start, start + _DAY)
        billed = await store.stored_rows(CostQuery(*span, Basis.BILLED))
        usage = await store.stored_rows(CostQuery(*span, Basis.ESTIMATED))
        stored = await store.stored_rows(CostQuery(*span, Basis.ALLOCATED))
        result = allocate(billed, usage)
        fresh = {_identity(r): r for r in result.records}
        held = {_identity(r): r for r in stored}
        stale = [_zeroed(r) for ident, r in held.items() if ident not in fresh and any(_figures(r))]
        changed = [
            r
            for ident, r in fresh.items()
            if ident not in held or _figures(held[ident]) != _figures(r)
        ]
        if stale or changed:
            payload = [*stale, *changed]
            del fresh, held, stored
            for sink in sinks:
                # In slices, in order (zeroed rows before new ones, as above).
                for first in range(0, len(payload), WRITE_SLICE):
                    await sink.write(payload[first : first + WRITE_SLICE])
            run.changed_days.append(day)
        run.days.append(day)
        run.written += len(changed)
        run.zeroed += len(stale)
        _extend(run, result)
    return run


def _extend(run: AllocationRun, part: DayAllocation) -> None:
    run.unattributed_nanos += sum(cell.unattributed_nanos for cell in part.cells)
    total = run.allocation
    for slot, tokens in part.unpriced_tokens.items():
        total.unpriced_tokens[slot] = total.unpriced_tokens.get(slot, 0) + tokens
    for slot, amount in part.unbilled_nanos.items():
        total.unbilled_nanos[slot] = total.unbilled_nanos.get(slot, 0) + amount
