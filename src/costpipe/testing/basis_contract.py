"""The money bases in the sink contract: ``allocated`` is a basis of its own, and
``best`` picks allocated or estimated money per provider account and UTC day.

:class:`BasisContract` is a part of :class:`~costpipe.testing.SinkContract`
(which inherits it); it needs the same ``sink`` fixture.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from costpipe.components import Sink
from costpipe.query.api import (
    Basis,
    CostQuery,
    CostReader,
    Granularity,
    GroupedReader,
    SpendRequest,
)
from costpipe.records import CostRecord, CostSource

__all__ = ["BasisContract"]

D1 = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _row(source: CostSource, start: datetime, cost: str, **changes: Any) -> CostRecord:
    base = CostRecord(
        start=start,
        width=HOUR,
        provider="openai",
        account="acme",
        cost_source=source,
        cost_usd=Decimal(cost),
        model="gpt-4o",
        user_id="alice",
        project_id="proj_1",
        line_item="completions",
    )
    return base.replace(**changes)


def _two_days() -> list[CostRecord]:
    """Day 1 of openai/acme is billed (allocated rows), day 2 is not; openai/beta
    has no bill at all; anthropic/acme is billed on day 2 only."""
    est, alloc = CostSource.ESTIMATED, CostSource.ALLOCATED
    return [
        _row(est, D1 + 3 * HOUR, "1.00"),
        _row(est, D1 + 4 * HOUR, "2.00", user_id="bob"),
        _row(alloc, D1 + 3 * HOUR, "1.10"),
        _row(alloc, D1 + 4 * HOUR, "2.20", user_id="bob"),
        _row(alloc, D1, "0.05", user_id="unattributed", width=DAY),
        _row(est, D1 + 8 * HOUR, "0.50", user_id="dave"),
        _row(est, D1 + DAY + 5 * HOUR, "4.00"),
        _row(est, D1 + DAY + 6 * HOUR, "8.00", user_id="bob"),
        _row(est, D1 + 2 * HOUR, "16.00", account="beta"),
        _row(est, D1 + DAY + 2 * HOUR, "32.00", account="beta"),
        _row(est, D1 + 7 * HOUR, "64.00", provider="anthropic"),
        _row(est, D1 + DAY + 7 * HOUR, "128.00", provider="anthropic"),
        _row(alloc, D1 + DAY + 7 * HOUR, "130.00", provider="anthropic"),
        _row(CostSource.BILLED, D1, "3.35", user_id="", width=DAY),
    ]


class BasisContract:
    """``allocated`` and ``best`` over a readable sink."""

    @staticmethod
    def reader_of(sink: Sink[Any]) -> CostReader:
        reader = sink.reader()
        assert isinstance(reader, CostReader)
        return reader

    async def test_allocated_rows_never_replace_billed_or_estimated(self, sink: Sink[Any]) -> None:
        """One bucket and dimensions on three bases: three keys, three sums."""
        rows = [
            _row(CostSource.BILLED, D1, "10"),
            _row(CostSource.ESTIMATED, D1, "7"),
            _row(CostSource.ALLOCATED, D1, "9"),
        ]
        assert len({r.key for r in rows}) == 3
        await sink.write(rows)
        reader = self.reader_of(sink)
        span = (D1, D1 + DAY)
        assert Decimal(10) == await reader.total(CostQuery(*span, Basis.BILLED))
        assert Decimal(7) == await reader.total(CostQuery(*span, Basis.ESTIMATED))
        assert Decimal(9) == await reader.total(CostQuery(*span, Basis.ALLOCATED))

    async def test_best_is_allocated_on_billed_days_and_estimated_otherwise(
        self, sink: Sink[Any]
    ) -> None:
        await sink.write(_two_days())
        reader = self.reader_of(sink)
        best = CostQuery(D1, D1 + 2 * DAY, Basis.BEST)
        # openai/acme: 3.35 allocated on day 1, 12 estimated on day 2; beta: 48
        # estimated; anthropic: 64 estimated on day 1, 130 allocated on day 2.
        assert Decimal("257.35") == await reader.total(best)
        by_provider = {b.group: b.cost_usd for b in await reader.breakdown(best, "provider")}
        assert {"openai": Decimal("63.35"), "anthropic": Decimal(194)} == by_provider
        daily = await reader.series(best, Granularity.DAY, "UTC", by="account")
        assert [
            (D1, "acme", Decimal("67.35")),
            (D1, "beta", Decimal(16)),
            (D1 + DAY, "acme", Decimal(142)),
            (D1 + DAY, "beta", Decimal(32)),
        ] == [(p.start.astimezone(UTC), p.group, p.cost_usd) for p in daily]

    async def test_best_ignores_filters_when_it_decides_a_day(self, sink: Sink[Any]) -> None:
        """A filter that admits no allocated row of a billed day does not bring
        back that day's estimate: the day is billed for every question."""
        await sink.write(_two_days())
        reader = self.reader_of(sink)
        dave = {"user_id": ("dave",)}
        assert Decimal("0.50") == await reader.total(
            CostQuery(D1, D1 + 2 * DAY, Basis.ESTIMATED, dave)
        )
        assert Decimal(0) == await reader.total(CostQuery(D1, D1 + 2 * DAY, Basis.BEST, dave))
        alice = CostQuery(
            D1, D1 + 2 * DAY, Basis.BEST, {"provider": ("openai",), "user_id": ("alice",)}
        )
        assert Decimal("53.10") == await reader.total(alice)

    async def test_best_over_a_range_cut_inside_a_day(self, sink: Sink[Any]) -> None:
        """The day is billed whatever part of it the range covers."""
        await sink.write(_two_days())
        reader = self.reader_of(sink)
        part = CostQuery(D1 + 4 * HOUR, D1 + DAY + 6 * HOUR, Basis.BEST, {"account": ("acme",)})
        # openai day 1 from 04:00: 2.20 allocated; openai day 2 before 06:00: 4;
        # anthropic day 1 from 04:00: 64 estimated.
        assert Decimal("70.20") == await reader.total(part)

    async def test_best_in_grouped_spend_matches_total(self, sink: Sink[Any]) -> None:
        await sink.write(_two_days())
        reader = self.reader_of(sink)
        if not isinstance(reader, GroupedReader):
            return
        best = CostQuery(D1, D1 + 2 * DAY, Basis.BEST)
        filtered = CostQuery(D1, D1 + 2 * DAY, Basis.BEST, {"user_id": ("bob",)})
        answers = await reader.spend(
            [SpendRequest(best), SpendRequest(best, "provider"), SpendRequest(filtered)]
        )
        assert {"": await reader.total(best)} == answers[0]
        assert {"openai": Decimal("63.35"), "anthropic": Decimal(194)} == answers[1]
        assert {"": Decimal("10.20")} == answers[2]
