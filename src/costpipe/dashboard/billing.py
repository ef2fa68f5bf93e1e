"""The page's "Billed vs estimated" view and its note of billed and estimated days.

The ``best`` basis (the page's default) shows allocated money on the days whose
bill is in and the usage estimate on the others; the note says which is which
for every provider in the range, from the same rule the query layer applies (a
provider account's UTC day is billed when it holds allocated rows). The table
lines each provider's days up, billed against estimated, with the drift in
percent of the bill (:mod:`costpipe.allocation.reconcile`), flagging the days
beyond the tolerance. Provider names come from the data: everything is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from costpipe.allocation.reconcile import DriftRow, reconcile
from costpipe.dashboard.formatting import format_usd
from costpipe.query.api import Basis, CostQuery, CostReader, Granularity

__all__ = ["DEFAULT_TOLERANCE", "BillingView", "billing_html", "compute_billing", "day_runs"]

DEFAULT_TOLERANCE = Decimal(5)
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class BillingView:
    """Per provider, the range's billed and estimated UTC days, and the day rows."""

    billed_days: dict[str, list[date]] = field(default_factory=dict)
    estimated_days: dict[str, list[date]] = field(default_factory=dict)
    rows: list[DriftRow] = field(default_factory=list)
    tolerance: Decimal = DEFAULT_TOLERANCE


async def compute_billing(
    reader: CostReader, start: datetime, end: datetime, tolerance: Decimal = DEFAULT_TOLERANCE
) -> BillingView:
    """The figures of the view for ``[start, end)`` (UTC days it touches)."""
    rows = await reconcile(reader, start, end)
    allocated = await reader.series(
        CostQuery(start, end, Basis.ALLOCATED), Granularity.DAY, "UTC", by="provider"
    )
    billed = {(p.group, p.start.astimezone(UTC).date()) for p in allocated}
    billed_days: dict[str, list[date]] = {}
    estimated_days: dict[str, list[date]] = {}
    for row in rows:
        if (row.provider, row.day) in billed:
            billed_days.setdefault(row.provider, []).append(row.day)
        elif row.estimated:
            estimated_days.setdefault(row.provider, []).append(row.day)
    return BillingView(billed_days, estimated_days, rows, tolerance)


def day_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive days as ``(first, last)`` runs, in order."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and runs[-1][1] + _DAY == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _runs_text(days: list[date]) -> str:
    parts = [
        first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
        for first, last in day_runs(days)
    ]
    return ", ".join(parts) or "none"


def billing_html(view: BillingView) -> str:
    """The note and the table, as escaped HTML."""
    providers = sorted(set(view.billed_days) | set(view.estimated_days))
    notes = "".join(
        f"<li><b>{html.escape(p)}</b>: billed (allocated) {_runs_text(view.billed_days.get(p, []))};"
        f" estimated {_runs_text(view.estimated_days.get(p, []))}</li>"
        for p in providers
    )
    note = (
        '<div class="billing-note"><p>On the <b>best</b> basis, a UTC day shows the bill split'
        " over usage (allocated) once the provider's bill for it is in, the usage estimate"
        f" before that.</p><ul>{notes}</ul></div>"
    )
    lines = []
    for row in view.rows:
        drift = "" if row.drift_percent is None else f"{row.drift_percent} %"
        flag = ' class="flagged"' if row.flagged(view.tolerance) else ""
        lines.append(
            f"<tr{flag}><td>{html.escape(row.provider)}</td><td>{row.day.isoformat()}</td>"
            f"<td>{format_usd(row.billed)}</td><td>{format_usd(row.estimated)}</td>"
            f"<td>{format_usd(row.difference)}</td><td>{drift}</td></tr>"
        )
    table = (
        '<table class="billing"><thead><tr><th>Provider</th><th>Day (UTC)</th><th>Billed</th>'
        "<th>Estimated</th><th>Difference</th><th>Drift</th></tr></thead>"
        f"<tbody>{''.join(lines)}</tbody></table>"
    )
    flagged = sum(row.flagged(view.tolerance) for row in view.rows)
    summary = f"<p>{flagged} day(s) beyond {view.tolerance} % of the bill.</p>"
    return f"<h3>Billed vs estimated</h3>{note}{table}{summary}"
