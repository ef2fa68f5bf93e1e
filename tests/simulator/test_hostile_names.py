"""``hostile_names``: every vendor serves HTML, Markdown, control-character,
CSV-formula and very long names, on the wire as valid JSON, and the ground
truth counts them, so totals still reconcile."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from costpipe.simulator import Simulator, SimulatorOptions, run_simulator
from tests.simulator.client import all_pages, get, parse, rows
from tests.simulator.conftest import DAY0, NOW

START = DAY0 - timedelta(days=10)
#: Written out here, not imported: the test checks the promise, not the module.
EXPECTED = (
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "![t](http://127.0.0.1:9/pixel.png)",
    "[click](http://attacker.invalid/)",
    "u1\r\nBcc: attacker@example.com",
    '=HYPERLINK("http://attacker.invalid")',
    "+1+1",
    "@SUM(A1)",
)


@pytest.fixture
async def hostile() -> AsyncIterator[Simulator]:
    async with run_simulator(SimulatorOptions(seed=7, now=NOW, hostile_names=True)) as simulator:
        yield simulator


def _long(values: set[str]) -> list[str]:
    return [v for v in values if len(v) >= 300]


def _has_all(values: set[str], prefix: str = "") -> None:
    for name in EXPECTED:
        assert prefix + name in values, (prefix + name, sorted(values)[:20])
    assert len(_long(values)) == 1


def _model_of_line_item(line_item: str) -> str:
    head = line_item.rsplit(", ", 1)[0]
    return head.split(" | ", 1)[1] if " | " in head else head


async def test_openai_serves_hostile_models_users_projects_and_keys_that_reconcile(
    hostile: Simulator, session: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": f"Bearer {hostile.openai_admin_key}"}
    usage = rows(
        await all_pages(
            session,
            hostile.openai_base_url + "/organization/usage/completions",
            [("start_time", int(START.timestamp())), ("limit", 7)]
            + [("group_by", g) for g in ("model", "user_id", "project_id", "api_key_id")],
            headers,
        )
    )
    _has_all({r["model"] for r in usage})
    _has_all({r["user_id"] for r in usage}, "user-")
    _has_all({r["project_id"] for r in usage}, "proj_")
    _has_all({r["api_key_id"] for r in usage}, "key_")
    costs = rows(
        await all_pages(
            session,
            hostile.openai_base_url + "/organization/costs",
            [("start_time", int(START.timestamp())), ("group_by", "line_item")],
            headers,
        )
    )
    by_model: dict[str, Decimal] = defaultdict(Decimal)
    for row in costs:
        by_model[_model_of_line_item(row["line_item"])] += row["amount"]["value"]
    _has_all(set(by_model))
    truth = hostile.truth("openai", START, NOW, "model")
    # Models of unit usage only (no Costs API line item) have no money.
    assert {k: v.cost_usd for k, v in truth.items() if v.cost_usd} == by_model
    _has_all(set(hostile.truth("openai", START, NOW, "user")), "user-")


async def test_anthropic_serves_hostile_models_workspaces_and_keys_that_reconcile(
    hostile: Simulator, session: aiohttp.ClientSession
) -> None:
    headers = {"x-api-key": hostile.anthropic_admin_key, "anthropic-version": "2023-06-01"}
    base: list[tuple[str, str | int]] = [("starting_at", START.isoformat()), ("limit", 7)]
    usage = rows(
        await all_pages(
            session,
            hostile.anthropic_base_url + "/v1/organizations/usage_report/messages",
            base + [("group_by[]", g) for g in ("model", "workspace_id", "api_key_id")],
            headers,
        )
    )
    _has_all({r["model"] for r in usage})
    _has_all({r["workspace_id"] for r in usage if r["workspace_id"]}, "wrkspc_01")
    _has_all({r["api_key_id"] for r in usage if r["api_key_id"]}, "apikey_01")
    costs = rows(
        await all_pages(
            session,
            hostile.anthropic_base_url + "/v1/organizations/cost_report",
            [*base, ("group_by[]", "description")],
            headers,
        )
    )
    _has_all({r["model"] for r in costs if r["model"]})
    assert any(r["description"].startswith("<script>") for r in costs)
    cents = sum(Decimal(r["amount"]) for r in costs)
    assert hostile.truth("anthropic", START, NOW)["total"].cost_usd == cents / 100


async def test_litellm_serves_hostile_users_teams_aliases_and_models_exactly(
    hostile: Simulator, session: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": f"Bearer {hostile.litellm.master_key}"}
    served: list[dict[str, Any]] = []
    page = 1
    while True:
        status, _, body = await get(
            session,
            hostile.litellm_base_url + "/spend/logs/v2",
            [
                ("start_date", "2026-03-10 00:00:00"),
                ("end_date", "2026-03-11 00:00:00"),
                ("page_size", 100),
                ("page", page),
            ],
            headers,
        )
        assert status == 200
        answer = parse(body)
        served.extend(answer["data"])
        if page >= answer["total_pages"]:
            break
        page += 1
    _has_all({r["user"] for r in served})
    _has_all({r["team_id"] for r in served if r["team_id"]})
    _has_all({r["metadata"]["user_api_key_alias"] for r in served})
    _has_all({r["model"] for r in served})
    # Truth counts the hostile callers' rows: [start, end) of whole seconds.
    start = datetime(2026, 3, 10, tzinfo=UTC)
    end = datetime(2026, 3, 11, tzinfo=UTC)
    inside = [r for r in served if datetime.fromisoformat(r["startTime"]) < end]
    truth = hostile.litellm.truth(start, end, NOW)
    assert truth["spend"] == sum((r["spend"] for r in inside), Decimal(0))


async def test_openrouter_serves_hostile_model_and_provider_names(
    hostile: Simulator, session: aiohttp.ClientSession
) -> None:
    status, _, body = await get(
        session,
        hostile.openrouter_base_url + "/activity",
        [],
        {"Authorization": f"Bearer {hostile.openrouter.management_key}"},
    )
    assert status == 200
    served = parse(body)["data"]
    _has_all({r["model"] for r in served})
    _has_all({r["provider_name"] for r in served})


async def test_hostile_names_are_deterministic_per_seed_and_off_by_default(
    session: aiohttp.ClientSession,
) -> None:
    infos = []
    for seed, hostile in ((3, True), (3, True), (4, True), (3, False)):
        options = SimulatorOptions(seed=seed, now=NOW, hostile_names=hostile)
        async with run_simulator(options) as sim, session.get(sim.base_url + "/_sim/info") as r:
            infos.append(await r.json())
    first, again, other_seed, plain = (i["openai"]["user_ids"] for i in infos)
    assert first == again
    assert _long(set(first)) != _long(set(other_seed))
    assert not any(name in user for user in plain for name in EXPECTED)
    assert not _long(set(plain))
