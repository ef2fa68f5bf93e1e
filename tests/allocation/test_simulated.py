"""Allocation on 30 days of simulated OpenAI and Anthropic data, in SQLite and InfluxDB.

The real pipeline backfills the simulator into the store and allocates; every
figure is then read back from the store and checked against the bill.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from costpipe.allocation.cells import UNATTRIBUTED, nanos
from costpipe.allocation.charges import charge_of, usage_tier
from costpipe.dashboard.billing import BillingView, billing_html, compute_billing
from costpipe.dashboard.periods import Preset
from costpipe.dashboard.viewmodel import DashboardView, Selection, compute_view
from costpipe.query.api import Basis, CostQuery
from costpipe.records import CostRecord
from tests.allocation.conftest import DAY, NOW, START, Simulated

# One backfill per store for the whole module: the tests share its event loop.
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

Cell = tuple[str, str, date, str, str, str, str, str]
_NAMED = ("model", "user_id", "project_id", "api_key_id")


def _day(record: CostRecord) -> date:
    return record.start.astimezone(UTC).date()


def _cell(record: CostRecord) -> Cell:
    return (
        record.provider,
        record.account,
        _day(record),
        record.line_item,
        record.model,
        record.user_id,
        record.project_id,
        record.api_key_id,
    )


def _belongs(row: CostRecord, cell: Cell) -> bool:
    """The allocated or usage *row* has every dimension the cell's cost row names."""
    named = dict(zip(_NAMED, cell[4:], strict=True))
    return all(not value or getattr(row, name) == value for name, value in named.items())


async def _rows(sim: Simulated, basis: Basis) -> list[CostRecord]:
    rows: list[CostRecord] = await sim.read(
        lambda reader: reader.stored_rows(CostQuery(START, NOW, basis))
    )
    return rows


def _bills(billed: list[CostRecord]) -> dict[Cell, int]:
    bills: dict[Cell, int] = defaultdict(int)
    for row in billed:
        bills[_cell(row)] += nanos(row.cost_usd)
    return bills


def _allocated_per_cell(
    bills: dict[Cell, int], allocated: list[CostRecord]
) -> dict[Cell, list[CostRecord]]:
    """Each allocated row under the one billed cell it belongs to."""
    by_item: dict[tuple[Any, ...], list[Cell]] = defaultdict(list)
    for cell in bills:
        by_item[cell[:4]].append(cell)
    found: dict[Cell, list[CostRecord]] = defaultdict(list)
    for row in allocated:
        if not any(_figures(row)):
            continue  # a zeroed row of an earlier allocation
        homes = [c for c in by_item[_cell(row)[:4]] if _belongs(row, c)]
        if row.user_id == UNATTRIBUTED:
            homes = [c for c in homes if c[5] in ("", UNATTRIBUTED)]
        assert len(homes) == 1, (row, homes)
        found[homes[0]].append(row)
    return found


def _figures(row: CostRecord) -> tuple[int, ...]:
    return (nanos(row.cost_usd), row.input_tokens, row.output_tokens)


async def test_every_billed_cell_is_allocated_to_the_nanodollar(simulated: Simulated) -> None:
    bills = _bills(await _rows(simulated, Basis.BILLED))
    allocated = _allocated_per_cell(bills, await _rows(simulated, Basis.ALLOCATED))
    assert len(bills) > 500
    assert set(bills) == set(allocated)
    for cell, amount in bills.items():
        assert amount == sum(nanos(r.cost_usd) for r in allocated[cell]), cell
    unattributed = {c[0] for c, rows in allocated.items() if rows[0].user_id == UNATTRIBUTED}
    # Anthropic's web search is billed with no usage row that can take it.
    assert "anthropic" in unattributed
    days = {c[2] for c in bills}
    assert len(days) == 30
    assert NOW.date() not in days


async def test_per_user_money_is_proportional_to_estimated_cost_in_each_cell(
    simulated: Simulated,
) -> None:
    """Within a cell, a user's share of the bill is their share of the cell's
    estimate (its token type's tokens at one price), to the nanodollar per row."""
    bills = _bills(await _rows(simulated, Basis.BILLED))
    allocated = _allocated_per_cell(bills, await _rows(simulated, Basis.ALLOCATED))
    usage: dict[tuple[Any, ...], list[CostRecord]] = defaultdict(list)
    for row in await _rows(simulated, Basis.ESTIMATED):
        if row.cost_source.value == "estimated":
            usage[(row.provider, row.account, _day(row))].append(row)
    checked = 0
    for cell, amount in bills.items():
        charge = charge_of(cell[0], cell[3])
        if not charge.usage or charge.token_fields is None:
            continue
        weights: dict[str, int] = defaultdict(int)
        for row in usage[cell[:3]]:
            if _belongs(row, cell) and usage_tier(row.provider, row.line_item) == charge.tier:
                weights[row.user_id] += sum(getattr(row, f) for f in charge.token_fields)
        total = sum(weights.values())
        got: dict[str, int] = defaultdict(int)
        rows: dict[str, int] = defaultdict(int)
        for row in allocated[cell]:
            got[row.user_id] += nanos(row.cost_usd)
            rows[row.user_id] += 1
        if total == 0:
            assert set(got) == {UNATTRIBUTED}
            continue
        assert {u for u, w in weights.items() if w} == set(got), cell
        for user, share in got.items():
            assert abs(share * total - amount * weights[user]) < total * rows[user], (cell, user)
        checked += 1
    assert checked > 300


async def test_a_second_backfill_changes_nothing(simulated: Simulated) -> None:
    before = await _rows(simulated, Basis.ALLOCATED)
    run = await simulated.backfill()
    assert (0, 0, []) == (run.written, run.zeroed, run.changed_days)
    assert len(run.days) == 31
    after = await _rows(simulated, Basis.ALLOCATED)
    assert [(r.key, _figures(r)) for r in before] == [(r.key, _figures(r)) for r in after]


async def test_best_is_allocated_on_billed_days_and_estimated_on_the_others(
    simulated: Simulated,
) -> None:
    billed_days = {(c[0], c[2]) for c in _bills(await _rows(simulated, Basis.BILLED))}

    async def day_totals(reader: Any) -> list[tuple[str, date, Decimal, Decimal]]:
        answers = []
        for provider in ("openai", "anthropic"):
            day = START
            while day < NOW:
                filters = {"provider": (provider,)}
                span = (day, min(day + DAY, NOW))
                best = await reader.total(CostQuery(*span, Basis.BEST, filters))
                is_billed = (provider, day.date()) in billed_days
                other = Basis.ALLOCATED if is_billed else Basis.ESTIMATED
                answers.append(
                    (
                        provider,
                        day.date(),
                        best,
                        await reader.total(CostQuery(*span, other, filters)),
                    )
                )
                day += DAY
        return answers

    totals = await simulated.read(day_totals)
    assert len(totals) == 62
    for provider, day, best, expected in totals:
        assert expected == best, (provider, day)
    assert [] == [(p, d) for p, d, best, _ in totals if best <= 0]


def _in_store(rows: list[CostRecord], basis: Basis, start: datetime, end: datetime) -> Decimal:
    """The sum a store gives (integer nanodollars) of the rows of *basis* in
    ``[start, end)``, computed in Python; for ``best``: allocated rows, and the
    estimated rows of a provider account's UTC day without allocated rows."""
    billed = {(r.provider, r.account, _day(r)) for r in rows if r.basis == "allocated"}

    def wanted(r: CostRecord) -> bool:
        if basis is not Basis.BEST:
            return r.basis == basis.value
        return r.basis == "allocated" or (
            r.basis == "estimated" and (r.provider, r.account, _day(r)) not in billed
        )

    total = sum(nanos(r.cost_usd) for r in rows if start <= r.start < end and wanted(r))
    return Decimal(total).scaleb(-9)


@pytest.mark.parametrize("basis", list(Basis))
async def test_the_dashboard_shows_every_basis(simulated: Simulated, basis: Basis) -> None:
    """The page's figures on each basis are the stored rows' sums; the billing
    view says which days are billed (yesterday and before) and which estimated."""
    rows = [
        *await _rows(simulated, Basis.BILLED),
        *await _rows(simulated, Basis.ESTIMATED),
        *await _rows(simulated, Basis.ALLOCATED),
    ]

    async def page(reader: Any) -> tuple[DashboardView, BillingView]:
        view = await compute_view(reader, Selection(Preset.LAST_7_DAYS, basis=basis), now=NOW)
        return view, await compute_billing(reader, view.range.start, view.range.end)

    view, billing = await simulated.read(page)
    start, end = view.range.start, view.range.end
    expected = _in_store(rows, basis, start, end)
    assert expected == view.total
    assert view.total > 0
    assert Selection().basis is Basis.BEST
    yesterday = (NOW - DAY).date()
    for provider in ("openai", "anthropic"):
        assert [NOW.date()] == billing.estimated_days[provider]
        assert yesterday == billing.billed_days[provider][-1]
    assert "Billed vs estimated" in billing_html(billing)


async def test_a_revision_of_yesterday_reallocates_that_day_only(simulated: Simulated) -> None:
    yesterday = (NOW - DAY).date()
    simulated.simulator.revise()
    run = await simulated.backfill(NOW.replace(hour=0) - 3 * DAY, NOW)
    assert [yesterday] == run.changed_days
    assert run.written > 0
    bills = _bills(await _rows(simulated, Basis.BILLED))
    allocated = _allocated_per_cell(bills, await _rows(simulated, Basis.ALLOCATED))
    for cell, amount in bills.items():
        assert amount == sum(nanos(r.cost_usd) for r in allocated[cell]), cell
    truth = simulated.simulator.truth("openai", NOW.replace(hour=0) - DAY, NOW.replace(hour=0))
    billed_total = sum(a for c, a in bills.items() if c[0] == "openai" and c[2] == yesterday)
    assert truth["total"].cost_usd == Decimal(billed_total).scaleb(-9)
