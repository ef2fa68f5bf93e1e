"""The query layer: one read interface that every readable store implements.

The dashboard and the budget evaluator read only through :class:`CostReader`.
Every method aggregates inside the store (SQL ``GROUP BY``, InfluxQL
``GROUP BY time()``); no implementation may pull raw points into Python to
sum them. Dimension names are checked against :data:`QUERYABLE_DIMENSIONS`
plus the enricher tags the store knows, and values are always passed as
escaped literals or bound parameters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from costpipe.records import TEXT_DIMENSIONS, utc

__all__ = [
    "OTHER",
    "QUERYABLE_DIMENSIONS",
    "Basis",
    "Breakdown",
    "CostQuery",
    "CostReader",
    "Granularity",
    "GroupedReader",
    "SeriesPoint",
    "SpendRequest",
    "check_dimension",
]

#: Dimensions every store can group and filter by: the record's text dimensions
#: (one definition, in :mod:`costpipe.records`). Enricher tags are allowed too when
#: they match :data:`TAG_NAME`.
QUERYABLE_DIMENSIONS: tuple[str, ...] = TEXT_DIMENSIONS
#: Label of the bucket that gathers everything past the top N of a breakdown.
OTHER = "other"
TAG_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def check_dimension(name: str, extra_tags: Sequence[str] = ()) -> str:
    """Return *name* if it may be used as a dimension, else raise ValueError."""
    if name in QUERYABLE_DIMENSIONS or (name in extra_tags and TAG_NAME.match(name)):
        return name
    raise ValueError(f"unknown dimension {name!r}")


class Basis(StrEnum):
    """Which money a query sums. Bases are never added together.

    ``best`` is not a stored basis but a choice made per provider account and
    UTC day: the ``allocated`` rows of a day whose bill is in, the ``estimated``
    rows of a day whose bill is not. A day's bill is *in* for a provider account
    when the store holds at least one ``allocated`` row of that provider and
    account starting in that UTC day (allocation writes at least one row, the
    ``unattributed`` one, for every billed cell, once the bill's rows are stored);
    the choice ignores the query's filters, so a filter never turns a billed day
    into an estimated one. See ``docs/allocation.md``.
    """

    BILLED = "billed"
    ESTIMATED = "estimated"
    ALLOCATED = "allocated"
    BEST = "best"

    @property
    def stored(self) -> bool:
        """True for a basis rows are stored under (every one but ``best``)."""
        return self is not Basis.BEST


class Granularity(StrEnum):
    HOUR = "hour"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class CostQuery:
    """A half-open UTC range ``[start, end)``, a basis and equality filters.

    ``filters`` maps a dimension to the values it may take (OR within a
    dimension, AND across dimensions).
    """

    start: datetime
    end: datetime
    basis: Basis = Basis.BILLED
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start))
        object.__setattr__(self, "end", utc(self.end))


@dataclass(frozen=True, slots=True)
class Breakdown:
    group: str
    cost_usd: Decimal


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """Spend of one group in one period. ``start`` is the period start as an
    aware datetime in the requested timezone."""

    start: datetime
    group: str
    cost_usd: Decimal


@dataclass(frozen=True, slots=True)
class SpendRequest:
    """One question of a batch: the spend of *query*, per value of *by*, or in
    total (one entry under ``""``) when *by* is None.

    The answer is what :meth:`CostReader.breakdown` (without ``top``) or
    :meth:`CostReader.total` returns for the same query, as a mapping.
    """

    query: CostQuery
    by: str | None = None


@runtime_checkable
class CostReader(Protocol):
    """Aggregations over stored records."""

    async def total(self, query: CostQuery) -> Decimal:
        """Sum of ``cost_usd`` for the query."""
        ...

    async def breakdown(self, query: CostQuery, by: str, top: int | None = None) -> list[Breakdown]:
        """Spend per value of *by*, largest first; with *top*, the rest is summed
        into one :data:`OTHER` row. Records without the dimension count as ``""``."""
        ...

    async def series(
        self,
        query: CostQuery,
        granularity: Granularity,
        timezone: str = "UTC",
        by: str | None = None,
    ) -> list[SeriesPoint]:
        """Spend per hour or per calendar day in *timezone* (DST-safe), per
        value of *by* when given (group ``""`` otherwise). Periods without
        data are omitted."""
        ...

    async def unpriced_usage(self, query: CostQuery) -> dict[str, int]:
        """Tokens of unpriced usage per model in the range (empty if none)."""
        ...

    async def tag_names(self) -> list[str]:
        """Enricher tag names present in the store."""
        ...


@runtime_checkable
class GroupedReader(Protocol):
    """A store that answers many :class:`SpendRequest` in few queries.

    Optional: :func:`costpipe.query.grouped.spend` uses it when a reader has it
    and falls back to one ``total``/``breakdown`` per distinct request otherwise.
    """

    async def spend(self, requests: Sequence[SpendRequest]) -> list[dict[str, Decimal]]:
        """One answer per request, in order. Requests over the same range and
        basis share one grouped query; filters and groups are applied to its
        aggregated rows. Raises as ``total`` would for any request (unknown
        dimension, store unreachable); callers may then ask one by one."""
        ...
