"""Authentication and required headers of both providers."""

from __future__ import annotations

import aiohttp

from costpipe.simulator import FaultOptions, Simulator, SimulatorOptions, run_simulator
from tests.simulator.client import get, parse
from tests.simulator.conftest import NOW

OPENAI_COSTS = "/organization/costs"
ANTHROPIC_COST = "/v1/organizations/cost_report"
START = [("start_time", 1773000000)]
STARTING = [("starting_at", "2026-03-08T00:00:00Z")]


async def test_openai_unknown_key_is_401_invalid_api_key(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    status, _, body = await get(
        session,
        sim.openai_base_url + OPENAI_COSTS,
        START,
        {"Authorization": "Bearer sk-admin-wrongwrongwrong"},
    )
    assert status == 401
    error = parse(body)["error"]
    assert error["code"] == "invalid_api_key"
    assert error["type"] == "invalid_request_error"
    assert "sk-admin-wrongwrongwrong" not in error["message"]  # keys are masked


async def test_openai_missing_key_is_401(sim: Simulator, session: aiohttp.ClientSession) -> None:
    status, _, body = await get(session, sim.openai_base_url + OPENAI_COSTS, START, {})
    assert status == 401
    assert "API key" in parse(body)["error"]["message"]


async def test_openai_project_key_is_403_missing_scope(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    status, _, body = await get(
        session,
        sim.openai_base_url + "/organization/usage/completions",
        START,
        {"Authorization": f"Bearer {sim.openai_project_key}"},
    )
    assert status == 403
    assert "Missing scopes: api.usage.read" in parse(body)["error"]["message"]
    assert sim.openai_project_key.startswith("sk-proj-")


async def test_anthropic_unknown_key_is_401_authentication_error(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    status, headers, body = await get(
        session,
        sim.anthropic_base_url + ANTHROPIC_COST,
        STARTING,
        {"x-api-key": "sk-ant-admin01-nope", "anthropic-version": "2023-06-01"},
    )
    assert status == 401
    error = parse(body)
    assert error["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}
    assert error["request_id"] == headers["request-id"]


async def test_anthropic_workspace_key_is_403(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    status, _, body = await get(
        session,
        sim.anthropic_base_url + ANTHROPIC_COST,
        STARTING,
        {"x-api-key": sim.anthropic_api_key, "anthropic-version": "2023-06-01"},
    )
    assert status == 403
    assert parse(body)["error"]["type"] == "permission_error"


async def test_anthropic_version_header_is_required(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    status, headers, body = await get(
        session,
        sim.anthropic_base_url + ANTHROPIC_COST,
        STARTING,
        {"x-api-key": sim.anthropic_admin_key},
    )
    assert status == 400
    assert "anthropic-version" in parse(body)["error"]["message"]
    assert headers["request-id"].startswith("req_")


async def test_key_formats(sim: Simulator) -> None:
    assert sim.openai_admin_key.startswith("sk-admin-")
    assert sim.anthropic_admin_key.startswith("sk-ant-admin01-")


async def test_configured_admin_keys_are_the_accepted_ones(session: aiohttp.ClientSession) -> None:
    options = SimulatorOptions(
        openai_admin_keys=("sk-admin-mine",), anthropic_admin_keys=("sk-ant-admin01-mine",)
    )
    async with run_simulator(options) as sim:
        assert sim.openai_admin_key == "sk-admin-mine"
        status, _, _ = await get(
            session,
            sim.openai_base_url + OPENAI_COSTS,
            START,
            {"Authorization": "Bearer sk-admin-mine"},
        )
        assert status == 200
        status, _, _ = await get(
            session,
            sim.anthropic_base_url + ANTHROPIC_COST,
            STARTING,
            {"x-api-key": "sk-ant-admin01-mine", "anthropic-version": "2023-06-01"},
        )
        assert status == 200


async def test_checks_run_in_the_documented_order(session: aiohttp.ClientSession) -> None:
    """Authentication before injected failures (a wrong key is 401 even when
    every request is rate limited), Anthropic's version header after the key
    and before them, the redirect before everything."""
    async with run_simulator(
        SimulatorOptions(seed=7, now=NOW, faults=FaultOptions(rate_429=1.0))
    ) as sim:
        costs = sim.openai_base_url + "/organization/costs"
        report = sim.anthropic_base_url + "/v1/organizations/cost_report"
        wrong = {"Authorization": "Bearer sk-admin-wrongwrongwrong"}
        status, _, _ = await get(session, costs, [("start_time", 0)], wrong)
        assert status == 401
        admin = {"Authorization": f"Bearer {sim.openai_admin_key}"}
        status, _, _ = await get(session, costs, [("start_time", "x")], admin)
        assert status == 429  # the rate limit comes before parameter validation
        no_version = {"x-api-key": sim.anthropic_admin_key}
        status, _, body = await get(session, report, [], no_version)
        assert status == 400
        assert "anthropic-version" in parse(body)["error"]["message"]
        sim.set_faults(redirect_to="http://attacker.invalid/")
        async with session.get(costs, allow_redirects=False) as response:
            assert response.status == 302
