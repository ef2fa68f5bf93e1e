"""Injected faults: each one works, is deterministic, and is counted in /_sim/stats."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from costpipe.simulator import FaultOptions, Simulator, SimulatorOptions, run_simulator
from tests.simulator.client import get, parse
from tests.simulator.conftest import NOW

COSTS = "/organization/costs"
START = [("start_time", int(NOW.timestamp()) - 10 * 86400), ("limit", 2)]
ANTHROPIC_START = [("starting_at", "2026-03-01T00:00:00Z"), ("limit", 2)]


@pytest.fixture
async def faulty(request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
    async with run_simulator(SimulatorOptions(seed=7, now=NOW, faults=request.param)) as simulator:
        yield simulator


def _openai(sim: Simulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.openai_admin_key}"}


def _anthropic(sim: Simulator) -> dict[str, str]:
    return {"x-api-key": sim.anthropic_admin_key, "anthropic-version": "2023-06-01"}


@pytest.mark.parametrize("faulty", [FaultOptions(rate_429=1.0, retry_after_s=2)], indirect=True)
async def test_rate_429_answers_429_with_retry_after(
    faulty: Simulator, session: aiohttp.ClientSession
) -> None:
    status, headers, body = await get(
        session, faulty.openai_base_url + COSTS, START, _openai(faulty)
    )
    assert status == 429
    assert headers["Retry-After"] == "2"
    assert parse(body)["error"]["code"] == "rate_limit_exceeded"
    status, headers, body = await get(
        session,
        faulty.anthropic_base_url + "/v1/organizations/cost_report",
        ANTHROPIC_START,
        _anthropic(faulty),
    )
    assert status == 429
    assert headers["retry-after"] == "2"
    assert parse(body)["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize("faulty", [FaultOptions(rate_5xx=1.0)], indirect=True)
async def test_rate_5xx_answers_server_errors(
    faulty: Simulator, session: aiohttp.ClientSession
) -> None:
    openai = {
        (await get(session, faulty.openai_base_url + COSTS, START, _openai(faulty)))[0]
        for _ in range(12)
    }
    anthropic = {
        (
            await get(
                session,
                faulty.anthropic_base_url + "/v1/organizations/cost_report",
                ANTHROPIC_START,
                _anthropic(faulty),
            )
        )[0]
        for _ in range(12)
    }
    assert openai <= {500, 503}
    assert openai
    assert anthropic <= {500, 529}
    assert anthropic


async def test_partial_fault_rates_are_reproducible_per_seed(
    session: aiohttp.ClientSession,
) -> None:
    async def statuses(seed: int) -> list[int]:
        options = SimulatorOptions(
            seed=seed, now=NOW, faults=FaultOptions(rate_429=0.3, rate_5xx=0.2)
        )
        async with run_simulator(options) as sim:
            return [
                (await get(session, sim.openai_base_url + COSTS, START, _openai(sim)))[0]
                for _ in range(30)
            ]

    first, again, other = await statuses(1), await statuses(1), await statuses(2)
    assert first == again
    assert {200, 429} <= set(first)
    assert first != other


@pytest.mark.parametrize("faulty", [FaultOptions(malformed_page=2)], indirect=True)
async def test_malformed_page_breaks_that_page_once_with_invalid_json(
    faulty: Simulator, session: aiohttp.ClientSession
) -> None:
    _, _, first = await get(session, faulty.openai_base_url + COSTS, START, _openai(faulty))
    cursor = parse(first)["next_page"]
    status, _, broken = await get(
        session, faulty.openai_base_url + COSTS, [*START, ("page", cursor)], _openai(faulty)
    )
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        parse(broken)
    _, _, retried = await get(
        session, faulty.openai_base_url + COSTS, [*START, ("page", cursor)], _openai(faulty)
    )
    assert isinstance(parse(retried)["data"], list)


@pytest.mark.parametrize(
    "faulty", [FaultOptions(malformed_page=1, malformed_kind="shape")], indirect=True
)
async def test_malformed_page_of_wrong_shape(
    faulty: Simulator, session: aiohttp.ClientSession
) -> None:
    status, _, body = await get(
        session,
        faulty.anthropic_base_url + "/v1/organizations/cost_report",
        ANTHROPIC_START,
        _anthropic(faulty),
    )
    assert status == 200
    page = parse(body)
    assert not isinstance(page["data"], list)
    assert not isinstance(page["has_more"], bool)


@pytest.mark.parametrize("faulty", [FaultOptions(server_error_request=2)], indirect=True)
async def test_server_error_request_fails_exactly_the_nth_request_once(
    faulty: Simulator, session: aiohttp.ClientSession
) -> None:
    statuses = []
    for _ in range(4):
        status, _, _ = await get(session, faulty.openai_base_url + COSTS, START, _openai(faulty))
        statuses.append(status)
    assert [200, statuses[1], 200, 200] == statuses
    assert statuses[1] >= 500


@pytest.mark.parametrize("faulty", [FaultOptions(revoke_key=2)], indirect=True)
async def test_revoke_key_turns_a_valid_key_into_401_after_n_requests(
    faulty: Simulator, session: aiohttp.ClientSession
) -> None:
    openai = [
        (await get(session, faulty.openai_base_url + COSTS, START, _openai(faulty)))[0]
        for _ in range(4)
    ]
    assert openai == [200, 200, 401, 401]
    # Counted per provider: Anthropic's key still has its two requests.
    anthropic = [
        (
            await get(
                session,
                faulty.anthropic_base_url + "/v1/organizations/cost_report",
                ANTHROPIC_START,
                _anthropic(faulty),
            )
        )[0]
        for _ in range(3)
    ]
    assert anthropic == [200, 200, 401]


@pytest.mark.parametrize("faulty", [FaultOptions(slow_ms=300, slow_rate=1.0)], indirect=True)
async def test_slow_requests_outlast_a_short_client_timeout(
    faulty: Simulator, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(asyncio.TimeoutError):
        async with session.get(
            faulty.openai_base_url + COSTS,
            params=[(k, str(v)) for k, v in START],
            headers=_openai(faulty),
            timeout=aiohttp.ClientTimeout(total=0.05),
        ):
            pass


@pytest.mark.parametrize("faulty", [FaultOptions(latency_ms=300)], indirect=True)
async def test_latency_delays_every_request(
    faulty: Simulator, session: aiohttp.ClientSession
) -> None:
    for _ in range(2):
        with pytest.raises(asyncio.TimeoutError):
            async with session.get(
                faulty.anthropic_base_url + "/v1/organizations/cost_report",
                params=ANTHROPIC_START,
                headers=_anthropic(faulty),
                timeout=aiohttp.ClientTimeout(total=0.05),
            ):
                pass


async def test_faults_are_set_at_runtime_and_validated(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    async with session.post(sim.base_url + "/_sim/faults", json={"rate_429": 1.0}) as response:
        assert response.status == 200
        assert (await response.json())["rate_429"] == 1.0
    status, _, _ = await get(session, sim.openai_base_url + COSTS, START, _openai(sim))
    assert status == 429
    for bad in ({"rate_429": 2}, {"nope": 1}, {"slow_ms": True}, [1]):
        async with session.post(sim.base_url + "/_sim/faults", json=bad) as response:
            assert response.status == 400
    status, _, body = await get(session, sim.base_url + "/_sim/faults", [], {})
    assert parse(body)["rate_429"] == 1
    sim.set_faults(rate_429=0.0)
    status, _, _ = await get(session, sim.openai_base_url + COSTS, START, _openai(sim))
    assert status == 200


async def test_stats_count_requests_per_endpoint_and_status(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    await get(session, sim.openai_base_url + COSTS, START, _openai(sim))
    await get(session, sim.openai_base_url + COSTS, START, _openai(sim))
    await get(session, sim.openai_base_url + COSTS, START, {})
    await get(
        session,
        sim.anthropic_base_url + "/v1/organizations/cost_report",
        ANTHROPIC_START,
        _anthropic(sim),
    )
    status, _, body = await get(session, sim.base_url + "/_sim/stats", [], {})
    assert status == 200
    stats = parse(body)
    assert stats["by_endpoint"]["/v1/organization/costs"] == {"200": 2, "401": 1}
    assert stats["by_endpoint"]["/v1/organizations/cost_report"] == {"200": 1}
    assert stats == {**stats, "total": sum(sum(v.values()) for v in stats["by_endpoint"].values())}
