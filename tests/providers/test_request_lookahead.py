"""``concurrent_requests``: the next requests of a plan are fetched while the
current page is decoded and handed on, pages still come in plan order, and the
bounds of the lookahead hold (a refused key, a malformed page, a stop).

Against the fake OpenAI server, which answers every request after ``delay``
seconds and counts the requests it is answering at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from datetime import timedelta
from typing import Any

import pytest
from structlog.testing import capture_logs

from costpipe.errors import AuthError
from costpipe.providers.openai import OpenAIProvider
from costpipe.providers.planning import DECODE_OFF_LOOP_BYTES, DecodedPage
from costpipe.providers.planning import _decoded as decoded
from costpipe.records import CostSource, Window
from tests.providers.fakes import FakeOpenAI
from tests.providers.test_openai import (  # noqa: F401  (start_openai: the fixture)
    COMPLETIONS,
    COSTS,
    DAY,
    EMBEDDINGS,
    HOUR,
    T0,
    Start,
    bucket,
    completion_row,
    cost_row,
    start_openai,
)

MINUTE = timedelta(minutes=1)
#: One day: with hourly buckets (a day per piece) one request per endpoint.
FIRST_DAY = Window(T0, T0 + DAY)


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
    return [list(batch) async for batch in provider.fetch(FIRST_DAY)]


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
    # Minute buckets: one request per hour and usage endpoint, 1 + 2 * 24 requests.
    fake = fake_with_rows()
    provider = await start_openai(fake, concurrent_requests=3, bucket_width="1m")
    pages = await batches(provider)
    assert len(fake.seen) == 49
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
    stream = provider.fetch(FIRST_DAY)
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


PASS_NAME: contextvars.ContextVar[str] = contextvars.ContextVar("pass_name", default="")


async def test_large_pages_decode_in_one_thread_off_the_loop() -> None:
    """A body of DECODE_OFF_LOOP_BYTES or more is decoded off the event loop's
    thread (so the writes of earlier pages go on meanwhile), a smaller one on it.
    Every large page, of concurrent passes too, is decoded by the same single
    thread (not a pool, whose threads each keep a malloc arena), in the
    caller's context (bound log fields)."""
    seen: list[tuple[threading.Thread, str]] = []
    lock = threading.Lock()
    running = most = 0
    another_started = threading.Event()

    def decode(body: bytes) -> DecodedPage:
        nonlocal running, most
        with lock:
            seen.append((threading.current_thread(), PASS_NAME.get()))
            first_large = len(seen) == 2
            running += 1
            most = max(most, running)
        if first_large:
            # A pool would start the next page on another thread meanwhile.
            another_started.wait(0.2)
        else:
            another_started.set()
        with lock:
            running -= 1
        return DecodedPage([])

    async def one_pass(name: str, body: bytes) -> None:
        PASS_NAME.set(name)
        await decoded(decode, body)

    await one_pass("small", b" " * (DECODE_OFF_LOOP_BYTES - 1))
    large = b" " * DECODE_OFF_LOOP_BYTES
    await asyncio.gather(*(one_pass(f"pass-{n}", large) for n in range(8)))
    await one_pass("later", large)
    assert seen[0] == (threading.current_thread(), "small")
    workers = {thread for thread, _ in seen[1:]}
    assert (len(workers), most) == (1, 1)
    (worker,) = workers
    assert worker is not threading.current_thread()
    assert worker.name.startswith("costpipe-decode")
    assert sorted(name for _, name in seen[1:]) == sorted(
        [*(f"pass-{n}" for n in range(8)), "later"]
    )


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
