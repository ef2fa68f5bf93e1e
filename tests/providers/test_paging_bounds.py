"""A provider that never stops paging fails its pass within bounds (issue 13.3).

The fake answers ``has_more: true`` with a fresh cursor and no data on every
page, as the hostile proxy of the security review did. Time is a FakeClock that
the server moves on by a minute per request: no test waits for real.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from costpipe.components import ComponentContext, Provider
from costpipe.providers.base import PagingLimitError
from costpipe.providers.litellm import LiteLLMConfig, LiteLLMProvider
from costpipe.providers.openai import OpenAIConfig, OpenAIProvider
from costpipe.records import Window
from costpipe.testing import collect
from tests.providers.fakes import FakeClock, Serve, json_response

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
DAY = Window(datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))


class EndlessPager:
    """Every request: an empty page that says there is more (OpenAI's envelope and
    LiteLLM's), each with a cursor never seen before."""

    def __init__(self, clock: FakeClock, minutes_per_request: float = 0) -> None:
        self.clock = clock
        self.minutes = minutes_per_request
        self.paths: list[str] = []
        self._cursor = count(1)

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            self.paths.append(request.path)
            self.clock.now += self.minutes * 60
            cursor = f"cursor-{next(self._cursor)}"
            return json_response(
                200,
                {
                    "object": "page",
                    "data": [],
                    "has_more": True,
                    "next_page": cursor,
                    "total_pages": 10**9,  # LiteLLM's way of saying "more"
                },
            )

        app = web.Application()
        app.router.add_get("/{tail:.*}", handle)
        return app


def openai(
    base: str, context: ComponentContext, clock: FakeClock, **options: Any
) -> OpenAIProvider:
    # These tests count requests one at a time; the lookahead of concurrent_requests
    # (one more request's first page in flight) is tested in test_request_lookahead.py.
    options.setdefault("concurrent_requests", 1)
    config = OpenAIConfig(api_key=SecretStr("sk-admin-good"), base_url=base + "/v1", **options)
    return OpenAIProvider(config, context, clock=lambda: NOW, timer=clock.timer())


async def fetch_all(provider: Provider[Any], window: Window = DAY) -> None:
    await provider.start()
    try:
        await collect(provider, window)
    finally:
        await provider.close()


async def test_endless_pages_stop_at_max_pages_and_fail_the_pass(
    serve: Serve, make_context: Callable[..., ComponentContext]
) -> None:
    clock = FakeClock()
    pager = EndlessPager(clock)
    provider = openai(await serve(pager.app()), make_context(), clock, max_pages=50)
    with pytest.raises(PagingLimitError) as caught:
        await fetch_all(provider)
    message = str(caught.value)
    assert "/v1/organization/costs still had more pages after 50 (max_pages)" in message
    assert message.startswith("openai.prod: http://127.0.0.1:")
    # Exactly the bound was requested, and the pass failed instead of setting pages aside.
    assert len(pager.paths) == 50
    assert provider.pages_set_aside == 0


async def test_endless_pages_stop_at_max_fetch_duration(
    serve: Serve, make_context: Callable[..., ComponentContext]
) -> None:
    clock = FakeClock()
    pager = EndlessPager(clock, minutes_per_request=1)
    provider = openai(
        await serve(pager.app()),
        make_context(),
        clock,
        max_fetch_duration=timedelta(minutes=10),
    )
    with pytest.raises(
        PagingLimitError, match=r"has taken 10m \(max_fetch_duration\) before page 11 of"
    ):
        await fetch_all(provider)
    # Ten requests took the ten minutes; the eleventh was never sent.
    assert len(pager.paths) == 10
    assert [] == clock.sleeps


async def test_litellm_walk_is_bounded_too(
    serve: Serve, make_context: Callable[..., ComponentContext]
) -> None:
    clock = FakeClock()
    pager = EndlessPager(clock)

    async def full_pages(request: web.Request) -> web.Response:
        # A full page (1000 rows, the default page_size) of one repeated row keeps the
        # walk slicing and paging (rows are de-duplicated).
        pager.paths.append(request.path)
        row = {"request_id": "r1", "startTime": "2026-11-18T10:00:00Z", "spend": 0}
        return json_response(200, {"data": [row] * 1000, "total_pages": 10**9})

    app = web.Application()
    app.router.add_get("/spend/logs/v2", full_pages)
    config = LiteLLMConfig(api_key=SecretStr("sk-master"), base_url=await serve(app), max_pages=20)
    provider = LiteLLMProvider(
        config, make_context("litellm.proxy"), clock=lambda: NOW, timer=clock.timer()
    )
    with pytest.raises(PagingLimitError, match="still had more pages after 20"):
        await fetch_all(provider)
    assert len(pager.paths) == 20


async def test_the_consumer_regains_control_after_every_page(
    serve: Serve, make_context: Callable[..., ComponentContext], tmp_path: Path
) -> None:
    """Pages without records still yield (an empty batch), so the core can honour a
    stop between any two pages instead of only when a page holds records."""
    clock = FakeClock()
    pager = EndlessPager(clock)
    provider = openai(await serve(pager.app()), make_context(), clock)
    await provider.start()
    try:
        batches = 0
        stream = provider.fetch(DAY)
        async for batch in stream:
            assert [] == list(batch)
            batches += 1
            if batches == 3:
                break  # what the pipeline does when its stop event is set
        await stream.aclose()  # type: ignore[attr-defined]
    finally:
        await provider.close()
    assert len(pager.paths) == 3
