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


async def test_litellm_bad_row_sets_its_piece_aside_and_keeps_the_next(
    server: Callable[[Handler], Awaitable[str]], tmp_path: Path
) -> None:
    """Pieces of one hour: the 09:00 piece's second page has a NaN spend; the
    10:00 piece is still read, with 0.10 + 0.20 exact."""

    def answer(request: web.Request) -> web.Response:
        hour = request.query["start_date"][11:13]
        page = int(request.query["page"])
        if hour == "09":
            rows = [spend_row("a", "2026-03-10T09:10:00Z", "0.5")]
            if page == 2:
                rows = [spend_row("b", "2026-03-10T09:20:00Z", '"NaN"')]
            body = '{"data": [' + ", ".join(rows) + '], "total_pages": 2}'
        else:
            rows = [
                spend_row("c", "2026-03-10T10:10:00Z", "0.10"),
                spend_row("d", "2026-03-10T10:20:00Z", "0.20"),
            ]
            body = '{"data": [' + ", ".join(rows) + '], "total_pages": 1}'
        return web.Response(body=body.encode(), content_type="application/json")

    base = await server(answer)
    provider = LiteLLMProvider(
        LiteLLMConfig(api_key=SecretStr("sk-master"), base_url=base, page_size=1, chunk_hours=1),
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
    assert aside["reason"] == "$.data[0].spend: amount 'NaN' is not finite"
    assert "page=2" in aside["url"]
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
    assert aside["url"].endswith("/api/v1/activity")


async def test_litellm_walks_past_a_capped_total_pages(
    server: Callable[[Handler], Awaitable[str]], tmp_path: Path
) -> None:
    """The proxy stops counting at 10,000 rows and says ``total_is_capped``:
    its ``total_pages`` is then a floor, and the walk goes on to a short page."""
    rows = [spend_row(f"r{n}", f"2026-03-10T09:{n:02d}:00Z", "0.01") for n in range(5)]

    def answer(request: web.Request) -> web.Response:
        page = int(request.query["page"])
        served = rows[(page - 1) * 2 : page * 2]
        body = '{"data": [' + ", ".join(served) + "]"
        body += ', "total": 2, "total_pages": 1, "total_is_capped": true}'
        return web.Response(body=body.encode(), content_type="application/json")

    base = await server(answer)
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
    assert provider.pages_fetched == 3
