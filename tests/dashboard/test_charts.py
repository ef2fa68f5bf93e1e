"""Chart labels reach Bokeh as text, never as TeX.

Bokeh parses a string axis label for TeX delimiters (``$$...$$``). Today the
labels are the control's names (tag names must be identifiers), so this is
defence in depth: whatever label a chart gets, Bokeh gets PlainText.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from bokeh.models import PlainText

from costpipe.dashboard import charts
from costpipe.dashboard.app import Dashboard, DashboardOptions
from costpipe.dashboard.periods import Preset
from costpipe.dashboard.sample import sample_records
from costpipe.dashboard.viewmodel import DashboardView, Selection, compute_view
from costpipe.query.api import Basis, CostReader, Granularity
from costpipe.records import CostRecord, CostSource
from costpipe.testing.memory import MemorySink

from .conftest import NOW, TIMEZONE

TEX_TAG = "$$\\href{http://127.0.0.1:9/tex}{x}$$"


@pytest.fixture(scope="module")
def small_sink() -> MemorySink:
    sink = MemorySink.create()
    sink.add(*sample_records(NOW, days=10, streams_per_hour=3))
    return sink


async def test_axis_labels_are_plain_text_even_when_they_look_like_tex() -> None:
    sink = MemorySink.create()
    sink.add(
        CostRecord(
            start=NOW - timedelta(days=1),
            width=timedelta(days=1),
            provider="openai",
            account="org",
            cost_source=CostSource.BILLED,
            cost_usd=Decimal("1.50"),
            model=TEX_TAG,
        )
    )
    charts_of_a_session = charts.Charts()
    for granularity in (Granularity.DAY, Granularity.HOUR):
        selection = Selection(
            Preset.LAST_7_DAYS, group_by="model", granularity=granularity, basis=Basis.BILLED
        )
        view = await compute_view(sink.reader(), selection, now=NOW, timezone=TIMEZONE)
        palette = charts.colours(view)
        trend = charts_of_a_session.show(view, palette, f"Tag: {TEX_TAG}")
        bar = charts_of_a_session.bars
        for figure in (bar, trend):
            labels = [axis.axis_label for axis in (*figure.xaxis, *figure.yaxis)]
            assert labels
            assert all(isinstance(label, PlainText) for label in labels)
        assert f"Tag: {TEX_TAG}" in [a.axis_label.text for a in (*bar.xaxis, *bar.yaxis)]


async def test_stacked_days_sum_to_each_days_spend_and_groups_keep_their_colour(
    small_sink: MemorySink,
) -> None:
    sink = small_sink
    selection = Selection(
        Preset.LAST_7_DAYS, group_by="model", granularity=Granularity.DAY, basis=Basis.BILLED
    )
    view = await compute_view(sink.reader(), selection, now=NOW, timezone=TIMEZONE)
    palette = charts.colours(view)
    data = charts.trend_data(view, palette)
    per_day: dict[str, Decimal] = {}
    for point in view.series:
        day = point.start.strftime("%d %b")
        per_day[day] = per_day.get(day, Decimal(0)) + point.cost_usd
    tops: dict[str, float] = {}
    for day, bottom, top, cost in zip(
        data["period"], data["bottom"], data["top"], data["cost"], strict=True
    ):
        assert top == pytest.approx(bottom + cost)
        assert bottom == pytest.approx(tops.get(day, 0.0))  # stacked on the group below
        tops[day] = top
    assert tops == pytest.approx({day: float(cost) for day, cost in per_day.items()})
    assert list(tops) == list(per_day)  # days in time order
    for group, colour in zip(data["group"], data["colour"], strict=True):
        assert colour == palette.get(group, charts.OTHER_COLOUR)
    bars = charts.bar_data(view, palette)
    assert bars["cost"] == sorted(bars["cost"])  # the largest last: drawn at the top


async def test_hourly_bands_stack_without_gaps(small_sink: MemorySink) -> None:
    sink = small_sink
    selection = Selection(
        Preset.LAST_7_DAYS, group_by="provider", granularity=Granularity.HOUR, basis=Basis.BILLED
    )
    view = await compute_view(sink.reader(), selection, now=NOW, timezone=TIMEZONE)
    data = charts.trend_data(view, charts.colours(view))
    assert data["group"] == sorted(data["group"])
    lower_edge: list[float] | None = None
    for ys in data["ys"]:
        half = len(ys) // 2
        upper, lower = ys[:half], ys[half:][::-1]
        assert all(u >= low for u, low in zip(upper, lower, strict=True))
        assert lower == (lower_edge or [0.0] * half)  # each band sits on the one below
        lower_edge = upper
    assert lower_edge is not None
    assert sum(lower_edge) == pytest.approx(float(sum(p.cost_usd for p in view.series)))


async def test_a_control_change_updates_the_same_figures_in_place(
    small_sink: MemorySink,
) -> None:
    sink = small_sink

    async def reader() -> CostReader:
        return sink.reader()

    page = Dashboard(reader, DashboardOptions(timezone=TIMEZONE), clock=lambda: NOW)
    await page.refresh()
    bars, days, source = page.bars.object, page.trend.object, page.figures.bar_source
    assert bars is page.figures.bars
    assert days is page.figures.days
    before = list(source.data["group"])
    page.controls.group_by.value = "model"  # the control's watcher refreshes the page
    await shown(page, lambda view: view.selection.group_by == "model")
    assert page.bars.object is bars
    assert page.trend.object is days
    assert page.figures.bar_source is source
    assert source.data["group"] != before
    assert list(page.figures.bars.y_range.factors) == list(source.data["group"])
    page.controls.granularity.value = Granularity.HOUR.value
    await shown(page, lambda view: view.selection.granularity is Granularity.HOUR)
    assert page.trend.object is page.figures.hours
    bands = page.figures.hour_source.data
    assert len(bands["xs"]) == len(set(bands["group"])) > 1


async def shown(page: Dashboard, condition: Callable[[DashboardView], bool]) -> None:
    """Wait for the refresh a control's watcher started (Panel schedules it)."""
    async with asyncio.timeout(20):
        while page.view is None or not condition(page.view):  # noqa: ASYNC110 (no event)
            await asyncio.sleep(0.01)
