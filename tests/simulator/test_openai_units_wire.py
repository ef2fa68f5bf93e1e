"""OpenAI's other usage endpoints on the simulator's wire, as the OpenAPI spec
(openai/openai-openapi openapi.yaml) has them: result objects and fields,
``group_by`` enums, filters, limits, cursors, and the completions' audio/image
splits."""

from __future__ import annotations

import aiohttp
import pytest

from costpipe.simulator import Simulator
from tests.simulator.client import all_pages, buckets, get, parse, rows
from tests.simulator.conftest import DAY0

DAY = 86400
T0 = int(DAY0.timestamp())

#: endpoint -> (result object, required fields, the group_by enum), from the spec.
SPEC: dict[str, tuple[str, set[str], tuple[str, ...]]] = {
    "moderations": (
        "organization.usage.moderations.result",
        {"input_tokens", "num_model_requests"},
        ("project_id", "user_id", "api_key_id", "model"),
    ),
    "images": (
        "organization.usage.images.result",
        {"images", "num_model_requests"},
        ("project_id", "user_id", "api_key_id", "model", "size", "source"),
    ),
    "audio_speeches": (
        "organization.usage.audio_speeches.result",
        {"characters", "num_model_requests"},
        ("project_id", "user_id", "api_key_id", "model"),
    ),
    "audio_transcriptions": (
        "organization.usage.audio_transcriptions.result",
        {"seconds", "num_model_requests"},
        ("project_id", "user_id", "api_key_id", "model"),
    ),
    "vector_stores": ("organization.usage.vector_stores.result", {"usage_bytes"}, ("project_id",)),
    "code_interpreter_sessions": (
        "organization.usage.code_interpreter_sessions.result",
        {"num_sessions"},
        ("project_id",),
    ),
    "file_search_calls": (
        "organization.usage.file_searches.result",
        {"num_requests"},
        ("project_id", "user_id", "api_key_id", "vector_store_id"),
    ),
    "web_search_calls": (
        "organization.usage.web_searches.result",
        {"num_model_requests", "num_requests"},
        ("project_id", "user_id", "api_key_id", "model", "context_level"),
    ),
}


def url(sim: Simulator, endpoint: str) -> str:
    return f"{sim.openai_base_url}/organization/usage/{endpoint}"


@pytest.mark.parametrize("endpoint", sorted(SPEC))
async def test_results_have_the_spec_object_fields_and_nulls_when_not_grouped(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str], endpoint: str
) -> None:
    name, required, groups = SPEC[endpoint]
    params = [("start_time", T0), ("bucket_width", "1d")]
    ungrouped = rows(await all_pages(session, url(sim, endpoint), params, openai_headers))
    grouped = rows(
        await all_pages(
            session,
            url(sim, endpoint),
            [*params, *(("group_by", g) for g in groups)],
            openai_headers,
        )
    )
    assert ungrouped
    for row in ungrouped + grouped:
        assert name == row["object"]
        assert required <= set(row)
        assert all(type(row[f]) is int and row[f] >= 0 for f in required)
        assert set(row) == {"object", *required, *groups}
    assert all(row[g] is None for row in ungrouped for g in groups)
    assert any(row["project_id"] is not None for row in grouped)
    # Grouping splits rows but never changes the sums.
    for field in required:
        assert sum(r[field] for r in ungrouped) == sum(r[field] for r in grouped)


@pytest.mark.parametrize(
    ("endpoint", "value"),
    [("vector_stores", "model"), ("code_interpreter_sessions", "user_id"), ("moderations", "size")],
)
async def test_a_group_by_value_outside_the_spec_enum_is_a_400(
    sim: Simulator,
    session: aiohttp.ClientSession,
    openai_headers: dict[str, str],
    endpoint: str,
    value: str,
) -> None:
    status, _, body = await get(
        session, url(sim, endpoint), [("start_time", T0), ("group_by", value)], openai_headers
    )
    assert 400 == status
    assert "group_by" == parse(body)["error"]["param"]


@pytest.mark.parametrize(
    ("width", "maximum", "small_limit"), [("1m", 1440, 500), ("1h", 168, 20), ("1d", 31, 2)]
)
async def test_limits_and_cursors_are_those_of_every_usage_endpoint(
    sim: Simulator,
    session: aiohttp.ClientSession,
    openai_headers: dict[str, str],
    width: str,
    maximum: int,
    small_limit: int,
) -> None:
    base = [("start_time", T0), ("bucket_width", width)]
    status, _, _ = await get(
        session, url(sim, "images"), [*base, ("limit", maximum + 1)], openai_headers
    )
    assert 400 == status
    one_page = await all_pages(
        session, url(sim, "images"), [*base, ("limit", maximum)], openai_headers
    )
    small = await all_pages(
        session, url(sim, "images"), [*base, ("limit", small_limit)], openai_headers
    )
    assert len(small) > 1
    assert all(p["next_page"] for p in small[:-1])
    assert [b["start_time"] for b in buckets(one_page)] == [b["start_time"] for b in buckets(small)]
    assert rows(one_page) == rows(small)


async def test_filters_keep_only_the_chosen_values(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    params = [("start_time", T0), ("group_by", "size"), ("group_by", "source")]
    edits = rows(
        await all_pages(
            session, url(sim, "images"), [*params, ("sizes", "1536x1024")], openai_headers
        )
    )
    assert edits
    assert {("1536x1024", "image.edit")} == {(r["size"], r["source"]) for r in edits}
    levels = rows(
        await all_pages(
            session,
            url(sim, "web_search_calls"),
            [("start_time", T0), ("group_by", "context_level"), ("context_levels", "high")],
            openai_headers,
        )
    )
    assert {"high"} == {r["context_level"] for r in levels}


async def test_vector_store_bytes_are_a_gauge_of_the_day(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    """Every hour of a day reports what the day's bucket reports (bytes held),
    not a share of it."""
    day = [("start_time", T0), ("end_time", T0 + DAY), ("group_by", "project_id")]
    daily = rows(
        await all_pages(
            session, url(sim, "vector_stores"), [*day, ("bucket_width", "1d")], openai_headers
        )
    )
    hourly = await all_pages(
        session, url(sim, "vector_stores"), [*day, ("bucket_width", "1h")], openai_headers
    )
    expected = {r["project_id"]: r["usage_bytes"] for r in daily}
    assert expected
    for bucket in buckets(hourly):
        assert expected == {r["project_id"]: r["usage_bytes"] for r in bucket["results"]}


async def test_completions_totals_include_the_audio_and_image_splits(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    found = rows(
        await all_pages(
            session,
            sim.openai_base_url + "/organization/usage/completions",
            [("start_time", T0), ("group_by", "model")],
            openai_headers,
        )
    )
    by_model = {r["model"]: r for r in found}
    audio, image = by_model["gpt-4o-audio-preview-2024-12-17"], by_model["gpt-image-1"]
    assert audio["input_audio_tokens"]
    assert audio["output_audio_tokens"]
    assert image["input_image_tokens"]
    assert image["output_image_tokens"]
    for r in found:
        assert r["input_uncached_tokens"] == (
            r["input_text_tokens"] + r["input_audio_tokens"] + r["input_image_tokens"]
        )
        assert r["input_cached_tokens"] == (
            r["input_cached_text_tokens"]
            + r["input_cached_audio_tokens"]
            + r["input_cached_image_tokens"]
        )
        assert r["output_tokens"] == (
            r["output_text_tokens"] + r["output_audio_tokens"] + r["output_image_tokens"]
        )
        assert r["input_tokens"] == (
            r["input_uncached_tokens"] + r["input_cached_tokens"] + r["input_cache_write_tokens"]
        )
