"""Every usage category of OpenAI's usage endpoints (images by size and source,
audio, moderations, vector stores, code interpreter, file and web search) is a
line item the dashboard offers as a filter and writes to the CSV, fetched from
the simulator through the real provider into the SQLite store and the fake."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from costpipe.components import ComponentContext
from costpipe.dashboard.controls import Controls
from costpipe.dashboard.formatting import breakdown_csv
from costpipe.dashboard.periods import Preset
from costpipe.dashboard.viewmodel import Pricing, Selection, compute_view
from costpipe.providers.openai import OpenAIConfig, OpenAIProvider
from costpipe.query.api import Basis, CostReader
from costpipe.records import CostRecord, Window
from costpipe.simulator import Simulator, SimulatorOptions
from costpipe.sinks.sqlite.store import SQLiteConfig, SQLiteSink
from costpipe.testing import MemorySink, collect

NOW = datetime(2026, 11, 18, 14, 20, tzinfo=UTC)
TIMEZONE = "UTC"
CATEGORIES = {
    "completions",
    "embeddings",
    "moderations",
    "images, 1024x1024, image.generation",
    "images, 1536x1024, image.edit",
    "audio_speeches",
    "audio_transcriptions",
    "vector_stores",
    "code_interpreter_sessions",
    "file_search_calls",
}


@pytest.fixture(scope="module")
def usage(tmp_path_factory: pytest.TempPathFactory) -> list[CostRecord]:
    """Two days of the simulator's OpenAI usage, as the provider records it."""

    async def fetch() -> list[CostRecord]:
        sim = Simulator(SimulatorOptions(seed=3, now=NOW))
        await sim.start()
        context = ComponentContext("openai.sim", tmp_path_factory.mktemp("openai"))
        config = OpenAIConfig(api_key=sim.openai_admin_key, base_url=sim.openai_base_url)
        provider = OpenAIProvider(config, context, clock=lambda: NOW)
        await provider.start()
        try:
            window = Window(NOW - timedelta(days=2), NOW)
            return [r for r in await collect(provider, window) if not r.is_billed]
        finally:
            await provider.close()
            await sim.stop()

    return asyncio.run(fetch())


@pytest.fixture(params=["sqlite", "memory"])
async def reader(
    request: pytest.FixtureRequest, usage: list[CostRecord], tmp_path: Path
) -> AsyncIterator[CostReader]:
    if request.param == "memory":
        sink = MemorySink.create()
        await sink.write(usage)
        yield sink.reader()
        return
    store = SQLiteSink(
        SQLiteConfig(path=tmp_path / "costs.sqlite"), ComponentContext("sqlite.0", tmp_path)
    )
    await store.start()
    try:
        await store.write(usage)
        yield store.reader()
    finally:
        await store.close()


async def test_every_usage_category_is_a_filter_option_and_filters(reader: CostReader) -> None:
    selection = Selection(Preset.LAST_7_DAYS, group_by="model", basis=Basis.ESTIMATED)
    view = await compute_view(reader, selection, now=NOW, timezone=TIMEZONE)
    offered = set(view.filter_options["line_item"])
    assert offered >= CATEGORIES
    assert any(item.startswith("web_search_calls, ") for item in offered)

    controls = Controls(selection, top=8, csv=lambda: None)
    controls.set_filter_options(view.filter_options)
    widget = controls.filters["line_item"]
    assert "Line item filter" == widget.name
    assert set(widget.options.values()) >= CATEGORIES

    images = ("images, 1024x1024, image.generation",)
    chosen = Selection(
        Preset.LAST_7_DAYS,
        group_by="line_item",
        basis=Basis.ESTIMATED,
        filters={"line_item": images},
    )
    filtered = await compute_view(reader, chosen, now=NOW, timezone=TIMEZONE)
    assert [images[0]] == [row.group for row in filtered.table]


async def test_the_csv_has_a_row_per_category_and_unit_only_usage_reads_unpriced(
    reader: CostReader,
) -> None:
    selection = Selection(Preset.LAST_7_DAYS, group_by="line_item", basis=Basis.ESTIMATED, top=50)
    view = await compute_view(reader, selection, now=NOW, timezone=TIMEZONE)
    rows = list(csv.reader(io.StringIO(breakdown_csv(view.table, "line_item", view.pricing))))
    assert ["line_item", "cost_usd", "pricing"] == rows[0]
    written = {row[0]: row for row in rows[1:]}
    assert set(written) >= CATEGORIES

    by_model = Selection(Preset.LAST_7_DAYS, group_by="model", basis=Basis.ESTIMATED, top=50)
    view = await compute_view(reader, by_model, now=NOW, timezone=TIMEZONE)
    # Images have no price: the model's figure is unknown, never $0.00 "priced".
    assert "gpt-image-1" in view.unpriced
    assert Pricing.PRICED != view.pricing("gpt-image-1")
    model_rows = list(csv.reader(io.StringIO(breakdown_csv(view.table, "model", view.pricing))))
    [image_row] = [row for row in model_rows if row[0] == "dall-e-3"]
    assert ["dall-e-3", "", "unpriced"] == image_row
