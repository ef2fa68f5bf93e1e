"""Spikes through the control API: one user's usage multiplied, the ground truth with it."""

from __future__ import annotations

import aiohttp

from costpipe.simulator import Simulator
from tests.simulator.conftest import DAY0

DAY1 = DAY0.replace(day=DAY0.day + 1)


async def truth(session: aiohttp.ClientSession, sim: Simulator) -> dict[str, dict[str, str]]:
    params = {"provider": "openai", "start": DAY0.isoformat(), "end": DAY1.isoformat()}
    async with session.get(f"{sim.base_url}/_sim/truth", params={**params, "by": "user"}) as r:
        assert r.status == 200
        totals: dict[str, dict[str, str]] = (await r.json())["totals"]
        return totals


async def test_a_user_spike_multiplies_that_users_tokens_and_leaves_the_others(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    user = sim.openai.org.user_ids[0]
    before = await truth(session, sim)
    spike = {
        "dimension": "user_id",
        "value": user,
        "factor": 8,
        "start": DAY0.isoformat(),
        "end": DAY1.isoformat(),
        "provider": "openai",
    }
    async with session.post(f"{sim.base_url}/_sim/spikes", json=spike) as r:
        assert r.status == 200
        assert [user] == [s["value"] for s in (await r.json())["spikes"]]
    after = await truth(session, sim)
    # The user's chat and embedding bursts are multiplied (the other usage
    # endpoints' units are not bursts and stay as they were).
    lo, hi = int(DAY0.timestamp()), int(DAY1.timestamp())
    bursts = [
        b
        for b in sim.openai.activity.bursts(lo, hi, sim.now())
        if sim.openai.streams[b.stream].user_id == user
    ]
    assert bursts
    for field, attribute in (("output", "output"), ("requests", "requests")):
        added = int(after[user][field]) - int(before[user][field])
        assert 7 * sum(getattr(b, attribute) for b in bursts) == added
    for other in set(before) - {user}:
        assert before[other] == after[other]
    async with session.delete(f"{sim.base_url}/_sim/spikes") as r:
        assert {"spikes": []} == await r.json()
    assert before == await truth(session, sim)


async def test_a_spike_on_an_unknown_dimension_is_refused(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    bad = {"dimension": "team", "value": "x", "factor": 2, "start": 0, "end": 10}
    async with session.post(f"{sim.base_url}/_sim/spikes", json=bad) as r:
        assert r.status == 400
        assert "dimension must be one of" in (await r.json())["error"]
    async with session.get(f"{sim.base_url}/_sim/spikes") as r:
        assert {"spikes": []} == await r.json()
