"""The dashboard's figures, computed from the query layer and nothing else.

:func:`compute_view` turns a :class:`Selection` (what the controls say) into a
:class:`DashboardView` (every number on the page). It knows nothing about
Panel, so it is unit-tested without a browser and reused by the benchmark.
All money stays :class:`~decimal.Decimal`; the stores do the summing, and the
only arithmetic here is on already-aggregated rows (folding the tail of a
series into "other", percentages, the linear forecast).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from costpipe.alerts.periods import Period, period_at
from costpipe.alerts.rules import forecast as linear_forecast
from costpipe.alerts.spend import budget_request
from costpipe.config.settings import BudgetConfig
from costpipe.dashboard.periods import DateRange, Preset, preset_range
from costpipe.dashboard.status import ProviderFreshness, read_freshness
from costpipe.query.api import (
    OTHER,
    Basis,
    Breakdown,
    CostQuery,
    CostReader,
    Granularity,
    SeriesPoint,
    check_dimension,
)
from costpipe.query.cache import CachingReader
from costpipe.query.grouped import spend as grouped_spend
from costpipe.records import utc

__all__ = [
    "FILTER_DIMENSIONS",
    "GROUP_LABELS",
    "MAX_FILTER_OPTIONS",
    "BudgetView",
    "DashboardView",
    "Pricing",
    "Selection",
    "compute_budgets",
    "compute_view",
    "group_choices",
]

#: Built-in group-by dimensions and their labels, in display order.
GROUP_LABELS: dict[str, str] = {
    "provider": "Provider",
    "model": "Model",
    "user_id": "User",
    "project_id": "Project",
    "api_key_id": "API key",
    "line_item": "Line item",
}
#: Dimensions offered as filters (their values come from the selected range).
#: ``line_item`` lists the usage categories (``completions``, ``images, 1024x1024,
#: image.generation``, ``vector_stores``, ``web_search_calls, medium``...).
#: ``user_id`` and ``api_key_id`` let an anomaly link open one user's or key's spend.
FILTER_DIMENSIONS: tuple[str, ...] = (
    "provider",
    "model",
    "user_id",
    "project_id",
    "api_key_id",
    "line_item",
)
#: At most this many choices per filter: the range's largest spenders. Users
#: and keys can number thousands; a chosen or linked value stays selectable.
MAX_FILTER_OPTIONS = 200


def group_choices(tag_names: Sequence[str]) -> dict[str, str]:
    """Label -> dimension for the group-by control: built-ins, then enricher tags."""
    choices = {label: name for name, label in GROUP_LABELS.items()}
    for tag in sorted(tag_names):
        if tag not in GROUP_LABELS:
            choices[f"Tag: {tag}"] = tag
    return choices


class Pricing(StrEnum):
    """Whether a breakdown row's figure covers all of its usage.

    costpipe never shows unpriced usage as $0: the estimated basis stores it
    with a cost of 0, so a row made only of it must read "unpriced", not 0.00.
    The values are what the CSV's ``pricing`` column says.
    """

    PRICED = "priced"
    """Billed cost, or an estimate with every token priced."""
    UNPRICED = "unpriced"
    """Every token of the group is unpriced: its cost is unknown, not zero."""
    PARTLY_UNPRICED = "partly_unpriced"
    """The figure is exact for the priced usage and leaves some unpriced usage out."""
    MAY_EXCLUDE_UNPRICED = "may_exclude_unpriced"
    """The range has unpriced usage, but the store reports it per model only, so
    which groups of this dimension it belongs to is not known."""


@dataclass(frozen=True, slots=True)
class Selection:
    """The state of the dashboard's controls."""

    preset: Preset = Preset.LAST_7_DAYS
    group_by: str = "provider"
    granularity: Granularity = Granularity.DAY
    basis: Basis = Basis.BEST
    """``best`` by default: allocated money where the day's bill is in, else the estimate."""
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    top: int = 8


@dataclass(frozen=True, slots=True)
class BudgetView:
    """One configured budget in its current calendar period.

    With ``group_by``, alerts fire per group, so the card shows the group that
    is furthest through its budget (``group``).
    """

    name: str
    amount: Decimal
    spend: Decimal
    forecast: Decimal | None
    """Linear projection to the period end, as the alert engine computes it;
    ``None`` before 10 % of the period has passed (too early to be meaningful)."""
    period: str
    period_start: datetime
    period_end: datetime
    group: str | None = None
    basis: Basis = Basis.BILLED
    """The budget's own cost basis, which may differ from the page's."""

    @property
    def used(self) -> Decimal:
        """Fraction of the budget spent (1 = 100 %)."""
        return self.spend / self.amount

    @property
    def forecast_used(self) -> Decimal | None:
        return None if self.forecast is None else self.forecast / self.amount


@dataclass(frozen=True, slots=True)
class DashboardView:
    """Every figure on the page for one selection at one instant."""

    selection: Selection
    timezone: str
    now: datetime
    range: DateRange
    total: Decimal
    previous_total: Decimal
    bars: list[Breakdown]
    """Top N groups, largest first, the rest as :data:`~costpipe.query.api.OTHER`."""
    table: list[Breakdown]
    """Every group, largest first: the table and its CSV."""
    series: list[SeriesPoint]
    """Spend per period per group, the groups outside the top N folded into OTHER."""
    unpriced: dict[str, int]
    budgets: list[BudgetView]
    freshness: list[ProviderFreshness]
    filter_options: dict[str, list[str]]

    @property
    def is_empty(self) -> bool:
        """No spend and no rows in the range: the page shows a message instead of charts."""
        return not self.table and not self.series and self.total == 0

    def pricing(self, group: str) -> Pricing:
        """How the figure of *group* (a row of :attr:`table` or :attr:`bars`)
        covers its usage. Only a model breakdown on the estimated basis can say
        per row; unpriced rows are never on the billed basis."""
        if self.selection.basis is not Basis.ESTIMATED or not self.unpriced:
            return Pricing.PRICED
        if self.selection.group_by != "model":
            return Pricing.MAY_EXCLUDE_UNPRICED
        costs = {row.group: row.cost_usd for row in self.table}
        if group == OTHER and len(self.table) > self.selection.top:
            shown = {row.group for row in self.bars[:-1]}
            members = [g for g in costs if g not in shown]
            cost = sum((costs[g] for g in members), Decimal(0))
        else:
            members, cost = [group], costs.get(group, Decimal(0))
        if not any(m in self.unpriced for m in members):
            return Pricing.PRICED
        return Pricing.PARTLY_UNPRICED if cost else Pricing.UNPRICED

    @property
    def change(self) -> Decimal | None:
        """Relative change against the previous range; ``None`` if that had no spend."""
        if self.previous_total == 0:
            return None
        return (self.total - self.previous_total) / self.previous_total


def _fold_series(points: Sequence[SeriesPoint], keep: set[str]) -> list[SeriesPoint]:
    folded: dict[tuple[datetime, str], Decimal] = {}
    for point in points:
        group = point.group if point.group in keep else OTHER
        key = (point.start, group)
        folded[key] = folded.get(key, Decimal(0)) + point.cost_usd
    return [SeriesPoint(start, group, cost) for (start, group), cost in sorted(folded.items())]


def _decimal(value: float | Decimal) -> Decimal:
    # Should an amount arrive as a float, str() keeps the digits the user typed.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _budget_view(
    budget: BudgetConfig, period: Period, answer: Mapping[str, Decimal], now: datetime
) -> BudgetView:
    group: str | None = None
    if budget.group_by:
        # The group furthest through the budget: the first row of its breakdown.
        rows = sorted(answer.items(), key=lambda item: (-item[1], item[0]))
        group, spend = rows[0] if rows else (None, Decimal(0))
    else:
        spend = answer.get("", Decimal(0))
    amount = _decimal(budget.amount_usd)
    projection = linear_forecast(spend, amount, period, now)
    return BudgetView(
        name=budget.name,
        amount=amount,
        spend=spend,
        forecast=None if projection is None else projection.projected_usd,
        period=period.label,
        period_start=period.start,
        period_end=period.end,
        group=group,
        basis=Basis(budget.cost_basis),
    )


async def compute_budgets(
    reader: CostReader, budgets: Sequence[BudgetConfig], now: datetime, timezone: str
) -> list[BudgetView]:
    """Each budget's spend and forecast for its calendar period containing *now*:
    one grouped query per period and basis (:func:`costpipe.query.grouped.spend`),
    as the alert engine asks them."""
    now = utc(now)
    periods = [period_at(b.period, now, timezone, b.week_start) for b in budgets]
    requests = [budget_request(b, p) for b, p in zip(budgets, periods, strict=True)]
    answers = await grouped_spend(reader, requests) if requests else []
    return [_budget_view(b, p, a, now) for b, p, a in zip(budgets, periods, answers, strict=True)]


async def compute_view(
    reader: CostReader,
    selection: Selection,
    *,
    now: datetime,
    timezone: str = "UTC",
    budgets: Sequence[BudgetConfig] = (),
    state_dir: Path | None = None,
) -> DashboardView:
    """Query the store for every figure of *selection* at *now*.

    Raises ValueError for a group-by or filter dimension the store does not know.
    The queries run concurrently; each is one aggregation in the store, and
    identical ones are asked once (the bars are the table's top N; with no
    filter, the group-by's filter options are the table's groups).
    """
    now = utc(now)
    if not isinstance(reader, CachingReader):
        # Lives for this view only, so nothing is older than the view.
        reader = CachingReader(reader, max_age=math.inf)
    tags = await reader.tag_names()
    check_dimension(selection.group_by, tags)
    for dimension in selection.filters:
        check_dimension(dimension, tags)
    span = preset_range(selection.preset, now, timezone)
    filters = {dim: values for dim, values in selection.filters.items() if values}
    query = CostQuery(span.start, span.end, selection.basis, filters)
    previous = CostQuery(span.previous_start, span.previous_end, selection.basis, filters)
    unfiltered = CostQuery(span.start, span.end, selection.basis)
    figures = asyncio.gather(
        reader.total(query),
        reader.total(previous),
        reader.breakdown(query, selection.group_by, top=selection.top),
        reader.breakdown(query, selection.group_by),
        reader.series(query, selection.granularity, timezone, by=selection.group_by),
        reader.unpriced_usage(query),
    )
    options = asyncio.gather(*(reader.breakdown(unfiltered, dim) for dim in FILTER_DIMENSIONS))
    budget_views = compute_budgets(reader, budgets, now, timezone)
    (
        (total, previous_total, bars, table, series, unpriced),
        option_rows,
        budget_list,
    ) = await asyncio.gather(figures, options, budget_views)
    keep = {row.group for row in bars if row.group != OTHER or len(table) <= selection.top}
    filter_options = {
        # Rows come largest first: the bound keeps the largest spenders.
        dim: sorted(row.group for row in rows[:MAX_FILTER_OPTIONS] if row.group)
        for dim, rows in zip(FILTER_DIMENSIONS, option_rows, strict=True)
    }
    return DashboardView(
        selection=selection,
        timezone=timezone,
        now=now,
        range=span,
        total=total,
        previous_total=previous_total,
        bars=list(bars),
        table=list(table),
        series=_fold_series(series, keep),
        unpriced=dict(unpriced),
        budgets=budget_list,
        freshness=read_freshness(state_dir, now) if state_dir is not None else [],
        filter_options=filter_options,
    )
