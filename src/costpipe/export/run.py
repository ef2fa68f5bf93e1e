"""One export: stream records from a store, shape them, write them, check the total.

The money written is added up as integer nanodollars while the rows stream
past, and compared at the end with what the query layer's ``total`` says for
the same query: an export whose file does not add up to the store (the daemon
wrote meanwhile, a row was lost) is reported as a failure, never as success.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from costpipe.export.columns import COSTPIPE_COLUMNS, Cell, Column, costpipe_row
from costpipe.export.focus import FocusRows
from costpipe.export.progress import ExportProgress
from costpipe.export.source import RecordStream
from costpipe.export.writers import RowWriter
from costpipe.pricing.prices import PriceTable
from costpipe.query.api import CostQuery, CostReader
from costpipe.records import CostRecord

__all__ = ["ExportMismatch", "ExportPlan", "ExportSummary", "Shaper", "export", "shaper"]

Shaper = Callable[[CostRecord], Iterable[tuple[Cell, ...]]]


class ExportMismatch(RuntimeError):
    """The exported money differs from the store's total for the same query."""


@dataclass(frozen=True, slots=True)
class ExportPlan:
    query: CostQuery
    by: Sequence[str] | None = None
    period: timedelta = timedelta(days=1)
    chunk: int = 5000


@dataclass(frozen=True, slots=True)
class ExportSummary:
    records: int
    rows: int
    nanos: int
    store_total: Decimal

    @property
    def total(self) -> Decimal:
        return Decimal(self.nanos).scaleb(-9)


def shaper(
    schema: str, focus_version: str, prices: PriceTable | None
) -> tuple[tuple[Column, ...], Shaper]:
    """The columns and the record-to-rows function of *schema* (``costpipe`` or ``focus``)."""
    if schema == "focus":
        focus = FocusRows(focus_version, prices)
        return focus.columns, focus.rows
    if schema == "costpipe":
        return COSTPIPE_COLUMNS, lambda record: (costpipe_row(record),)
    raise ValueError(f"unknown column set {schema!r}: expected costpipe or focus")


async def export(
    reader: CostReader,
    plan: ExportPlan,
    shape: Shaper,
    open_writer: Callable[[], RowWriter],
    progress: ExportProgress | None = None,
) -> ExportSummary:
    """Write every record of *plan* through *shape* and the writer *open_writer*
    makes; raise :class:`ExportMismatch` when the money written is not the
    store's total. The writer is opened once the store answered, so a refused
    query (an unknown dimension) writes nothing, not even a header."""
    if not isinstance(reader, RecordStream):
        raise ValueError(f"the store's reader ({type(reader).__name__}) cannot stream rows")
    records = rows = nanos = 0
    batches = aiter(reader.stream_records(plan.query, plan.by, plan.period, plan.chunk))
    first = await anext(batches, None)
    writer = open_writer()
    pending = [] if first is None else [first]
    while pending:
        batch = pending.pop()
        shaped: list[tuple[Cell, ...]] = []
        for record in batch:
            nanos += int(record.cost_usd.scaleb(9))
            shaped.extend(shape(record))
        writer.write(shaped)
        records += len(batch)
        rows += len(shaped)
        if progress is not None and batch:
            progress.update(len(shaped), max(r.start for r in batch))
        following = await anext(batches, None)
        if following is not None:
            pending.append(following)
    writer.close()
    if progress is not None:
        progress.finish()
    store_total = await reader.total(plan.query)
    summary = ExportSummary(records, rows, nanos, store_total)
    if summary.total != store_total:
        raise ExportMismatch(
            f"the export adds up to {summary.total} USD but the store holds {store_total} USD "
            "for the same range and basis (was the store written to meanwhile?); run it again"
        )
    return summary
