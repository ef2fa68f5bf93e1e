"""In-memory fakes for tests: a sink with a query layer, and a capturing notifier.

:class:`MemorySink` keeps records by key (upsert, as every sink must) and its
:meth:`~MemorySink.reader` answers :class:`~costpipe.query.api.CostReader` queries
by summing Decimals in Python. That is forbidden for real stores (they must
aggregate inside the store) and fine for a fake holding a few hundred rows.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

from costpipe.components import ComponentConfig, ComponentContext, Notifier, Sink
from costpipe.errors import CostpipeError, TransientError
from costpipe.hookspecs import hookimpl
from costpipe.notification import Notification
from costpipe.query.api import (
    OTHER,
    QUERYABLE_DIMENSIONS,
    Basis,
    Breakdown,
    CostQuery,
    Granularity,
    SeriesPoint,
    check_dimension,
)
from costpipe.records import UNIT_FIELDS, CostRecord, CostSource

__all__ = [
    "CapturingNotifier",
    "CapturingNotifierConfig",
    "MemoryReader",
    "MemorySink",
    "MemorySinkConfig",
]


def _context(instance: str) -> ComponentContext:
    return ComponentContext(instance=instance, state_dir=Path(tempfile.gettempdir()))


class MemorySinkConfig(ComponentConfig):
    pass


class MemorySink(Sink[MemorySinkConfig]):
    """A :class:`~costpipe.components.Sink` that keeps records in a dict by key."""

    name: ClassVar[str] = "memory"
    config_model = MemorySinkConfig

    def __init__(self, config: MemorySinkConfig, context: ComponentContext) -> None:
        super().__init__(config, context)
        self.records: dict[str, CostRecord] = {}
        self.writes = 0

    @classmethod
    def create(cls, instance: str = "memory.test") -> MemorySink:
        """A ready sink without config plumbing."""
        return cls(MemorySinkConfig(), _context(instance))

    async def write(self, records: Sequence[CostRecord]) -> None:
        self.writes += 1
        for record in records:
            self.records[record.key] = record

    def add(self, *records: CostRecord) -> None:
        """Store *records* synchronously (test set-up)."""
        for record in records:
            self.records[record.key] = record

    def remove(self, *records: CostRecord) -> None:
        for record in records:
            self.records.pop(record.key, None)

    def reader(self) -> MemoryReader:
        return MemoryReader(lambda: self.records.values())


class MemoryReader:
    """A :class:`~costpipe.query.api.CostReader` over a live collection of records."""

    def __init__(self, source: Callable[[], Iterable[CostRecord]]) -> None:
        self._source = source

    def _known_tags(self) -> list[str]:
        return sorted({name for r in self._source() for name, _ in r.tags})

    def _select(self, query: CostQuery) -> list[CostRecord]:
        tags = self._known_tags()
        for dim in query.filters:
            check_dimension(dim, tags)
        bases = {query.basis.value}
        billed: set[tuple[str, str, date]] = set()
        if query.basis is Basis.BEST:
            # Basis.BEST: a provider account's UTC day with an allocated row is billed.
            bases = {"allocated", "estimated"}
            billed = {
                (r.provider, r.account, r.start.date())
                for r in self._source()
                if r.cost_source is CostSource.ALLOCATED
            }
        records = list(self._source())
        return [
            r
            for r in records
            if query.start <= r.start < query.end
            and r.basis in bases
            and (r.basis != "estimated" or (r.provider, r.account, r.start.date()) not in billed)
            and all(r.dimension(d) in values for d, values in query.filters.items())
        ]

    async def total(self, query: CostQuery) -> Decimal:
        return sum((r.cost_usd for r in self._select(query)), Decimal(0))

    async def breakdown(self, query: CostQuery, by: str, top: int | None = None) -> list[Breakdown]:
        check_dimension(by, self._known_tags())
        sums: dict[str, Decimal] = defaultdict(Decimal)
        for record in self._select(query):
            sums[record.dimension(by)] += record.cost_usd
        rows = sorted(sums.items(), key=lambda item: (-item[1], item[0]))
        if top is not None and len(rows) > top:
            rest = sum((cost for _, cost in rows[top:]), Decimal(0))
            rows = [*rows[:top], (OTHER, rest)]
        return [Breakdown(group, cost) for group, cost in rows]

    async def series(
        self,
        query: CostQuery,
        granularity: Granularity,
        timezone: str = "UTC",
        by: str | None = None,
    ) -> list[SeriesPoint]:
        if by is not None:
            check_dimension(by, self._known_tags())
        zone = ZoneInfo(timezone)
        sums: dict[tuple[datetime, str], Decimal] = defaultdict(Decimal)
        for record in self._select(query):
            local = record.start.astimezone(zone)
            if granularity is Granularity.HOUR:
                # Truncate in UTC: an hour is the same hour in every zone with whole-hour offsets.
                start = record.start.replace(minute=0, second=0, microsecond=0).astimezone(zone)
            else:
                start = datetime.combine(local.date(), datetime.min.time(), tzinfo=zone)
            group = "" if by is None else record.dimension(by)
            sums[(start, group)] += record.cost_usd
        return [
            SeriesPoint(start, group, cost)
            for (start, group), cost in sorted(sums.items(), key=lambda i: (i[0][0], i[0][1]))
        ]

    async def unpriced_usage(self, query: CostQuery) -> dict[str, int]:
        usage: dict[str, int] = defaultdict(int)
        listed: set[str] = set()
        for record in self._source():
            if (
                record.cost_source is CostSource.UNPRICED
                and query.start <= record.start < query.end
            ):
                usage[record.model] += record.input_tokens + record.all_output_tokens
                # A model whose unpriced usage is units only is listed too.
                units = any(getattr(record, name) for name in UNIT_FIELDS)
                if units or usage[record.model]:
                    listed.add(record.model)
        return {model: tokens for model, tokens in usage.items() if model in listed}

    async def stored_rows(self, query: CostQuery) -> list[CostRecord]:
        """The stored records of the query's basis, range and filters, by key."""
        return sorted(self._select(query), key=lambda r: r.key)

    async def tag_names(self) -> list[str]:
        return [t for t in self._known_tags() if t not in QUERYABLE_DIMENSIONS]


class CapturingNotifierConfig(ComponentConfig):
    pass


class CapturingNotifier(Notifier[CapturingNotifierConfig]):
    """Keeps every notification it accepts in :attr:`sent`.

    Set :attr:`fail_next` to make the next *n* sends raise *failure* (a
    :class:`~costpipe.errors.TransientError` by default), or :attr:`down` to make
    every send fail until it is cleared.
    """

    name: ClassVar[str] = "capture"
    config_model = CapturingNotifierConfig

    def __init__(self, config: CapturingNotifierConfig, context: ComponentContext) -> None:
        super().__init__(config, context)
        self.sent: list[Notification] = []
        self.attempts = 0
        self.fail_next = 0
        self.down = False
        self.failure: CostpipeError = TransientError("capturing notifier told to fail")

    @classmethod
    def create(cls, instance: str = "capture.test") -> CapturingNotifier:
        return cls(CapturingNotifierConfig(), _context(instance))

    @property
    def ids(self) -> list[str]:
        return [n.id for n in self.sent]

    async def send(self, notification: Notification) -> None:
        self.attempts += 1
        if self.down:
            raise self.failure
        if self.fail_next > 0:
            self.fail_next -= 1
            raise self.failure
        self.sent.append(notification)


@hookimpl
def register_sinks() -> list[type[Sink[MemorySinkConfig]]]:
    return [MemorySink]


@hookimpl
def register_notifiers() -> list[type[Notifier[CapturingNotifierConfig]]]:
    return [CapturingNotifier]
