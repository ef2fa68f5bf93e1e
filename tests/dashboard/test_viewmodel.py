"""Every figure of the page, computed from a reader, without a browser."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from costpipe.components import ComponentContext
from costpipe.config.settings import BudgetConfig
from costpipe.dashboard.formatting import breakdown_csv
from costpipe.dashboard.periods import Preset, preset_range
from costpipe.dashboard.viewmodel import (
    MAX_FILTER_OPTIONS,
    Pricing,
    Selection,
    compute_view,
    group_choices,
)
from costpipe.query.api import OTHER, Basis, CostReader, Granularity
from costpipe.records import CostRecord, CostSource
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
from costpipe.testing.memory import MemorySink

from .conftest import NOW, TIMEZONE, expected_total


@pytest.fixture(params=["sqlite", "memory"])
async def reader(
    request: pytest.FixtureRequest, memory_sink: MemorySink, sqlite_path: Path
) -> AsyncIterator[CostReader]:
    """The same records behind the real SQLite store and the in-memory fake."""
    if request.param == "memory":
        yield memory_sink.reader()
        return
    sink = SQLiteSink(
        SQLiteConfig(path=sqlite_path), ComponentContext("sqlite.0", sqlite_path.parent)
    )
    await sink.start()
    try:
        yield sink.reader()
    finally:
        await sink.close()


async def test_total_and_previous_total_match_the_records_of_each_range(
    reader: CostReader, records: list[CostRecord]
) -> None:
    selection = Selection(Preset.LAST_7_DAYS, basis=Basis.BILLED)
    view = await compute_view(reader, selection, now=NOW, timezone=TIMEZONE)
    span = preset_range(Preset.LAST_7_DAYS, NOW, TIMEZONE)
    assert expected_total(records, span.start, span.end, "billed") == view.total
    assert (
        expected_total(records, span.previous_start, span.previous_end, "billed")
        == view.previous_total
    )
    assert view.total > 0
    assert view.change == (view.total - view.previous_total) / view.previous_total


async def test_breakdown_table_adds_up_to_the_total_and_bars_keep_the_top_n(
    reader: CostReader,
) -> None:
    selection = Selection(Preset.LAST_30_DAYS, group_by="user_id", basis=Basis.ESTIMATED, top=3)
    view = await compute_view(reader, selection, now=NOW, timezone=TIMEZONE)
    assert view.total == sum((r.cost_usd for r in view.table), Decimal(0))
    assert view.total == sum((r.cost_usd for r in view.bars), Decimal(0))
    assert [r.group for r in view.table[:3]] + [OTHER] == [r.group for r in view.bars]
    assert len(view.table) > 3


async def test_series_folds_groups_outside_the_top_n_into_other_without_losing_money(
    reader: CostReader,
) -> None:
    selection = Selection(
        Preset.LAST_7_DAYS,
        group_by="model",
        basis=Basis.ESTIMATED,
        granularity=Granularity.HOUR,
        top=2,
    )
    view = await compute_view(reader, selection, now=NOW, timezone=TIMEZONE)
    assert {view.bars[0].group, view.bars[1].group, OTHER} == {p.group for p in view.series}
    assert view.total == sum((p.cost_usd for p in view.series), Decimal(0))
    starts = sorted({p.start for p in view.series})
    assert all(b - a >= timedelta(hours=1) for a, b in itertools.pairwise(starts))


async def test_filters_restrict_every_figure_and_options_come_from_the_unfiltered_range(
    reader: CostReader, records: list[CostRecord]
) -> None:
    selection = Selection(
        Preset.MONTH_TO_DATE,
        group_by="project_id",
        basis=Basis.BILLED,
        filters={"provider": ("anthropic",)},
    )
    view = await compute_view(reader, selection, now=NOW, timezone=TIMEZONE)
    span = view.range
    assert (
        expected_total(records, span.start, span.end, "billed", provider=("anthropic",))
        == view.total
    )
    assert view.filter_options["provider"] == ["anthropic", "openai"]


async def test_daily_series_periods_are_local_midnights(reader: CostReader) -> None:
    view = await compute_view(reader, Selection(Preset.LAST_7_DAYS), now=NOW, timezone=TIMEZONE)
    assert len({p.start for p in view.series}) == 7
    assert all((p.start.hour, p.start.minute) == (0, 0) for p in view.series)
    assert all(p.start.utcoffset() == timedelta(hours=1) for p in view.series)


async def test_unpriced_usage_is_reported_for_the_range(reader: CostReader) -> None:
    view = await compute_view(
        reader, Selection(Preset.LAST_30_DAYS, basis=Basis.ESTIMATED), now=NOW, timezone=TIMEZONE
    )
    # The sample has one unpriced hour (222,000 tokens) every Wednesday: four in range.
    assert view.unpriced == {"gpt-5-preview-2026-10-01": 4 * 222_000}


UNPRICED_MODEL = "gpt-5-preview-2026-10-01"


async def test_a_model_with_only_unpriced_usage_is_unpriced_not_zero(reader: CostReader) -> None:
    selection = Selection(Preset.LAST_30_DAYS, group_by="model", basis=Basis.ESTIMATED)
    view = await compute_view(reader, selection, now=NOW, timezone=TIMEZONE)
    pricing = {row.group: view.pricing(row.group) for row in view.table}
    assert Pricing.UNPRICED == pricing.pop(UNPRICED_MODEL)
    assert {Pricing.PRICED} == set(pricing.values())
    # The total stays the exact sum of the priced rows.
    assert view.total == sum((r.cost_usd for r in view.table), Decimal(0))
    rows = text_rows(breakdown_csv(view.table, "model", view.pricing))
    assert ["model", "cost_usd", "pricing"] == rows[0]
    assert [UNPRICED_MODEL, "", "unpriced"] in rows
    assert all(r[2] == "priced" and r[1] for r in rows[1:] if r[0] != UNPRICED_MODEL)


async def test_other_holding_an_unpriced_model_is_partly_unpriced(reader: CostReader) -> None:
    selection = Selection(Preset.LAST_30_DAYS, group_by="model", basis=Basis.ESTIMATED, top=2)
    view = await compute_view(reader, selection, now=NOW, timezone=TIMEZONE)
    assert OTHER == view.bars[-1].group
    assert Pricing.PARTLY_UNPRICED == view.pricing(OTHER)
    assert Pricing.PRICED == view.pricing(view.bars[0].group)


async def test_unpriced_usage_is_not_attributed_to_groups_of_other_dimensions(
    reader: CostReader,
) -> None:
    estimated = Selection(Preset.LAST_30_DAYS, group_by="project_id", basis=Basis.ESTIMATED)
    view = await compute_view(reader, estimated, now=NOW, timezone=TIMEZONE)
    assert {Pricing.MAY_EXCLUDE_UNPRICED} == {view.pricing(r.group) for r in view.table}
    billed = Selection(Preset.LAST_30_DAYS, group_by="model", basis=Basis.BILLED)
    view = await compute_view(reader, billed, now=NOW, timezone=TIMEZONE)
    assert {Pricing.PRICED} == {view.pricing(r.group) for r in view.table}


def text_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_an_empty_range_is_flagged_so_the_page_shows_a_message() -> None:
    reader = MemorySink.create().reader()  # an empty store
    view = await compute_view(reader, Selection(Preset.TODAY), now=NOW, timezone=TIMEZONE)
    assert view.is_empty
    assert Decimal(0) == view.total
    assert view.change is None


async def test_budgets_show_spend_percent_and_forecast_for_their_calendar_period(
    reader: CostReader, records: list[CostRecord]
) -> None:
    monthly = BudgetConfig(name="AI monthly", amount_usd=12000, period="month", cost_basis="billed")
    team = BudgetConfig(
        name="Per team weekly",
        amount_usd=900.5,
        period="week",
        group_by="project_id",
        cost_basis="estimated",
        filters={"provider": ["openai"]},
    )
    view = await compute_view(
        reader, Selection(), now=NOW, timezone=TIMEZONE, budgets=[monthly, team]
    )
    month, week = view.budgets
    assert expected_total(records, month.period_start, NOW, "billed") == month.spend
    assert Decimal("12000.0") == month.amount
    assert month.used == month.spend / month.amount
    elapsed = Decimal((NOW - month.period_start).total_seconds())
    length = Decimal((month.period_end - month.period_start).total_seconds())
    assert month.forecast is not None
    assert abs(month.spend * length / elapsed - month.forecast) <= Decimal("0.005")
    assert Decimal("900.5") == week.amount
    assert (Basis.BILLED, Basis.ESTIMATED) == (month.basis, week.basis)
    per_project = {
        p: expected_total(
            records, week.period_start, NOW, "estimated", provider=("openai",), project_id=(p,)
        )
        for p in {r.project_id for r in records}
    }
    assert max(per_project, key=lambda p: per_project[p]) == week.group
    assert max(per_project.values()) == week.spend


async def test_freshness_is_read_from_the_state_dir(reader: CostReader, tmp_path: Path) -> None:
    (tmp_path / "status.json").write_text(
        '{"providers": {"openai.0": {"last_success": "2026-11-18T14:00:00+00:00", '
        '"last_error": null}}}'
    )
    view = await compute_view(reader, Selection(), now=NOW, state_dir=tmp_path)
    assert [("openai.0", timedelta(minutes=20))] == [(f.instance, f.lag) for f in view.freshness]


async def test_unknown_group_by_is_refused(reader: CostReader) -> None:
    with pytest.raises(ValueError, match="unknown dimension"):
        await compute_view(reader, Selection(group_by="team; DROP TABLE"), now=NOW)


async def test_enricher_tags_are_offered_as_group_by_and_usable(reader: CostReader) -> None:
    choices = group_choices(await reader.tag_names())
    assert choices["Tag: team"] == "team"
    view = await compute_view(reader, Selection(group_by="team"), now=NOW, timezone=TIMEZONE)
    assert {"customer-care", "platform", "revenue", "research"} == {r.group for r in view.table}


async def test_user_and_key_filter_options_are_the_largest_spenders_bounded() -> None:
    """Users and keys can number thousands: the filters offer the range's
    :data:`MAX_FILTER_OPTIONS` largest spenders, not every one."""
    count = MAX_FILTER_OPTIONS + 50
    sink = MemorySink.create()
    sink.add(
        *(
            CostRecord(
                start=NOW - timedelta(hours=2),
                width=timedelta(hours=1),
                provider="openai",
                account="org",
                cost_source=CostSource.ESTIMATED,
                cost_usd=Decimal(index + 1) / 100,
                model="gpt-4o",
                user_id=f"user_{index:04d}",
                api_key_id=f"key_{index:04d}",
                uncached_input_tokens=1000,
            )
            for index in range(count)
        )
    )
    view = await compute_view(
        sink.reader(), Selection(Preset.TODAY, basis=Basis.ESTIMATED), now=NOW, timezone=TIMEZONE
    )
    largest = range(count - MAX_FILTER_OPTIONS, count)
    assert view.filter_options["user_id"] == [f"user_{i:04d}" for i in largest]
    assert view.filter_options["api_key_id"] == [f"key_{i:04d}" for i in largest]
