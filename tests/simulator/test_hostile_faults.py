"""A hostile provider: redirects, endless pages, oversized pages and gzip bombs.

Real HTTP to the simulator. Faults are switched on through ``POST /_sim/faults``
as a test harness (or another helper's test) would, so the control path is
tested too. Memory is measured with tracemalloc while the simulator, which runs
in this process, sends the large bodies: it must not hold them.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from costpipe.simulator import Simulator
from tests.simulator.client import parse
from tests.simulator.conftest import NOW

DAY = 86400
START = int(NOW.timestamp()) - 10 * DAY
HOUR_START = "2026-03-10 00:00:00"
HOUR_END = "2026-03-11 00:00:00"


def _requests(sim: Simulator) -> dict[str, tuple[str, list[tuple[str, str]], dict[str, str]]]:
    """One data request per vendor: (url, params, headers)."""
    return {
        "openai": (
            sim.openai_base_url + "/organization/usage/completions",
            [("start_time", str(START)), ("bucket_width", "1d"), ("limit", "3")],
            {"Authorization": f"Bearer {sim.openai_admin_key}"},
        ),
        "anthropic": (
            sim.anthropic_base_url + "/v1/organizations/usage_report/messages",
            [("starting_at", "2026-03-01T00:00:00Z"), ("limit", "3")],
            {"x-api-key": sim.anthropic_admin_key, "anthropic-version": "2023-06-01"},
        ),
        "litellm": (
            sim.litellm_base_url + "/spend/logs/v2",
            [("start_date", HOUR_START), ("end_date", HOUR_END), ("page_size", "5")],
            {"Authorization": f"Bearer {sim.litellm.master_key}"},
        ),
        "openrouter": (
            sim.openrouter_base_url + "/activity",
            [],
            {"Authorization": f"Bearer {sim.openrouter.management_key}"},
        ),
    }


async def _set_faults(
    session: aiohttp.ClientSession, sim: Simulator, **faults: object
) -> dict[str, Any]:
    async with session.post(sim.base_url + "/_sim/faults", json=faults) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


@pytest.fixture
async def raw_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that neither follows redirects nor inflates bodies by itself."""
    async with aiohttp.ClientSession(auto_decompress=False) as client:
        yield client


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "litellm", "openrouter"])
async def test_redirect_answers_every_provider_request_302_even_without_a_key(
    sim: Simulator, raw_session: aiohttp.ClientSession, vendor: str
) -> None:
    target = "http://169.254.169.254/latest/meta-data/"
    assert (await _set_faults(raw_session, sim, redirect_to=target))["redirect_to"] == target
    url, params, headers = _requests(sim)[vendor]
    for sent in (headers, {}):
        async with raw_session.get(
            url, params=params, headers=sent, allow_redirects=False
        ) as response:
            assert response.status == 302
            assert response.headers["Location"] == target
    # The control API is never redirected, and the fault can be cleared.
    await _set_faults(raw_session, sim, redirect_to=None)
    async with raw_session.get(url, params=params, headers=headers) as response:
        assert response.status == 200
    assert sim.stats()["by_endpoint"][url.removeprefix(sim.base_url)]["302"] == 2  # type: ignore[index]


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "litellm"])
async def test_endless_pages_claim_more_forever_with_fresh_cursors(
    sim: Simulator, session: aiohttp.ClientSession, vendor: str
) -> None:
    await _set_faults(session, sim, endless_pages=True)
    url, params, headers = _requests(sim)[vendor]
    cursors: set[str] = set()
    cursor = ""
    page_number = 1
    for _ in range(60):
        query = list(params)
        if vendor == "litellm":
            query.append(("page", str(page_number)))
        elif cursor:
            query.append(("page", cursor))
        async with session.get(url, params=query, headers=headers) as response:
            assert response.status == 200
            page = parse(await response.read())
        assert page["data"] == []
        if vendor == "litellm":
            assert page["total_pages"] > page["page"] == page_number
            page_number += 1
            cursor = str(page_number)
        else:
            assert page["has_more"] is True
            cursor = page["next_page"]
            assert isinstance(cursor, str)
            assert cursor.startswith("page_")
        assert cursor not in cursors
        cursors.add(cursor)
    assert len(cursors) == 60
    await _set_faults(session, sim, endless_pages=False)
    async with session.get(url, params=params, headers=headers) as response:
        assert parse(await response.read())["data"] != []


async def _read_counting(response: aiohttp.ClientResponse) -> tuple[bytes, int]:
    """The first 64 KiB of a body and its total length, read incrementally."""
    head = b""
    total = 0
    async for chunk in response.content.iter_chunked(1 << 16):
        if len(head) < 1 << 16:
            head += chunk[: (1 << 16) - len(head)]
        total += len(chunk)
    return head, total


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "litellm", "openrouter"])
async def test_an_oversized_page_is_the_real_page_padded_to_the_size(
    sim: Simulator, raw_session: aiohttp.ClientSession, vendor: str
) -> None:
    url, params, headers = _requests(sim)[vendor]
    async with raw_session.get(url, params=params, headers=headers) as response:
        plain = await response.read()
    size = 3 * 1024 * 1024 + 17
    await _set_faults(raw_session, sim, oversized_page_bytes=size)
    async with raw_session.get(url, params=params, headers=headers) as response:
        assert response.status == 200
        assert "Content-Length" not in response.headers  # chunked: no size to refuse early
        body = await response.read()
    assert len(body) == size
    assert body.startswith(plain)
    assert json.loads(body) == json.loads(plain)


async def test_the_simulator_streams_an_oversized_page_without_holding_it(
    sim: Simulator, raw_session: aiohttp.ClientSession
) -> None:
    url, params, headers = _requests(sim)["openai"]
    size = 256 * 1024 * 1024
    await _set_faults(raw_session, sim, oversized_page_bytes=size)
    tracemalloc.start()
    try:
        async with raw_session.get(url, params=params, headers=headers) as response:
            _, total = await _read_counting(response)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 16 * 1024 * 1024, f"peak {peak} bytes while sending {size}"


def _inflate(compressed: list[bytes], keep: int) -> tuple[bytes, int]:
    """Inflate gzip data incrementally (never more than 1 MiB at a time); return
    the first *keep* bytes and the inflated length."""
    inflater = zlib.decompressobj(wbits=31)
    head = b""
    total = 0
    for chunk in compressed:
        data = chunk
        while data:
            out = inflater.decompress(data, 1 << 20)
            total += len(out)
            if len(head) < keep:
                head += out[: keep - len(head)]
            data = inflater.unconsumed_tail
    out = inflater.flush()
    total += len(out)
    assert inflater.eof, "the gzip stream is not complete"
    assert not inflater.unused_data
    return head, total


@pytest.mark.parametrize("vendor", ["openai", "anthropic", "litellm", "openrouter"])
async def test_a_gzip_bomb_is_small_on_the_wire_and_inflates_to_the_size(
    sim: Simulator, raw_session: aiohttp.ClientSession, vendor: str
) -> None:
    url, params, headers = _requests(sim)[vendor]
    async with raw_session.get(url, params=params, headers=headers) as response:
        plain = await response.read()
    size = 64 * 1024 * 1024 + 5
    await _set_faults(raw_session, sim, gzip_bomb_bytes=size)
    tracemalloc.start()
    try:
        async with raw_session.get(url, params=params, headers=headers) as response:
            assert response.status == 200
            assert response.headers["Content-Encoding"] == "gzip"
            assert response.headers["Content-Type"].startswith("application/json")
            raw = [chunk async for chunk in response.content.iter_chunked(1 << 16)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    wire = sum(len(chunk) for chunk in raw)
    assert wire < size // 500, f"{wire} compressed bytes for {size}"
    assert peak < 16 * 1024 * 1024
    head, inflated = _inflate(raw, len(plain) + 10)
    assert inflated == size
    assert head == plain + b" " * 10  # the real page, then JSON whitespace


async def test_hostile_faults_are_validated_at_the_control_api(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    for bad in (
        {"gzip_bomb_bytes": 0},
        {"oversized_page_bytes": "big"},
        {"endless_pages": 1},
        {"redirect_to": 5},
        {"redirect_to": " "},
    ):
        async with session.post(sim.base_url + "/_sim/faults", json=bad) as response:
            assert response.status == 400, bad
    async with session.get(sim.base_url + "/_sim/faults") as response:
        shown = await response.json()
    assert (
        shown["redirect_to"],
        shown["endless_pages"],
        shown["oversized_page_bytes"],
        shown["gzip_bomb_bytes"],
    ) == (None, False, None, None)


@pytest.mark.parametrize("size", [1, 5000, (1 << 20) + 1, 3 << 20])
async def test_gzip_bombs_of_any_size_are_valid_gzip_of_the_page(
    sim: Simulator, raw_session: aiohttp.ClientSession, size: int
) -> None:
    """Smaller than the page (the page alone), within one block, just over a
    block, whole blocks: each is one valid gzip member (checked by the
    standard library, CRC and length included)."""
    url, params, headers = _requests(sim)["openai"]
    async with raw_session.get(url, params=params, headers=headers) as response:
        plain = await response.read()
    await _set_faults(raw_session, sim, gzip_bomb_bytes=size)
    async with raw_session.get(url, params=params, headers=headers) as response:
        raw = await response.read()
    inflated = gzip.decompress(raw)
    assert len(inflated) == max(size, len(plain))
    assert inflated.rstrip(b" ") == plain
