"""Ground truth equals the exact sum of everything served, over all pages."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp

from costpipe.simulator import Simulator, SimulatorOptions, Totals, run_simulator
from tests.simulator.client import all_pages, buckets, get, parse, rows
from tests.simulator.conftest import DAY0, NOW
from tests.simulator.usage_units import served_counters

START = DAY0 - timedelta(days=10)


def _ts(moment: datetime) -> int:
    return int(moment.timestamp())


def _model_of_line_item(line_item: str) -> str:
    """Best-effort parse of ``"[prefix | ]<model>, <direction>"`` (docs/simulator.md, Money)."""
    head = line_item.rsplit(", ", 1)[0]
    return head.split(" | ", 1)[1] if " | " in head else head


async def test_openai_cost_truth_is_the_exact_sum_of_amount_texts(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    url = sim.openai_base_url + "/organization/costs"
    base = [("start_time", _ts(START)), ("limit", 4)]
    ungrouped = rows(await all_pages(session, url, base, openai_headers))
    grouped = rows(
        await all_pages(
            session,
            url,
            [*base, ("group_by", "line_item"), ("group_by", "project_id")],
            openai_headers,
        )
    )
    total = sim.truth("openai", START, NOW)["total"].cost_usd
    assert total > 0
    assert total == sum(r["amount"]["value"] for r in ungrouped)
    assert total == sum(r["amount"]["value"] for r in grouped)

    by_project: dict[str, Decimal] = defaultdict(Decimal)
    by_model: dict[str, Decimal] = defaultdict(Decimal)
    for r in grouped:
        by_project[r["project_id"]] += r["amount"]["value"]
        by_model[_model_of_line_item(r["line_item"])] += r["amount"]["value"]
    # Groups of unit usage only (no Costs API line item) have no money.
    assert {
        k: v.cost_usd for k, v in sim.truth("openai", START, NOW, "project").items() if v.cost_usd
    } == by_project
    assert {
        k: v.cost_usd for k, v in sim.truth("openai", START, NOW, "model").items() if v.cost_usd
    } == by_model


async def test_openai_cost_truth_by_day_matches_day_buckets(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    pages = await all_pages(
        session,
        sim.openai_base_url + "/organization/costs",
        [("start_time", _ts(START))],
        openai_headers,
    )
    served = {
        datetime.fromtimestamp(b["start_time"], UTC).date().isoformat(): sum(
            (r["amount"]["value"] for r in b["results"]), Decimal(0)
        )
        for b in buckets(pages)
    }
    assert {k: v.cost_usd for k, v in sim.truth("openai", START, NOW, "day").items()} == served


async def test_openai_token_truth_by_user_matches_usage_from_an_unaligned_start(
    sim: Simulator, session: aiohttp.ClientSession, openai_headers: dict[str, str]
) -> None:
    """Every counter of every usage endpoint (tokens by category and modality,
    requests, units), per user, equals the truth."""
    start = NOW - timedelta(days=2, seconds=1234)
    params = [("start_time", _ts(start)), ("bucket_width", "1h")]
    served = await served_counters(
        session, sim.openai_base_url, params, openai_headers, by="user_id"
    )
    truth = sim.truth("openai", start, NOW, "user")
    assert "" in truth  # embeddings without a user
    assert _nonzero({k: _counters(t) for k, t in truth.items()}) == _nonzero(served)
    total = truth["" if "" in served else next(iter(served))]
    assert total.images or total.speech_characters or total.web_search_calls


def _counters(totals: Totals) -> dict[str, int]:
    """The truth's counters costpipe sums per user (vector stores are per project)."""
    return {
        name: value
        for name, value in asdict(totals).items()
        if name not in ("cost_usd", "vector_store_byte_days")
    }


def _nonzero(groups: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    kept = {k: {name: v for name, v in counts.items() if v} for k, counts in groups.items()}
    return {k: counts for k, counts in kept.items() if counts}


async def test_anthropic_cost_truth_is_cents_over_100_by_model_and_workspace(
    sim: Simulator, session: aiohttp.ClientSession, anthropic_headers: dict[str, str]
) -> None:
    pages = await all_pages(
        session,
        sim.anthropic_base_url + "/v1/organizations/cost_report",
        [
            ("starting_at", START.isoformat()),
            ("group_by[]", "description"),
            ("group_by[]", "workspace_id"),
        ],
        anthropic_headers,
    )
    by_model: dict[str, Decimal] = defaultdict(Decimal)
    by_workspace: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows(pages):
        by_model[r["model"] or ""] += Decimal(r["amount"]) / 100
        by_workspace[r["workspace_id"] or ""] += Decimal(r["amount"]) / 100
    assert {
        k: v.cost_usd for k, v in sim.truth("anthropic", START, NOW, "model").items()
    } == by_model
    assert {
        k: v.cost_usd for k, v in sim.truth("anthropic", START, NOW, "project").items()
    } == by_workspace
    assert "claude-neptune-preview" in by_model  # billed, but absent from public price lists


async def test_anthropic_token_truth_by_api_key_matches_usage_report(
    sim: Simulator, session: aiohttp.ClientSession, anthropic_headers: dict[str, str]
) -> None:
    pages = await all_pages(
        session,
        sim.anthropic_base_url + "/v1/organizations/usage_report/messages",
        [
            ("starting_at", (NOW - timedelta(hours=30)).isoformat()),
            ("bucket_width", "1h"),
            ("group_by[]", "api_key_id"),
        ],
        anthropic_headers,
    )
    served: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in rows(pages):
        acc = served[r["api_key_id"] or ""]
        acc[0] += r["uncached_input_tokens"]
        acc[1] += r["cache_read_input_tokens"]
        acc[2] += (
            r["cache_creation"]["ephemeral_5m_input_tokens"]
            + r["cache_creation"]["ephemeral_1h_input_tokens"]
        )
        acc[3] += r["output_tokens"]
    start = datetime.fromisoformat(buckets(pages)[0]["starting_at"])  # snapped to the hour
    truth = sim.truth("anthropic", start, NOW, "user")
    assert {
        k: [t.uncached_input, t.cached_input, t.cache_write, t.output] for k, t in truth.items()
    } == dict(served)
    assert all(t.requests == 0 for t in truth.values())  # not exposed by the usage report


async def test_truth_over_http_equals_the_python_api(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    for provider in ("openai", "anthropic"):
        for by in ("day", "model", "project", "user", "total"):
            status, _, body = await get(
                session,
                sim.base_url + "/_sim/truth",
                [
                    ("provider", provider),
                    ("start", DAY0.isoformat()),
                    ("end", NOW.isoformat()),
                    ("by", by),
                ],
                {},
            )
            assert status == 200
            payload: Any = parse(body)
            expected = {k: v.as_json() for k, v in sim.truth(provider, DAY0, NOW, by).items()}
            assert expected == payload["totals"]
            assert all(isinstance(v, str) for t in payload["totals"].values() for v in t.values())


async def test_truth_rejects_unknown_grouping(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    status, _, _ = await get(
        session,
        sim.base_url + "/_sim/truth",
        [("provider", "openai"), ("start", "0"), ("end", "1"), ("by", "x")],
        {},
    )
    assert status == 400


async def test_truth_is_empty_at_or_after_now(sim: Simulator) -> None:
    assert sim.truth("openai", NOW, NOW + timedelta(days=3)) == {}
    assert sim.truth("anthropic", NOW, NOW + timedelta(days=3)) == {}


async def test_totals_add_exactly() -> None:
    assert Totals(Decimal("0.3"), 1, 2, 3, 4, 5) == Totals(Decimal("0.1"), 1, 0, 3, 0, 5) + Totals(
        Decimal("0.2"), 0, 2, 0, 4, 0
    )


async def test_same_seed_serves_the_same_bytes_and_another_seed_does_not(
    session: aiohttp.ClientSession,
) -> None:
    async def capture(seed: int) -> list[bytes]:
        async with run_simulator(SimulatorOptions(seed=seed, now=NOW)) as sim:
            openai = {"Authorization": f"Bearer {sim.openai_admin_key}"}
            anthropic = {"x-api-key": sim.anthropic_admin_key, "anthropic-version": "2023-06-01"}
            start = [("start_time", _ts(START)), ("group_by", "line_item")]
            return [
                (await get(session, sim.openai_base_url + "/organization/costs", start, openai))[2],
                (
                    await get(
                        session,
                        sim.openai_base_url + "/organization/usage/completions",
                        start[:1],
                        openai,
                    )
                )[2],
                (
                    await get(
                        session,
                        sim.anthropic_base_url + "/v1/organizations/cost_report",
                        [("starting_at", START.isoformat()), ("group_by[]", "description")],
                        anthropic,
                    )
                )[2],
            ]

    first, again, other = await capture(3), await capture(3), await capture(4)
    assert first == again
    assert all(a != b for a, b in zip(first, other, strict=True))
