"""OpenAI Costs and Usage wire format, as OpenAI documents it (docs/simulator.md)."""

from __future__ import annotations

import re
from decimal import Decimal

import aiohttp
import pytest

from costpipe.simulator import Simulator
from tests.simulator.client import all_pages, buckets, get, parse, rows
from tests.simulator.conftest import DAY0, NOW

DAY = 86400
T0 = int(DAY0.timestamp())
T_NOW = int(NOW.timestamp())

COMPLETION_FIELDS = {
    "object", "input_tokens", "output_tokens", "num_model_requests", "input_cached_tokens",
    "input_cache_write_tokens", "input_uncached_tokens", "input_text_tokens", "output_text_tokens",
    "input_cached_text_tokens", "input_audio_tokens", "input_cached_audio_tokens", "output_audio_tokens",
    "input_image_tokens", "input_cached_image_tokens", "output_image_tokens",
    "project_id", "user_id", "api_key_id", "model", "batch", "service_tier",
}  # fmt: skip


async def test_costs_page_has_the_spec_envelope_and_day_buckets(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    status, headers, body = await get(
        session, sim.openai_base_url + "/organization/costs", [("start_time", T0)], openai_headers
    )
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert headers["x-request-id"].startswith("req_")
    page = parse(body)
    assert {"object", "data", "has_more", "next_page"} == set(page)
    assert page["object"] == "page"
    assert [T0 + i * DAY for i in range(4)] == [b["start_time"] for b in page["data"]]
    assert all(
        b["end_time"] - b["start_time"] == DAY and b["object"] == "bucket" for b in page["data"]
    )
    assert page["has_more"] is False
    assert page["next_page"] is None
    result = page["data"][0]["results"][0]
    assert result["object"] == "organization.costs.result"
    assert result["amount"]["currency"] == "usd"
    # A JSON number (not a string) in dollars; nulls for every ungrouped dimension.
    assert isinstance(result["amount"]["value"], Decimal)
    assert None is result["line_item"] is result["project_id"] is result["api_key_id"]
    assert None is result["quantity"] is result["quantity_unit"]
    assert re.fullmatch(r"org-[A-Za-z0-9]{24}", result["organization_id"])


async def test_costs_snap_the_first_bucket_to_utc_midnight(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    pages = await all_pages(
        session,
        sim.openai_base_url + "/organization/costs",
        [("start_time", T0 + 5000)],
        openai_headers,
    )
    assert buckets(pages)[0]["start_time"] == T0


async def test_costs_amount_is_a_number_with_many_digits_and_line_items_name_models(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    pages = await all_pages(
        session,
        sim.openai_base_url + "/organization/costs",
        [("start_time", T0), ("group_by", "line_item"), ("group_by", "project_id")],
        openai_headers,
    )
    found = rows(pages)
    assert any(len(str(r["amount"]["value"]).split(".")[-1]) >= 6 for r in found)
    items = {r["line_item"] for r in found}
    assert "gpt-4o-2024-08-06, input" in items or "gpt-4o-2024-08-06, output" in items
    assert any(item.startswith("batch | ") for item in items)
    assert any(item.startswith('ft:gpt-4o-mini-2024-07-18:acme, "café"=1 \\, ') for item in items)
    assert all(r["project_id"] is not None and r["api_key_id"] is None for r in found)
    assert all(isinstance(r["quantity"], int) and r["quantity_unit"] == "tokens" for r in found)


async def test_costs_paginate_by_bucket_until_the_end(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    start = T0 - 20 * DAY
    pages = await all_pages(
        session,
        sim.openai_base_url + "/organization/costs",
        [("start_time", start), ("end_time", T0), ("limit", 3), ("group_by[]", "project_id")],
        openai_headers,
    )
    assert [len(p["data"]) for p in pages] == [3, 3, 3, 3, 3, 3, 2]
    assert [start + i * DAY for i in range(20)] == [b["start_time"] for b in buckets(pages)]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ([("limit", 0)], "limit"),
        ([("limit", 181)], "limit"),
        ([("limit", "seven")], "limit"),
        ([("bucket_width", "1h")], "bucket_width"),
        ([("group_by", "model")], "group_by"),
        ([("page", "page_notacursor")], "page"),
    ],
)
async def test_costs_reject_invalid_parameters_with_400(
    sim: Simulator,
    session: aiohttp.ClientSession,
    openai_headers: dict[str, str],
    params: list[tuple[str, str | int]],
    param: str,
) -> None:
    status, _, body = await get(
        session,
        sim.openai_base_url + "/organization/costs",
        [("start_time", T0), *params],
        openai_headers,
    )
    assert status == 400
    error = parse(body)["error"]
    assert {"message", "type", "param", "code"} == set(error)
    assert error["type"] == "invalid_request_error"
    assert param == error["param"]


async def test_missing_start_time_is_400(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    status, _, body = await get(
        session, sim.openai_base_url + "/organization/usage/completions", [], openai_headers
    )
    assert status == 400
    assert parse(body)["error"]["param"] == "start_time"


@pytest.mark.parametrize(
    ("width", "default", "maximum"), [("1m", 60, 1440), ("1h", 24, 168), ("1d", 7, 31)]
)
async def test_usage_limits_per_bucket_width(
    sim: Simulator,
    session: aiohttp.ClientSession,
    openai_headers: dict[str, str],
    width: str,
    default: int,
    maximum: int,
) -> None:
    url = sim.openai_base_url + "/organization/usage/completions"
    start = T0 - 60 * DAY
    status, _, body = await get(
        session, url, [("start_time", start), ("bucket_width", width)], openai_headers
    )
    assert status == 200
    assert default == len(parse(body)["data"])
    status, _, body = await get(
        session,
        url,
        [("start_time", start), ("bucket_width", width), ("limit", maximum)],
        openai_headers,
    )
    assert status == 200
    assert maximum == len(parse(body)["data"])
    status, _, _ = await get(
        session,
        url,
        [("start_time", start), ("bucket_width", width), ("limit", maximum + 1)],
        openai_headers,
    )
    assert status == 400


async def test_usage_first_bucket_starts_at_the_exact_start_time(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    start = T0 + 17 * 3600 + 31 * 60
    pages = await all_pages(
        session,
        sim.openai_base_url + "/organization/usage/completions",
        [("start_time", start), ("end_time", T0 + 3 * DAY)],
        openai_headers,
    )
    edges = [(b["start_time"], b["end_time"]) for b in buckets(pages)]
    assert [(start, T0 + DAY), (T0 + DAY, T0 + 2 * DAY), (T0 + 2 * DAY, T0 + 3 * DAY)] == edges


async def test_usage_serves_nothing_at_or_after_now(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    pages = await all_pages(
        session,
        sim.openai_base_url + "/organization/usage/completions",
        [("start_time", T_NOW - 3 * 3600), ("end_time", T_NOW + 5 * 3600), ("bucket_width", "1h")],
        openai_headers,
    )
    starts = [b["start_time"] for b in buckets(pages)]
    assert all(start < T_NOW for start in starts)
    assert starts[-1] == T_NOW - T_NOW % 3600


async def test_usage_returns_empty_buckets_with_empty_results(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    # A filter that matches nothing leaves every bucket present and empty.
    pages = await all_pages(
        session,
        sim.openai_base_url + "/organization/usage/completions",
        [("start_time", T0), ("end_time", T0 + 2 * DAY), ("project_ids", "proj_doesnotexist")],
        openai_headers,
    )
    assert [b["results"] for b in buckets(pages)] == [[], []]


async def test_usage_completions_row_fields_and_grouping_by_both_array_forms(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    url = sim.openai_base_url + "/organization/usage/completions"
    plain = await all_pages(
        session,
        url,
        [("start_time", T0), ("group_by", "model"), ("group_by", "user_id")],
        openai_headers,
    )
    brackets = await all_pages(
        session,
        url,
        [("start_time", T0), ("group_by[]", "model"), ("group_by[]", "user_id")],
        openai_headers,
    )
    assert plain == brackets
    found = rows(plain)
    assert all(set(r) == COMPLETION_FIELDS for r in found)
    for r in found:
        assert r["object"] == "organization.usage.completions.result"
        assert (
            r["input_tokens"]
            == r["input_cached_tokens"] + r["input_cache_write_tokens"] + r["input_uncached_tokens"]
        )
        assert None is r["project_id"] is r["api_key_id"] is r["batch"] is r["service_tier"]
        assert r["model"] is not None
    models = {r["model"] for r in found}
    assert "gpt-9-experimental" in models
    assert any(re.fullmatch(r"gpt-4o(-mini)?-\d{4}-\d{2}-\d{2}", m) for m in models)
    users = {r["user_id"] for r in found}
    assert any(u and re.fullmatch(r"user-[A-Za-z0-9]{24}", u) for u in users)
    assert 'user-Zoë "ops", x=1 \\' in users


async def test_usage_filters_restrict_rows(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    url = sim.openai_base_url + "/organization/usage/completions"
    project = sim.openai.org.project_ids[0]
    pages = await all_pages(
        session,
        url,
        [("start_time", T0), ("group_by", "project_id"), ("group_by", "batch"), ("project_ids[]", project),
         ("batch", "true")],
        openai_headers,
    )  # fmt: skip
    found = rows(pages)
    assert found
    assert {(project, True)} == {(r["project_id"], r["batch"]) for r in found}


async def test_embeddings_rows_have_null_user_for_calls_without_user(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    pages = await all_pages(
        session,
        sim.openai_base_url + "/organization/usage/embeddings",
        [
            ("start_time", T0),
            ("group_by", "user_id"),
            ("group_by", "model"),
            ("group_by", "project_id"),
        ],
        openai_headers,
    )
    found = rows(pages)
    assert found
    for r in found:
        assert {
            "object",
            "input_tokens",
            "num_model_requests",
            "project_id",
            "user_id",
            "api_key_id",
            "model",
        } == set(r)
        assert r["object"] == "organization.usage.embeddings.result"
        assert r["user_id"] is None
        assert r["model"].startswith("text-embedding-3-")
    assert any(re.fullmatch(r"proj_[A-Za-z0-9]{24}", r["project_id"]) for r in found)
    assert 'proj_awkward team, "α=β" \\' in {r["project_id"] for r in found}


async def test_cursor_is_opaque_base64_with_page_prefix(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    _, _, body = await get(
        session,
        sim.openai_base_url + "/organization/usage/completions",
        [("start_time", T0 - 30 * DAY), ("limit", 2)],
        openai_headers,
    )
    page = parse(body)
    assert page["has_more"] is True
    assert re.fullmatch(r"page_[A-Za-z0-9+/]+=*", page["next_page"])


async def test_day_sum_equals_sum_of_its_hours(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    url = sim.openai_base_url + "/organization/usage/completions"
    window = [("start_time", T0), ("end_time", T0 + DAY)]
    days = rows(await all_pages(session, url, window, openai_headers))
    hours = rows(
        await all_pages(
            session, url, [*window, ("bucket_width", "1h"), ("limit", 168)], openai_headers
        )
    )
    assert len(days) == 1
    for field in ("input_tokens", "output_tokens", "num_model_requests", "input_cached_tokens"):
        assert days[0][field] == sum(h[field] for h in hours)
