"""LiteLLM ``/spend/logs/v2`` paging as the proxy's source has it (BerriAI/litellm
1.110.2, ``litellm/proxy/spend_tracking/spend_management_endpoints.py``; the
lines are cited in ``costpipe.simulator.litellm_paging``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from costpipe.simulator import Simulator
from tests.simulator.client import get, parse

BUSY = datetime(2026, 3, 10, 9, tzinfo=UTC)
HOUR_RANGE = [("start_date", "2026-03-10 09:00:00"), ("end_date", "2026-03-10 10:00:00")]
BURST = [("start_date", "2026-03-10 09:30:00"), ("end_date", "2026-03-10 09:30:00")]


@pytest.fixture
def headers(sim: Simulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.litellm.master_key}"}


async def spend_logs(
    sim: Simulator,
    session: aiohttp.ClientSession,
    headers: dict[str, str],
    params: list[tuple[str, str | int]],
) -> tuple[int, Any]:
    status, _, body = await get(session, sim.litellm_base_url + "/spend/logs/v2", params, headers)
    return status, parse(body)


async def test_page_size_is_1_to_1000_as_fastapi_validates_it(
    sim: Simulator, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    """``page_size: ... ge=1, le=1000`` (line 2552); FastAPI's 422 body through the
    proxy's RequestValidationError handler is ``{"detail": [...]}``."""
    status, answer = await spend_logs(sim, session, headers, [*HOUR_RANGE, ("page_size", 1000)])
    assert status == 200
    assert answer["page_size"] == 1000
    status, answer = await spend_logs(sim, session, headers, [*HOUR_RANGE, ("page_size", 1001)])
    assert status == 422
    [error] = answer["detail"]
    assert (error["type"], error["loc"], error["ctx"]) == (
        "less_than_equal",
        ["query", "page_size"],
        {"le": 1000},
    )
    status, answer = await spend_logs(sim, session, headers, [*HOUR_RANGE, ("page", 0)])
    assert (status, answer["detail"][0]["loc"]) == (422, ["query", "page"])


async def test_the_count_stops_at_10000_and_says_so(
    sim: Simulator, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    """``SPEND_LOGS_PAGINATION_COUNT_CAP = 10000`` (line 92); ``total_is_capped =
    raw_total > cap``, ``total = cap`` and ``total_pages`` from it (lines 3024-3064)."""
    sim.litellm.crowd(BUSY, 12_000)
    status, answer = await spend_logs(sim, session, headers, [*HOUR_RANGE, ("page_size", 1000)])
    assert status == 200
    assert (answer["total"], answer["total_is_capped"], answer["total_pages"]) == (10_000, True, 10)
    # Page 12 still has rows although total_pages says 10.
    status, page = await spend_logs(
        sim, session, headers, [*HOUR_RANGE, ("page_size", 1000), ("page", 12)]
    )
    assert len(page["data"]) == 1000
    sim.litellm.crowd(BUSY, 10_000)
    _, exact = await spend_logs(
        sim,
        session,
        headers,
        [("start_date", "2026-03-10 09:00:00"), ("end_date", "2026-03-10 09:59:59")],
    )
    assert (exact["total"], exact["total_is_capped"]) == (10_000, False)


async def test_ties_in_start_time_are_ordered_differently_on_each_page(
    sim: Simulator, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    """``ORDER BY "startTime" DESC`` with no tie-break (lines 3042-3046): the 604 rows
    of one instant (the burst of 600 and 4 of the spread) paged by 300 serve some
    rows twice, while one query asked twice answers the same and one page of 1000
    holds them all."""
    sim.litellm.crowd(BUSY, 12_000, burst=600)
    pages = []
    for number in (1, 2, 1):
        _, answer = await spend_logs(
            sim, session, headers, [*BURST, ("page_size", 300), ("page", number)]
        )
        pages.append([row["request_id"] for row in answer["data"]])
    assert pages[0] == pages[2]
    walked = pages[0] + pages[1]
    assert len(walked) == 600
    assert len(set(walked)) < 600
    _, whole = await spend_logs(sim, session, headers, [*BURST, ("page_size", 1000)])
    assert len({row["request_id"] for row in whole["data"]}) == whole["total"] == 604
    assert {row["startTime"] for row in whole["data"]} == {"2026-03-10T09:30:00+00:00"}


async def test_rows_are_newest_first_and_dates_may_be_days(
    sim: Simulator, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    """``/v2`` also reads ``YYYY-MM-DD`` (lines 2709-2722)."""
    params = [("start_date", "2026-03-10"), ("end_date", "2026-03-11"), ("page_size", 1000)]
    status, answer = await spend_logs(sim, session, headers, params)
    assert status == 200
    moments = [datetime.fromisoformat(row["startTime"]) for row in answer["data"]]
    assert moments == sorted(moments, reverse=True)
    assert moments


async def test_rows_arrive_after_a_countdown_of_pages(
    sim: Simulator, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    sim.litellm.insert_after_page = 2
    params = [*HOUR_RANGE, ("page_size", 1000)]
    _, first = await spend_logs(sim, session, headers, params)
    _, second = await spend_logs(sim, session, headers, params)
    _, third = await spend_logs(sim, session, headers, params)
    assert first["total"] == second["total"]
    assert third["total"] == second["total"] + sim.litellm.insert_count
    assert sim.litellm.insert_after_page is None
