"""Late revisions: recent buckets change, older ones never, and truth follows."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import aiohttp

from costpipe.simulator import Simulator, SimulatorOptions
from tests.simulator.client import all_pages, buckets, get, parse, rows
from tests.simulator.conftest import NOW
from tests.simulator.usage_units import served_counters

HOUR = 3600
START = NOW - timedelta(hours=30)


async def _hourly(
    sim: Simulator, session: aiohttp.ClientSession, headers: dict[str, str]
) -> dict[int, Any]:
    pages = await all_pages(
        session,
        sim.openai_base_url + "/organization/usage/completions",
        [
            ("start_time", int(START.timestamp())),
            ("bucket_width", "1h"),
            ("limit", 168),
            ("group_by", "model"),
        ],
        headers,
    )
    return {b["start_time"]: b["results"] for b in buckets(pages)}


async def test_revise_changes_buckets_younger_than_the_horizon_only(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    before = await _hourly(sim, session, openai_headers)
    truth_before = sim.truth("openai", START, NOW)["total"]
    status, _, _ = await get(session, sim.base_url + "/_sim/revise", [], {})
    assert status == 405  # revise is a POST
    async with session.post(sim.base_url + "/_sim/revise") as response:
        assert response.status == 200
        assert parse(await response.read()) == {"revision": 1}
    after = await _hourly(sim, session, openai_headers)

    horizon = int(NOW.timestamp()) - 6 * HOUR
    assert before.keys() == after.keys()
    old = [t for t in before if t < horizon - horizon % HOUR]
    recent = [t for t in before if t >= horizon]
    assert old
    assert recent
    assert all(before[t] == after[t] for t in old)
    assert any(before[t] != after[t] for t in recent)
    # Late data only adds usage.
    for t in recent:
        requests_before = sum(r["num_model_requests"] for r in before[t])
        assert requests_before <= sum(r["num_model_requests"] for r in after[t])

    truth_after = sim.truth("openai", START, NOW)["total"]
    assert truth_after.requests > truth_before.requests
    assert truth_after.cost_usd > truth_before.cost_usd
    # Every endpoint's model requests (embeddings, moderations, images, audio
    # too: usage_units.FIELDS), completions included.
    served = await served_counters(
        session,
        sim.openai_base_url,
        [("start_time", int(START.timestamp())), ("bucket_width", "1h"), ("limit", 168)],
        openai_headers,
    )
    assert truth_after.requests == served["total"]["requests"]


async def test_anthropic_cost_follows_revisions(
    sim: Simulator, session: aiohttp.ClientSession, anthropic_headers: dict[str, str]
) -> None:
    today = NOW.replace(hour=0, minute=0, second=0)

    async def cost_today() -> str:
        pages = await all_pages(
            session,
            sim.anthropic_base_url + "/v1/organizations/cost_report",
            [("starting_at", today.isoformat())],
            anthropic_headers,
        )
        (row,) = rows(pages)
        return str(row["amount"])

    first = await cost_today()
    assert sim.revise() == 1
    assert sim.revise() == 2
    second = await cost_today()
    assert first != second
    assert sim.truth("anthropic", today, NOW)["total"].cost_usd * 100 == Decimal(second)


async def test_revisions_are_deterministic(sim: Simulator) -> None:
    other = Simulator(SimulatorOptions(seed=7, now=NOW))
    sim.revise()
    other.revise()
    assert sim.truth("anthropic", START, NOW, "user") == other.truth(
        "anthropic", START, NOW, "user"
    )
