"""OpenRouter ``/api/v1/activity`` workspaces as OpenRouter's OpenAPI spec has them
(OpenRouterTeam/typescript-sdk commit cb9393a8, ``.speakeasy/in.openapi.yaml``:
operation ``getUserActivity`` at line 26536, ``ActivityItem.workspace_id`` at
line 97): rows are summed across workspaces and carry no ``workspace_id`` unless
``group_by=workspace`` is passed."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from costpipe.simulator import Simulator
from costpipe.simulator.openrouter_api import WORKSPACES
from tests.simulator.client import get, parse


@pytest.fixture
def headers(sim: Simulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.openrouter.management_key}"}


async def activity(
    sim: Simulator,
    session: aiohttp.ClientSession,
    headers: dict[str, str],
    params: list[tuple[str, str | int]],
) -> tuple[int, Any]:
    status, _, body = await get(session, sim.openrouter_base_url + "/activity", params, headers)
    return status, parse(body)


async def test_workspace_id_only_with_group_by_workspace(
    sim: Simulator, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    """Without ``group_by`` no row has ``workspace_id``; with it every row does, and
    the split rows add up exactly to the summed ones."""
    status, plain = await activity(sim, session, headers, [])
    assert status == 200
    assert all("workspace_id" not in row for row in plain["data"])
    status, split = await activity(sim, session, headers, [("group_by", "workspace")])
    assert status == 200
    assert {row["workspace_id"] for row in split["data"]} == set(WORKSPACES)
    assert len(split["data"]) > len(plain["data"])
    summed: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in split["data"]:
        total = summed[row["date"], row["endpoint_id"]]
        total[0] += row["usage"]
        total[1] += row["requests"]
    assert summed == {
        (row["date"], row["endpoint_id"]): [row["usage"], row["requests"]] for row in plain["data"]
    }


async def test_workspace_filter_and_group_by_values(
    sim: Simulator, session: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    """``workspace_id`` keeps one workspace's share (no field without ``group_by``);
    ``group_by`` has one value, an unknown workspace is refused."""
    workspace = WORKSPACES[2]
    _, alone = await activity(sim, session, headers, [("workspace_id", workspace)])
    _, named = await activity(
        sim, session, headers, [("workspace_id", workspace), ("group_by", "workspace")]
    )
    assert all("workspace_id" not in row for row in alone["data"])
    assert {row["workspace_id"] for row in named["data"]} == {workspace}
    assert [row["usage"] for row in alone["data"]] == [row["usage"] for row in named["data"]]
    status, _ = await activity(sim, session, headers, [("group_by", "model")])
    assert status == 400
    status, _ = await activity(sim, session, headers, [("workspace_id", "nope")])
    assert status == 400
