"""``concurrent_requests``: the next requests of a plan are fetched while the
current page is decoded and handed on, pages still come in plan order, and the
bounds of the lookahead hold (a refused key, a malformed page, a stop).

Against the fake OpenAI server, which answers every request after ``delay``
seconds and counts the requests it is answering at once.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from costpipe.errors import AuthError
from costpipe.providers.openai import OpenAIProvider
from costpipe.providers.planning import DECODE_OFF_LOOP_BYTES, DecodedPage
from costpipe.providers.planning import _decoded as decoded
from costpipe.records import CostSource
from tests.providers.fakes import FakeOpenAI
from tests.providers.test_openai import (  # noqa: F401  (start_openai: the fixture)
    COMPLETIONS,
    COSTS,
    DAY,
    EMBEDDINGS,
    HOUR,
    T0,
    WEEK,
    Start,
    bucket,
    completion_row,
    cost_row,
    start_openai,
)

MINUTE = timedelta(minutes=1)


def fake_with_rows(delay: float = 0.05) -> FakeOpenAI:
    """One billed row, one completions row, one embeddings row (in plan order)."""
    embedding = {
        "object": "organization.usage.embeddings.result",
        "input_tokens": 100,
        "num_model_requests": 1,
        "model": "text-embedding-3-small",
    }
    fake = FakeOpenAI(
        buckets={
            COSTS: [bucket(T0, DAY, [cost_row("1.25", "gpt-4o-2024-08-06, input")])],
            COMPLETIONS: [bucket(T0, HOUR, [completion_row()])],
            EMBEDDINGS: [bucket(T0 + HOUR, HOUR, [embedding])],
        }
    )
    fake.delay = delay
    return fake


async def batches(provider: OpenAIProvider) -> list[list[Any]]:
    return [list(batch) async for batch in provider.fetch(WEEK)]


def kinds(pages: list[list[Any]]) -> list[str]:
    """What each non-empty page held: billed, completions or embeddings rows."""
    return [
        "billed" if page[0].cost_source is CostSource.BILLED else page[0].line_item.split(",")[0]
        for page in pages
        if page
    ]


async def test_two_requests_are_in_flight_by_default_and_pages_keep_plan_order(
    start_openai: Start,  # noqa: F811
) -> None:
    fake = fake_with_rows()
    provider = await start_openai(fake)
    assert provider.config.concurrent_requests == 2
    pages = await batches(provider)
    assert kinds(pages) == ["billed", "completions", "embeddings"]
    assert fake.max_in_flight == 2
    # The plan's order, also on the wire: costs first, then each usage endpoint.
    assert [s.path for s in fake.seen] == [COSTS, COMPLETIONS, EMBEDDINGS]


async def test_one_request_at_a_time_when_configured(start_openai: Start) -> None:  # noqa: F811
    fake = fake_with_rows()
    provider = await start_openai(fake, concurrent_requests=1)
    pages = await batches(provider)
    assert kinds(pages) == ["billed", "completions", "embeddings"]
    assert fake.max_in_flight == 1


async def test_the_lookahead_is_bounded_by_concurrent_requests(
    start_openai: Start,  # noqa: F811
) -> None:
    # Minute buckets: one request per day and usage endpoint, 11 requests in all.
    fake = fake_with_rows()
    provider = await start_openai(fake, concurrent_requests=3, bucket_width="1m")
    pages = await batches(provider)
    assert len(fake.seen) == 11
    assert fake.max_in_flight == 3
    assert kinds(pages) == ["billed", "completions", "embeddings"]


async def test_a_refused_key_costs_one_request(start_openai: Start) -> None:  # noqa: F811
    fake = fake_with_rows()
    provider = await start_openai(fake, key="sk-admin-refused")
    with pytest.raises(AuthError):
        await batches(provider)
    assert len(fake.seen) == 1


async def test_a_malformed_page_fetched_ahead_is_set_aside_as_its_own_request(
    start_openai: Start,  # noqa: F811
) -> None:
    fake = fake_with_rows()
    fake.bad_pages[(COMPLETIONS, 0)] = '{"object": "page", "data": [{"start_time": "x"}]}'
    provider = await start_openai(fake)
    with capture_logs() as logs:
        pages = await batches(provider)
    assert kinds(pages) == ["billed", "embeddings"]
    assert provider.pages_set_aside == 1
    (aside,) = [e for e in logs if e["event"] == "page_set_aside"]
    assert aside["url"].endswith(COMPLETIONS + "?" + aside["url"].split("?", 1)[1])
    assert "$.data[0]" in aside["reason"]


async def test_stopping_early_cancels_the_requests_fetched_ahead(
    start_openai: Start,  # noqa: F811
) -> None:
    fake = fake_with_rows(delay=2.0)
    provider = await start_openai(fake, concurrent_requests=3)
    stream = provider.fetch(WEEK)
    first = await anext(stream)  # type: ignore[call-overload]
    assert kinds([list(first)]) == ["billed"]
    for _ in range(150):  # the two requests ahead reach the server (polled: a busy CI)
        if fake.in_flight == 2:
            break
        await asyncio.sleep(0.01)
    assert fake.in_flight == 2  # completions and embeddings, fetched ahead
    await stream.aclose()  # type: ignore[attr-defined]
    ahead = [t for t in asyncio.all_tasks() if not t.done() and "get_bytes" in repr(t.get_coro())]
    assert [] == ahead


async def test_a_large_page_decodes_in_a_worker_thread() -> None:
    """A body of DECODE_OFF_LOOP_BYTES or more is decoded off the event loop's
    thread (so the writes of earlier pages go on meanwhile); a smaller one on it."""
    threads: list[threading.Thread] = []

    def decode(body: bytes) -> DecodedPage:
        threads.append(threading.current_thread())
        return DecodedPage([])

    await decoded(decode, b" " * (DECODE_OFF_LOOP_BYTES - 1))
    await decoded(decode, b" " * DECODE_OFF_LOOP_BYTES)
    assert threads[0] is threading.current_thread()
    assert threads[1] is not threading.current_thread()


async def test_a_large_page_decoded_off_the_loop_keeps_every_row(
    start_openai: Start,  # noqa: F811
) -> None:
    rows = [completion_row(user_id=f"user-{n}") for n in range(1000)]
    fake = FakeOpenAI(buckets={COSTS: [], EMBEDDINGS: [], COMPLETIONS: [bucket(T0, HOUR, rows)]})
    provider = await start_openai(fake)
    pages = await batches(provider)
    (page,) = [page for page in pages if page]
    assert sorted(r.user_id for r in page) == sorted(f"user-{n}" for n in range(1000))
    assert sum(r.requests for r in page) == 5 * 1000
