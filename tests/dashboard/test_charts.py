"""Chart labels reach Bokeh as text, never as TeX.

Bokeh parses a string axis label for TeX delimiters (``$$...$$``). Today the
labels are the control's names (tag names must be identifiers), so this is
defence in depth: whatever label a chart gets, Bokeh gets PlainText.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import holoviews as hv
from bokeh.models import PlainText

from costpipe.dashboard import charts
from costpipe.dashboard.periods import Preset
from costpipe.dashboard.viewmodel import Selection, compute_view
from costpipe.query.api import Granularity
from costpipe.records import CostRecord, CostSource
from costpipe.testing.memory import MemorySink

from .conftest import NOW, TIMEZONE

TEX_TAG = "$$\\href{http://127.0.0.1:9/tex}{x}$$"


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
    for granularity in (Granularity.DAY, Granularity.HOUR):
        selection = Selection(Preset.LAST_7_DAYS, group_by="model", granularity=granularity)
        view = await compute_view(sink.reader(), selection, now=NOW, timezone=TIMEZONE)
        palette = charts.colours(view)
        for element in (
            charts.bar_chart(view, palette, f"Tag: {TEX_TAG}"),
            charts.trend_chart(view, palette),
        ):
            figure = hv.render(element, backend="bokeh")
            labels = [axis.axis_label for axis in (*figure.xaxis, *figure.yaxis)]
            assert labels
            assert all(isinstance(label, PlainText) for label in labels)
        bar = hv.render(charts.bar_chart(view, palette, f"Tag: {TEX_TAG}"), backend="bokeh")
        assert f"Tag: {TEX_TAG}" in [a.axis_label.text for a in (*bar.xaxis, *bar.yaxis)]
