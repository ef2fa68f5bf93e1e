"""The two charts (spend by group, trend) as HoloViews elements drawn by Bokeh.

Group names come from the data. Bokeh draws tick labels, legends and hover
values as text (tooltips escape ``@field`` values), but it parses axis labels
and titles for TeX delimiters (``$$...$$``, ``\\(...\\)``), and an axis label
can hold a tag name: every axis label is therefore handed to Bokeh as
:class:`~bokeh.models.PlainText`.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers the .hvplot accessor)
import pandas as pd
from bokeh.models import NumeralTickFormatter, PlainText

from costpipe.dashboard.formatting import group_label
from costpipe.dashboard.viewmodel import DashboardView, Pricing
from costpipe.query.api import OTHER, Granularity

__all__ = ["OTHER_COLOUR", "PALETTE", "bar_chart", "colours", "trend_chart"]

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


def _plain_axis_labels(plot: Any, _element: Any) -> None:
    """HoloViews hook: axis labels as plain text, never TeX (see the module doc)."""
    for axis in (*plot.state.xaxis, *plot.state.yaxis):
        if isinstance(axis.axis_label, str):
            axis.axis_label = PlainText(text=axis.axis_label)


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


def bar_chart(view: DashboardView, palette: dict[str, str], axis_label: str) -> hv.Element:
    """Horizontal bars, largest at the top."""
    rows = list(reversed(view.bars))
    frame = pd.DataFrame(
        {
            "group": [_bar_label(r.group, view.pricing(r.group)) for r in rows],
            # Floats only for drawing: the figures on the page come from Decimals.
            "cost": [float(r.cost_usd) for r in rows],
            "colour": [palette[group_label(r.group)] for r in rows],
        }
    )
    return frame.hvplot.barh(
        x="group",
        y="cost",
        color="colour",
        xlabel=axis_label,
        ylabel="Spend (USD)",
        hover_cols=["group", "cost"],
        responsive=True,
        height=320,
        xformatter=NumeralTickFormatter(format="$0,0"),
    ).opts(toolbar=None, default_tools=["hover"], show_grid=True, hooks=[_plain_axis_labels])


def trend_chart(view: DashboardView, palette: dict[str, str]) -> hv.Element:
    """Stacked spend per hour (area) or per local day (bars)."""
    hourly = view.selection.granularity is Granularity.HOUR
    rows = [
        {
            # Bokeh draws naive datetimes as is: strip the zone after converting
            # so the axis shows the configured zone's wall clock.
            "period": p.start.replace(tzinfo=None) if hourly else p.start.strftime("%d %b"),
            "group": group_label(p.group),
            "cost": float(p.cost_usd),
        }
        for p in view.series
    ]
    frame = pd.DataFrame(rows, columns=["period", "group", "cost"])
    # HoloViews orders the stacked groups alphabetically; colours follow that
    # order so that a group has the same colour in both charts.
    order = sorted(set(frame["group"]))
    common: dict[str, Any] = {
        "ylabel": "Spend (USD)",
        "xlabel": f"{'Hour' if hourly else 'Day'} ({view.timezone})",
        "responsive": True,
        "height": 320,
        "legend": "right",
        "yformatter": NumeralTickFormatter(format="$0,0"),
    }
    if hourly:
        wide = frame.pivot_table(
            index="period", columns="group", values="cost", aggfunc="sum", fill_value=0.0
        )[order].reset_index()
        plot = wide.hvplot.area(
            x="period",
            y=order,
            stacked=True,
            color=[palette.get(g, OTHER_COLOUR) for g in order],
            **common,
        )
    else:
        plot = frame.hvplot.bar(
            x="period",
            y="cost",
            by="group",
            stacked=True,
            rot=0 if len(set(frame["period"])) <= 10 else 45,
            # A mapping, not a list: HoloViews stacks groups in order of first
            # appearance, so list positions would not line up with the bar chart.
            cmap={g: palette.get(g, OTHER_COLOUR) for g in order},
            **common,
        )
    return plot.opts(toolbar=None, show_grid=True, hooks=[_plain_axis_labels])
