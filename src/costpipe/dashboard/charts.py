"""The two charts (spend by group, trend) as Bokeh figures updated in place.

A session builds its figures once (:class:`Charts`); a control change only
replaces their :class:`~bokeh.models.ColumnDataSource` data, ranges and axis
labels, so Panel sends the browser the changed columns instead of two new
plots, and the server builds no plot per change (issue 16: that building was
most of a group-by change's server time). The trend has two figures, one per
granularity (categorical days, datetime hours), and shows one of them.

Group names come from the data. Bokeh draws tick labels, legends and hover
values as text (tooltips escape ``@field`` values), but it parses axis labels
and titles for TeX delimiters (``$$...$$``, ``\\(...\\)``), and an axis label
can hold a tag name: every axis label is therefore handed to Bokeh as
:class:`~bokeh.models.PlainText`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bokeh.models import (
    ColumnDataSource,
    DataRange1d,
    FactorRange,
    HoverTool,
    NumeralTickFormatter,
    PlainText,
)
from bokeh.models.annotations import Legend, LegendItem
from bokeh.plotting import figure

from costpipe.dashboard.formatting import group_label
from costpipe.dashboard.viewmodel import DashboardView, Pricing
from costpipe.query.api import OTHER, Granularity

__all__ = ["OTHER_COLOUR", "PALETTE", "Charts", "bar_data", "colours", "trend_data"]

#: Colour-blind-safe palette (Okabe-Ito, then greys); "other" is always grey.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
    "#7f7f7f",
    "#bcbd22",
)
OTHER_COLOUR = "#b0b0b0"
HEIGHT = 320
SPEND_LABEL = "Spend (USD)"
#: More day labels than this are drawn at 45 degrees.
UPRIGHT_DAYS = 10
_DOLLARS = "$0,0"


def _bar_label(group: str, pricing: Pricing) -> str:
    # An unpriced model draws no bar; its label must say why.
    if pricing is Pricing.UNPRICED:
        return f"{group_label(group)} (unpriced)"
    if pricing is Pricing.PARTLY_UNPRICED:
        return f"{group_label(group)} (partly unpriced)"
    return group_label(group)


def colours(view: DashboardView) -> dict[str, str]:
    """Label -> colour, in bar order, so a group has one colour in both charts."""
    chosen: dict[str, str] = {}
    for row in view.bars:
        label = group_label(row.group)
        if row.group == OTHER and len(view.table) > view.selection.top:
            chosen[label] = OTHER_COLOUR
        else:
            chosen[label] = PALETTE[len(chosen) % len(PALETTE)]
    chosen.setdefault(OTHER, OTHER_COLOUR)
    return chosen


def bar_data(view: DashboardView, palette: dict[str, str]) -> dict[str, Any]:
    """The bar chart's columns: largest group at the top (Bokeh draws the
    first factor at the bottom)."""
    rows = list(reversed(view.bars))
    return {
        "group": [_bar_label(r.group, view.pricing(r.group)) for r in rows],
        # Floats only for drawing: the figures on the page come from Decimals.
        "cost": [float(r.cost_usd) for r in rows],
        "colour": [palette[group_label(r.group)] for r in rows],
    }


def trend_data(view: DashboardView, palette: dict[str, str]) -> dict[str, Any]:
    """The trend's columns, stacked in Python: groups in alphabetical order
    from the bottom, one bar (per day) or one polygon (per hour) per group.

    Days: ``period``, ``group``, ``bottom``, ``top``, ``cost``, ``colour``.
    Hours: ``xs``, ``ys`` (each group's band as a polygon), ``group``, ``colour``."""
    hourly = view.selection.granularity is Granularity.HOUR
    cost: dict[tuple[Any, str], float] = {}
    seen: dict[Any, None] = {}
    for point in view.series:
        # Bokeh draws naive datetimes as is: strip the zone after converting so
        # the axis shows the configured zone's wall clock.
        period: Any = point.start.replace(tzinfo=None) if hourly else point.start.strftime("%d %b")
        seen[period] = None
        key = (period, group_label(point.group))
        cost[key] = cost.get(key, 0.0) + float(point.cost_usd)
    periods = sorted(seen) if hourly else list(seen)
    order = sorted({group for _period, group in cost})
    below = dict.fromkeys(periods, 0.0)
    if not hourly:
        columns: dict[str, list[Any]] = {
            name: [] for name in ("period", "group", "bottom", "top", "cost", "colour")
        }
        for group in order:
            for period in periods:
                value = cost.get((period, group))
                if value is None:
                    continue
                columns["period"].append(period)
                columns["group"].append(group)
                columns["bottom"].append(below[period])
                columns["top"].append(below[period] + value)
                columns["cost"].append(value)
                columns["colour"].append(palette.get(group, OTHER_COLOUR))
                below[period] += value
        return columns
    xs = [_epoch_ms(p) for p in periods]
    bands: dict[str, list[Any]] = {"xs": [], "ys": [], "group": [], "colour": []}
    for group in order:
        lower = [below[p] for p in periods]
        upper = [low + cost.get((p, group), 0.0) for low, p in zip(lower, periods, strict=True)]
        for period, top in zip(periods, upper, strict=True):
            below[period] = top
        bands["xs"].append(xs + xs[::-1])
        bands["ys"].append(upper + lower[::-1])
        bands["group"].append(group)
        bands["colour"].append(palette.get(group, OTHER_COLOUR))
    return bands


def _epoch_ms(moment: datetime) -> float:
    """A naive wall-clock datetime as Bokeh's datetime axis counts (ms, no zone)."""
    return (moment - datetime(1970, 1, 1)).total_seconds() * 1000


def _figure(**options: Any) -> Any:
    plot = figure(
        height=HEIGHT,
        sizing_mode="stretch_width",
        toolbar_location=None,
        tools="",
        **options,
    )
    plot.toolbar.active_drag = None
    return plot


class Charts:
    """One session's charts: built once, then :meth:`show` updates them in place."""

    def __init__(self) -> None:
        self.bar_source = ColumnDataSource({"group": [], "cost": [], "colour": []})
        self.bars = _figure(y_range=FactorRange(), x_range=DataRange1d(start=0))
        self.bars.hbar(
            y="group", right="cost", left=0, height=0.8, color="colour", source=self.bar_source
        )
        self.bars.add_tools(HoverTool(tooltips=[("group", "@group"), ("cost", "@cost{$0,0.00}")]))
        self.bars.xaxis.formatter = NumeralTickFormatter(format=_DOLLARS)
        self.bars.xaxis.axis_label = PlainText(text=SPEND_LABEL)

        self.day_source = ColumnDataSource(
            {name: [] for name in ("period", "group", "bottom", "top", "cost", "colour")}
        )
        self.days = _figure(x_range=FactorRange(), y_range=DataRange1d(start=0))
        bars = self.days.vbar(
            x="period",
            bottom="bottom",
            top="top",
            width=0.8,
            color="colour",
            source=self.day_source,
        )
        self.days.add_tools(
            HoverTool(
                renderers=[bars],
                tooltips=[("day", "@period"), ("group", "@group"), ("cost", "@cost{$0,0.00}")],
            )
        )
        self.hour_source = ColumnDataSource({"xs": [], "ys": [], "group": [], "colour": []})
        self.hours = _figure(x_axis_type="datetime", y_range=DataRange1d(start=0))
        bands = self.hours.patches(
            xs="xs", ys="ys", color="colour", line_color="colour", source=self.hour_source
        )
        self.hours.add_tools(HoverTool(renderers=[bands], tooltips=[("group", "@group")]))
        for plot, renderer in ((self.days, bars), (self.hours, bands)):
            plot.yaxis.formatter = NumeralTickFormatter(format=_DOLLARS)
            plot.yaxis.axis_label = PlainText(text=SPEND_LABEL)
            # The legend is drawn from the data's group column in the browser, so
            # it follows each update without a new Legend model.
            legend = Legend(items=[LegendItem(label={"field": "group"}, renderers=[renderer])])
            plot.add_layout(legend, "right")

    def show(self, view: DashboardView, palette: dict[str, str], axis_label: str) -> Any:
        """Update both charts for *view*; returns the trend figure to show."""
        bars = bar_data(view, palette)
        self.bar_source.data = bars
        _set_factors(self.bars.y_range, bars["group"])
        _set_label(self.bars.yaxis, axis_label)
        trend = trend_data(view, palette)
        if view.selection.granularity is Granularity.HOUR:
            self.hour_source.data = trend
            plot = self.hours
            label = f"Hour ({view.timezone})"
        else:
            self.day_source.data = trend
            days = list(dict.fromkeys(trend["period"]))
            _set_factors(self.days.x_range, days)
            angle = 0.0 if len(days) <= UPRIGHT_DAYS else math.pi / 4
            for axis in self.days.xaxis:
                if axis.major_label_orientation != angle:
                    axis.major_label_orientation = angle
            plot = self.days
            label = f"Day ({view.timezone})"
        _set_label(plot.xaxis, label)
        return plot


def _set_factors(axis_range: Any, factors: Sequence[str]) -> None:
    if list(axis_range.factors) != list(factors):
        axis_range.factors = list(factors)


def _set_label(axes: Sequence[Any], text: str) -> None:
    for axis in axes:
        current = axis.axis_label
        if not (isinstance(current, PlainText) and current.text == text):
            axis.axis_label = PlainText(text=text)
