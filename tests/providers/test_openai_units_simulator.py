"""The OpenAI provider against the simulator: every counter of every usage
endpoint (tokens by category and modality, requests, images, speech characters,
transcription seconds, vector-store byte-days, sessions, file- and web-search
calls) sums exactly to the ground truth, in total and per model and project, at
each bucket width; keys are unique."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from costpipe.components import ComponentContext
from costpipe.providers.openai import OpenAIConfig, OpenAIProvider
from costpipe.records import TOKEN_FIELDS, CostRecord, CostSource, Window
from costpipe.simulator import Simulator, SimulatorOptions, Totals
from costpipe.testing import collect

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
WINDOW = Window(datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
TRUTH_NAME = {
    "uncached_input_tokens": "uncached_input",
    "cached_input_tokens": "cached_input",
    "cache_write_tokens": "cache_write",
    "output_tokens": "output",
}
COUNTERS = [name for name in TOKEN_FIELDS if name != "cache_write_1h_tokens"]


def truth_counts(totals: Totals) -> dict[str, int]:
    values = asdict(totals)
    return {name: values[TRUTH_NAME.get(name, name)] for name in COUNTERS}


def record_counts(records: list[CostRecord], by: str | None) -> dict[str, dict[str, int]]:
    sums: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    for record in records:
        key = "total" if by is None else getattr(record, by)
        for name in COUNTERS:
            sums[key][name] += getattr(record, name)
    return {k: v for k, v in sums.items() if any(v.values())}


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator(SimulatorOptions(seed=9, now=NOW))
    await sim.start()
    yield sim
    await sim.stop()


@pytest.mark.parametrize("width", ["1h", "1d"])
async def test_every_counter_matches_the_truth_in_total_and_per_group(
    simulator: Simulator, tmp_path: Path, width: str
) -> None:
    config = OpenAIConfig(
        api_key=simulator.openai_admin_key, base_url=simulator.openai_base_url, bucket_width=width
    )
    provider = OpenAIProvider(config, ComponentContext("openai.sim", tmp_path), clock=lambda: NOW)
    await provider.start()
    try:
        records = [r for r in await collect(provider, WINDOW) if not r.is_billed]
    finally:
        await provider.close()
    assert provider.pages_set_aside == 0
    assert len({r.key for r in records}) == len(records)

    truth = truth_counts(simulator.truth("openai", WINDOW.start, WINDOW.end)["total"])
    assert all(truth[name] > 0 for name in COUNTERS), truth
    assert {"total": truth} == record_counts(records, None)
    for by, column in (("model", "model"), ("project", "project_id")):
        expected = {
            key: counts
            for key, totals in simulator.truth("openai", WINDOW.start, WINDOW.end, by).items()
            if any((counts := truth_counts(totals)).values())
        }
        assert expected == record_counts(records, column), by

    # Web search's model requests are completions' own: no record counts them twice.
    searches = [r for r in records if r.line_item.startswith("web_search_calls")]
    assert searches
    assert all(r.requests == 0 and r.web_search_calls > 0 for r in searches)


async def test_unpriced_units_are_logged_once_per_model_and_counter(
    simulator: Simulator, tmp_path: Path
) -> None:
    """A row is unpriced because one counter has no price (images, byte-days,
    sessions, file-search calls without a model...): the reason is logged once
    per model and counter, never per row or bucket."""
    config = OpenAIConfig(
        api_key=simulator.openai_admin_key,
        base_url=simulator.openai_base_url,
        usage_endpoints=["images", "vector_stores", "code_interpreter_sessions"],
    )
    provider = OpenAIProvider(config, ComponentContext("openai.sim", tmp_path), clock=lambda: NOW)
    await provider.start()
    try:
        with capture_logs() as logs:
            records = [r for r in await collect(provider, WINDOW) if not r.is_billed]
    finally:
        await provider.close()
    assert records
    assert all(r.cost_source is CostSource.UNPRICED for r in records)
    reasons = [(e["model"], e["counter"]) for e in logs if e["event"] == "counter_unpriced"]
    assert sorted(reasons) == [
        ("(none)", "code_interpreter_sessions"),
        ("(none)", "vector_store_byte_days"),
        ("gpt-image-1", "images"),
    ]
    # A model the price data does not know at all is the pricer's own reason.
    assert ["dall-e-3"] == [e["model"] for e in logs if e["event"] == "model_unpriced"]
