"""Billed against estimated money, per provider, UTC day and a dimension.

What ``costpipe reconcile``, the dashboard's "Billed vs estimated" view and the
``drift`` alert read. Every figure comes from the query layer (sums inside the
store); this module only lines the two bases up. The drift of a row is the
difference as a share of the bill, ``(billed - estimated) / billed``: a bill
10 % above its estimate drifts by 9.09 %, an estimate 10 % above its bill by
-11.11 %. A row is *flagged* when the day's bill is in (the provider has billed
rows that day) and the drift exceeds the tolerance in either direction, or the
bill is zero while the estimate is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from costpipe.query.api import Basis, CostQuery, CostReader, Granularity

__all__ = ["BY", "DriftRow", "explaining", "reconcile"]

#: ``--by`` choices and the dimension each reads.
BY = {"project": "project_id", "model": "model", "line_item": "line_item"}
_HUNDRED = Decimal(100)
_CENT_OF_PERCENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class DriftRow:
    """One provider, UTC day and group (``""`` for the day's total)."""

    provider: str
    day: date
    group: str
    billed: Decimal
    estimated: Decimal
    bill_in: bool
    """The provider has billed rows on this day."""

    @property
    def difference(self) -> Decimal:
        return self.billed - self.estimated

    @property
    def drift_percent(self) -> Decimal | None:
        """``(billed - estimated) / billed`` in percent (2 places); None without a bill."""
        if not self.billed:
            return None
        return (self.difference / self.billed * _HUNDRED).quantize(_CENT_OF_PERCENT)

    def flagged(self, tolerance_percent: Decimal) -> bool:
        if not self.bill_in:
            return False
        drift = self.drift_percent
        if drift is None:
            return bool(self.estimated)
        return abs(drift) > tolerance_percent


async def reconcile(
    reader: CostReader, start: datetime, end: datetime, by: str | None = None
) -> list[DriftRow]:
    """Rows for ``[start, end)`` per provider, UTC day and value of *by* (a key of
    :data:`BY`; None: one row per provider and day), ordered by provider, day
    and the size of the difference."""
    dimension = None if by is None else BY[by]
    whole = CostQuery(start, end, Basis.BILLED)
    providers = {b.group for b in await reader.breakdown(whole, "provider")}
    estimated_whole = CostQuery(start, end, Basis.ESTIMATED)
    providers |= {b.group for b in await reader.breakdown(estimated_whole, "provider")}
    rows: list[DriftRow] = []
    for provider in sorted(providers):
        only = {"provider": (provider,)}
        sums: dict[tuple[date, str], list[Decimal]] = {}
        days_billed: set[date] = set()
        for index, basis in enumerate((Basis.BILLED, Basis.ESTIMATED)):
            points = await reader.series(
                CostQuery(start, end, basis, only), Granularity.DAY, "UTC", by=dimension
            )
            for point in points:
                day = point.start.astimezone(UTC).date()
                slot = sums.setdefault((day, point.group), [Decimal(0), Decimal(0)])
                slot[index] += point.cost_usd
                if index == 0:
                    days_billed.add(day)
        ordered = sorted(sums.items(), key=lambda i: (i[0][0], -abs(i[1][0] - i[1][1]), i[0][1]))
        for (day, group), (billed, estimated) in ordered:
            rows.append(DriftRow(provider, day, group, billed, estimated, day in days_billed))
    return rows


def explaining(rows: Sequence[DriftRow], limit: int = 3) -> list[DriftRow]:
    """The rows with the largest absolute difference, largest first (what names
    the models or line items behind a day's drift)."""
    return sorted((r for r in rows if r.difference), key=lambda r: -abs(r.difference))[:limit]
