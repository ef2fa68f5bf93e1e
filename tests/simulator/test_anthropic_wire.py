"""Anthropic usage_report/messages and cost_report wire format as Anthropic documents them."""

from __future__ import annotations

import base64
import re
from decimal import Decimal

import aiohttp
import pytest

from costpipe.simulator import Simulator
from tests.conftest import StartSimulator
from tests.simulator.client import all_pages, buckets, get, parse, rows
from tests.simulator.conftest import NOW

USAGE = "/v1/organizations/usage_report/messages"
COST = "/v1/organizations/cost_report"
DIMENSIONS = {
    "api_key_id", "workspace_id", "model", "service_tier", "context_window", "inference_geo", "speed",
    "account_id", "service_account_id",
}  # fmt: skip


async def test_usage_snaps_starting_at_and_serves_rfc3339_buckets(
    sim: Simulator, session: aiohttp.ClientSession, anthropic_headers: dict[str, str]
) -> None:
    status, headers, body = await get(
        session,
        sim.anthropic_base_url + USAGE,
        [("starting_at", "2026-03-09T10:17:00Z"), ("ending_at", "2026-03-11T01:00:00Z")],
        anthropic_headers,
    )
    assert status == 200
    assert re.fullmatch(r"req_01[A-Za-z0-9]{22}", headers["request-id"])
    page = parse(body)
    assert {"data", "has_more", "next_page"} == set(page)
    assert [(b["starting_at"], b["ending_at"]) for b in page["data"]] == [
        ("2026-03-09T00:00:00Z", "2026-03-10T00:00:00Z"),
        ("2026-03-10T00:00:00Z", "2026-03-11T00:00:00Z"),
    ]
    assert page["has_more"] is False


async def test_usage_serves_only_buckets_that_end_by_ending_at(
    sim: Simulator, session: aiohttp.ClientSession, anthropic_headers: dict[str, str]
) -> None:
    pages = await all_pages(
        session,
        sim.anthropic_base_url + USAGE,
        [
            ("starting_at", "2026-03-10T00:00:00Z"),
            ("ending_at", "2026-03-10T05:30:00Z"),
            ("bucket_width", "1h"),
        ],
        anthropic_headers,
    )
    assert [f"2026-03-10T0{h}:00:00Z" for h in range(5)] == [
        b["starting_at"] for b in buckets(pages)
    ]


@pytest.mark.parametrize(("reading", "on_the_edge"), [("strict", 4), ("inclusive", 5)])
async def test_a_bucket_ending_exactly_at_ending_at_follows_the_configured_reading(
    start_simulator: StartSimulator, session: aiohttp.ClientSession, reading: str, on_the_edge: int
) -> None:
    """The reference: "Time buckets that end before this RFC 3339 timestamp will
    be returned" (strict, the default); ``inclusive`` also serves the bucket that
    ends exactly at ``ending_at``. Inside a bucket both readings agree."""
    sim = await start_simulator(seed=7, now=NOW, anthropic_ending_at=reading)
    headers = {"x-api-key": sim.anthropic_admin_key, "anthropic-version": "2023-06-01"}

    async def count(path: str, start: str, end: str, width: str) -> int:
        params = [("starting_at", start), ("ending_at", end), ("bucket_width", width)]
        return len(
            buckets(await all_pages(session, sim.anthropic_base_url + path, params, headers))
        )

    hour = "2026-03-10T00:00:00Z"
    assert on_the_edge == await count(USAGE, hour, "2026-03-10T05:00:00Z", "1h")
    assert 5 == await count(USAGE, hour, "2026-03-10T05:30:00Z", "1h")
    assert on_the_edge - 3 == await count(COST, "2026-03-08T00:00:00Z", hour, "1d")
    assert 2 == await count(COST, "2026-03-08T00:00:00Z", "2026-03-10T00:00:01Z", "1d")


async def test_usage_rows_have_nested_cache_creation_and_null_ungrouped_dimensions(
    sim: Simulator, session: aiohttp.ClientSession, anthropic_headers: dict[str, str]
) -> None:
    pages = await all_pages(
        session,
        sim.anthropic_base_url + USAGE,
        [("starting_at", "2026-03-08T00:00:00Z"), ("group_by[]", "model"), ("group_by[]", "workspace_id"),
         ("group_by[]", "api_key_id")],
        anthropic_headers,
    )  # fmt: skip
    found = rows(pages)
    assert found
    for r in found:
        assert {
            "uncached_input_tokens", "cache_creation", "cache_read_input_tokens", "output_tokens",
            "server_tool_use", *DIMENSIONS,
        } == set(r)  # fmt: skip
        assert {"ephemeral_1h_input_tokens", "ephemeral_5m_input_tokens"} == set(
            r["cache_creation"]
        )
        assert isinstance(r["server_tool_use"]["web_search_requests"], int)
        assert None is r["service_tier"] is r["context_window"] is r["speed"] is r["account_id"]
    workspaces = {r["workspace_id"] for r in found}
    assert None in workspaces  # the default workspace
    assert any(w and re.fullmatch(r"wrkspc_01[A-Za-z0-9]{22}", w) for w in workspaces)
    keys = {r["api_key_id"] for r in found}
    assert None in keys  # Workbench usage
    assert any(k and re.fullmatch(r"apikey_01[A-Za-z0-9]{22}", k) for k in keys)
    assert "claude-sonnet-4-20250514" in {r["model"] for r in found}


async def test_usage_pagination_by_bucket_with_opaque_cursor(
    sim: Simulator, session: aiohttp.ClientSession, anthropic_headers: dict[str, str]
) -> None:
    pages = await all_pages(
        session,
        sim.anthropic_base_url + USAGE,
        [
            ("starting_at", "2026-03-08T00:00:00Z"),
            ("ending_at", "2026-03-11T00:30:00Z"),
            ("bucket_width", "1h"),
        ],
        anthropic_headers,
    )
    assert [len(p["data"]) for p in pages] == [24, 24, 24]
    cursor = pages[0]["next_page"]
    assert base64.b64decode(cursor.removeprefix("page_")) == b"2026-03-09T00:00:00Z"


async def test_usage_filters_and_service_tier_grouping(
    sim: Simulator, session: aiohttp.ClientSession, anthropic_headers: dict[str, str]
) -> None:
    pages = await all_pages(
        session,
        sim.anthropic_base_url + USAGE,
        [("starting_at", "2026-03-08T00:00:00Z"), ("group_by[]", "service_tier"), ("group_by[]", "context_window"),
         ("models[]", "claude-sonnet-4-20250514")],
        anthropic_headers,
    )  # fmt: skip
    combos = {(r["service_tier"], r["context_window"]) for r in rows(pages)}
    assert {("standard", "0-200k"), ("batch", "0-200k"), ("standard", "200k-1M")} <= combos
    assert all(r["model"] is None for r in rows(pages))


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (USAGE, [("group_by", "model")]),  # arrays only in bracket form
        (USAGE, [("bucket_width", "1w")]),
        (USAGE, [("bucket_width", "1h"), ("limit", 169)]),
        (USAGE, [("bucket_width", "1m"), ("limit", 1441)]),
        (USAGE, [("limit", 32)]),
        (USAGE, [("group_by[]", "speed")]),  # needs the fast-mode beta header
        (COST, [("bucket_width", "1h")]),
        (COST, [("limit", 32)]),
        (COST, [("group_by[]", "model")]),
        (COST, [("group_by[]", "api_key_id")]),
        (COST, [("page", "page_bm90IGEgZGF0ZQ==")]),
    ],
)
async def test_invalid_parameters_are_400_in_anthropic_error_shape(
    sim: Simulator,
    session: aiohttp.ClientSession,
    anthropic_headers: dict[str, str],
    path: str,
    params: list[tuple[str, str | int]],
) -> None:
    status, headers, body = await get(
        session,
        sim.anthropic_base_url + path,
        [("starting_at", "2026-03-08T00:00:00Z"), *params],
        anthropic_headers,
    )
    assert status == 400
    error = parse(body)
    assert {"type", "error", "request_id"} == set(error)
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert error["request_id"] == headers["request-id"]


async def test_speed_grouping_works_with_the_beta_header(
    sim: Simulator, session: aiohttp.ClientSession, anthropic_headers: dict[str, str]
) -> None:
    headers = {**anthropic_headers, "anthropic-beta": "fast-mode-2026-02-01"}
    pages = await all_pages(
        session,
        sim.anthropic_base_url + USAGE,
        [("starting_at", "2026-03-10T00:00:00Z"), ("group_by[]", "speed")],
        headers,
    )
    assert {"standard"} == {r["speed"] for r in rows(pages)}


async def test_cost_report_amounts_are_cent_strings_with_at_most_five_decimals(
    sim: Simulator, session: aiohttp.ClientSession, anthropic_headers: dict[str, str]
) -> None:
    pages = await all_pages(
        session,
        sim.anthropic_base_url + COST,
        [
            ("starting_at", "2026-03-08T00:00:00Z"),
            ("group_by[]", "description"),
            ("group_by[]", "workspace_id"),
        ],
        anthropic_headers,
    )
    found = rows(pages)
    assert found
    for r in found:
        assert {
            "currency", "amount", "workspace_id", "description", "cost_type", "model", "token_type",
            "service_tier", "context_window", "inference_geo",
        } == set(r)  # fmt: skip
        assert r["currency"] == "USD"
        assert isinstance(r["amount"], str)
        assert re.fullmatch(r"\d+(\.\d{1,5})?", r["amount"])
    token_rows = [r for r in found if r["cost_type"] == "tokens"]
    assert {
        "uncached_input_tokens", "output_tokens", "cache_read_input_tokens",
        "cache_creation.ephemeral_5m_input_tokens", "cache_creation.ephemeral_1h_input_tokens",
    } == {r["token_type"] for r in token_rows}  # fmt: skip
    assert all(r["model"] and r["description"].startswith("Claude ") for r in token_rows)
    searches = [r for r in found if r["cost_type"] == "web_search"]
    assert searches
    assert all(r["description"] == "Web Search Usage" and r["model"] is None for r in searches)
    assert "priority" not in {r["service_tier"] for r in found}
    assert None in {r["workspace_id"] for r in found}


async def test_cost_report_ungrouped_rows_have_null_details(
    sim: Simulator, session: aiohttp.ClientSession, anthropic_headers: dict[str, str]
) -> None:
    pages = await all_pages(
        session,
        sim.anthropic_base_url + COST,
        [("starting_at", "2026-03-08T05:00:00Z")],
        anthropic_headers,
    )
    assert [b["starting_at"] for b in buckets(pages)] == [
        f"2026-03-{d:02}T00:00:00Z" for d in (8, 9, 10, 11)
    ]
    for bucket in buckets(pages):
        assert len(bucket["results"]) == 1
        (row,) = bucket["results"]
        assert Decimal(row["amount"]) > 0
        assert (
            None is row["description"] is row["model"] is row["token_type"] is row["workspace_id"]
        )
