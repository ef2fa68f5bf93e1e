"""A page that breaks its schema is set aside with the JSON path of the bad
field, through the real HTTP client, and the rest of the window is kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp import web
from pydantic import SecretStr
from structlog.testing import capture_logs

from costpipe.components import ComponentContext
from costpipe.providers.litellm import LiteLLMConfig, LiteLLMProvider
from costpipe.providers.openrouter import OpenRouterConfig, OpenRouterProvider
from costpipe.records import Window
from costpipe.testing.provider_contract import collect

NOW = datetime(2026, 3, 11, 15, 30, tzinfo=UTC)
Handler = Callable[[web.Request], web.Response]


@pytest.fixture
async def server() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        async def handle(request: web.Request) -> web.Response:
            return handler(request)

        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


def context(tmp_path: Path, name: str) -> ComponentContext:
    return ComponentContext(
        instance=name, state_dir=tmp_path / name, request_slots=asyncio.Semaphore(2)
    )


def spend_row(request_id: str, start: str, spend: str) -> str:
    return (
        f'{{"request_id": "{request_id}", "startTime": "{start}", "spend": {spend}, '
        '"prompt_tokens": 3, "completion_tokens": 4, "model": "gpt-4o", "user": "bob"}'
    )


def proxy_answer(rows: list[tuple[str, str]], request: web.Request, cap: int) -> web.Response:
    """The proxy's paging over *rows* ((startTime, row JSON)): the inclusive date
    range, newest first, OFFSET pages, and a count that stops at *cap* (10,000 in
    the proxy) with ``total_is_capped``."""
    query = request.query
    lo = query["start_date"].replace(" ", "T") + "Z"
    hi = query["end_date"].replace(" ", "T") + "Z"
    size, page = int(query["page_size"]), int(query["page"])
    inside = sorted((r for r in rows if lo <= r[0] <= hi), reverse=True)
    served = [text for _, text in inside[(page - 1) * size : page * size]]
    total = min(len(inside), cap)
    body = '{"data": [' + ", ".join(served) + f'], "total": {total}, '
    body += (
        f'"total_pages": {-(-total // size)}, "total_is_capped": {str(len(inside) > cap).lower()}}}'
    )
    return web.Response(body=body.encode(), content_type="application/json")


async def test_litellm_bad_row_sets_its_piece_aside_and_keeps_the_next(
    server: Callable[[Handler], Awaitable[str]], tmp_path: Path
) -> None:
    """Pieces of one hour, 2-row pages: the second-newest row of the 09:00 piece
    has a NaN spend; the 10:00 piece is still read, with 0.10 + 0.20 exact."""
    moments = ["09:10:00", "09:20:00", "09:40:00", "10:10:00", "10:20:00"]
    spends = ["0.5", '"NaN"', "0.25", "0.10", "0.20"]
    rows = [
        (f"2026-03-10T{at}Z", spend_row(f"r{n}", f"2026-03-10T{at}Z", spend))
        for n, (at, spend) in enumerate(zip(moments, spends, strict=True))
    ]
    base = await server(lambda request: proxy_answer(rows, request, cap=10_000))
    provider = LiteLLMProvider(
        LiteLLMConfig(api_key=SecretStr("sk-master"), base_url=base, page_size=2, chunk_hours=1),
        context(tmp_path, "litellm.t"),
        clock=lambda: NOW,
    )
    await provider.start()
    try:
        with capture_logs() as logs:
            records = await collect(
                provider,
                Window(datetime(2026, 3, 10, 9, tzinfo=UTC), datetime(2026, 3, 10, 11, tzinfo=UTC)),
            )
    finally:
        await provider.close()
    assert [(r.start.hour, r.cost_usd, r.requests) for r in records] == [(10, Decimal("0.30"), 2)]
    [aside] = [e for e in logs if e["event"] == "page_set_aside"]
    assert aside["reason"] == "$.data[1].spend: amount 'NaN' is not finite"
    assert "start_date=2026-03-10+09" in aside["url"]
    assert provider.pages_set_aside == 1


async def test_openrouter_bad_activity_is_set_aside_with_its_path(
    server: Callable[[Handler], Awaitable[str]], tmp_path: Path
) -> None:
    served: list[str] = []

    def answer(request: web.Request) -> web.Response:
        served.append(request.path)
        if request.path.endswith("/credits"):
            body = {"data": {"total_credits": 10, "total_usage": 1}}
            return web.json_response(body)
        rows = '[{"date": "2026-03-09", "model": "m", "usage": 0.1, "requests": 5.0}]'
        return web.Response(body=f'{{"data": {rows}}}'.encode(), content_type="application/json")

    base = await server(answer)
    provider = OpenRouterProvider(
        OpenRouterConfig(api_key=SecretStr("sk-or-v1-m"), base_url=base + "/api/v1"),
        context(tmp_path, "openrouter.t"),
        clock=lambda: NOW,
    )
    await provider.start()
    try:
        with capture_logs() as logs:
            window = Window(NOW - timedelta(days=3), NOW)
            assert await collect(provider, window) == []
    finally:
        await provider.close()
    [aside] = [e for e in logs if e["event"] == "page_set_aside"]
    assert aside["reason"] == "$.data[0].requests: expected `int | null`, got `float`"
    assert served == ["/api/v1/activity"]  # credits are not read after a set-aside page
    assert aside["url"].endswith("/api/v1/activity?group_by=workspace")


async def test_litellm_slices_past_a_capped_count(
    server: Callable[[Handler], Awaitable[str]], tmp_path: Path
) -> None:
    """A proxy whose count stops at 2 rows (10,000 in LiteLLM) and says
    ``total_is_capped``, with ``total_pages`` from the capped count: the walk
    does not trust it, slices the hour until each slice fits in one 2-row page,
    and counts all 5 rows, $0.05 exact."""
    rows = [
        (f"2026-03-10T09:{n:02d}:00Z", spend_row(f"r{n}", f"2026-03-10T09:{n:02d}:00Z", "0.01"))
        for n in range(5)
    ]
    base = await server(lambda request: proxy_answer(rows, request, cap=2))
    provider = LiteLLMProvider(
        LiteLLMConfig(api_key=SecretStr("sk-master"), base_url=base, page_size=2),
        context(tmp_path, "litellm.capped"),
        clock=lambda: NOW,
    )
    await provider.start()
    try:
        window = Window(datetime(2026, 3, 10, 9, tzinfo=UTC), datetime(2026, 3, 10, 10, tzinfo=UTC))
        records = await collect(provider, window)
    finally:
        await provider.close()
    assert sum(r.requests for r in records) == 5
    assert sum((r.cost_usd for r in records), Decimal(0)) == Decimal("0.05")
    assert provider.duplicates_skipped == 0
