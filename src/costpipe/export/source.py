"""What ``costpipe export`` needs from a store: its rows, streamed.

A store's query-layer reader (:class:`~costpipe.query.api.CostReader`) that can
also stream its stored rows implements :class:`RecordStream`; both built-in
readers do (SQLite, InfluxDB). Rows come back as :class:`~costpipe.records.CostRecord`
summed per period and group, so the export's columns are derived from the
record type alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Protocol, runtime_checkable

from costpipe.query.api import CostQuery
from costpipe.records import CostRecord

__all__ = ["RecordStream"]


@runtime_checkable
class RecordStream(Protocol):
    def stream_records(
        self,
        query: CostQuery,
        by: Sequence[str] | None = None,
        period: timedelta = timedelta(days=1),
        chunk: int = 5000,
    ) -> AsyncIterator[list[CostRecord]]:
        """The records of *query* (its range, basis and filters) summed per UTC
        *period* (a bucket wider than the period keeps its own width) and per
        value of every dimension in *by* (every dimension and enricher tag, i.e.
        the stored rows, when None), unpriced rows apart from priced ones, in
        lists of about *chunk*. Memory stays bounded by *chunk*, not by the
        range. Raises ValueError for a dimension or period the store cannot
        export, and what ``total`` raises when the store fails."""
        ...
