"""The LiteLLM walk against a busy hour: the proxy's capped count, ``startTime``
ties under OFFSET paging and rows logged during the walk (issue 17, item 3).

The simulator's paging follows the proxy's source (cited in
``costpipe.simulator.litellm_paging``): ``total`` stops at 10,000 with
``total_is_capped``, ``page_size`` is at most 1000, rows are ordered
``startTime`` descending with ties in an order that changes with the page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from costpipe.components import ComponentContext
from costpipe.providers.litellm import LiteLLMConfig, LiteLLMProvider
from costpipe.records import CostRecord, Window
from costpipe.simulator import Simulator
from costpipe.testing.provider_contract import collect
from tests.providers_extra.conftest import NOW

Factory = Callable[..., Awaitable[LiteLLMProvider]]

HOUR = timedelta(hours=1)
#: The busy hour: 09:00-10:00 UTC the day before NOW.
BUSY = datetime(2026, 3, 10, 9, tzinfo=UTC)


@pytest.fixture
async def make_provider(
    sim: Simulator, context_for: Callable[..., ComponentContext]
) -> AsyncIterator[Factory]:
    made: list[LiteLLMProvider] = []

    async def build(**options: object) -> LiteLLMProvider:
        config = LiteLLMConfig(
            api_key=SecretStr(sim.litellm.master_key),
            base_url=sim.litellm_base_url,
            max_retries=0,
            **options,
        )
        provider = LiteLLMProvider(
            config,
            context_for("litellm.busy", {"api_key": "LITELLM_MASTER_KEY"}),
            clock=lambda: NOW,
        )
        await provider.start()
        made.append(provider)
        return provider

    yield build
    for provider in made:
        await provider.close()


def totals(records: list[CostRecord]) -> dict[str, Decimal]:
    return {
        "spend": sum((r.cost_usd for r in records), Decimal(0)),
        "prompt_tokens": Decimal(sum(r.uncached_input_tokens for r in records)),
        "completion_tokens": Decimal(sum(r.output_tokens for r in records)),
        "requests": Decimal(sum(r.requests for r in records)),
    }


async def test_12000_requests_in_one_hour_are_counted_exactly(
    make_provider: Factory, sim: Simulator
) -> None:
    """12,000 requests in one hour, on whole seconds (3-4 share each second) and
    600 of them sharing one instant: requests, tokens and dollars equal the
    simulator's ground truth.

    Fails before the fix: the walk paged the hour with OFFSET (page_size <= 100)
    and, ordered only by ``startTime``, the tie groups came in a different order
    on each page. The previous provider (src/costpipe/providers/litellm as of
    commit e331540, run from /tmp against this simulator) recorded 11,795 of the
    12,000 requests and $107.46 of $109.17 in 121 pages, 205 rows served twice
    and as many never; the one before it (stopping at ``total_pages`` of the
    capped count) recorded 10,000."""
    sim.litellm.crowd(BUSY, 12_000, burst=600)
    truth = sim.litellm.truth(BUSY, BUSY + HOUR, NOW)
    assert truth["requests"] == 12_000
    provider = await make_provider()
    records = await collect(provider, Window(BUSY, BUSY + HOUR))
    assert totals(records) == truth
    assert {r.start for r in records} == {BUSY}
    # Slices that each fit in one answer: no OFFSET, no row served twice.
    assert provider.duplicates_skipped == 0
    assert provider.pages_fetched < 60


async def test_the_first_answer_of_a_busy_hour_is_capped(sim: Simulator) -> None:
    """What the walk has to get past: the proxy's count stops at 10,000."""
    import aiohttp

    sim.litellm.crowd(BUSY, 12_000)
    query = {
        "start_date": "2026-03-10 09:00:00",
        "end_date": "2026-03-10 10:00:00",
        "page_size": "1000",
    }
    headers = {"Authorization": f"Bearer {sim.litellm.master_key}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(sim.litellm_base_url + "/spend/logs/v2", params=query, headers=headers) as got,
    ):
        answer = await got.json()
    assert (answer["total"], answer["total_is_capped"], answer["total_pages"]) == (10_000, True, 10)


async def test_rows_logged_during_the_walk_are_counted_once(
    make_provider: Factory, sim: Simulator
) -> None:
    """Seven requests are logged, just before the hour's end, after the walk's
    first answer (a full one, so the hour is being split): they land in a slice
    not read yet and are counted, once; nothing already counted moves."""
    sim.litellm.crowd(BUSY, 12_000, burst=600)
    sim.litellm.insert_after_page = 1
    provider = await make_provider()
    records = await collect(provider, Window(BUSY, BUSY + HOUR))
    truth = sim.litellm.truth(BUSY, BUSY + HOUR, NOW)
    assert truth["requests"] == 12_000 + sim.litellm.insert_count
    assert totals(records) == truth
    assert provider.duplicates_skipped == 0


async def test_a_crowded_second_is_asked_again_with_the_largest_page(
    make_provider: Factory, sim: Simulator
) -> None:
    """With page_size 100, the 600 requests of one instant fill every page of their
    second, which cannot be sliced (the proxy's dates have whole seconds): the
    second is asked again with page_size 1000, which holds it in one answer."""
    sim.litellm.crowd(BUSY, 12_000, burst=600)
    truth = sim.litellm.truth(BUSY, BUSY + HOUR, NOW)
    provider = await make_provider(page_size=100)
    records = await collect(provider, Window(BUSY, BUSY + HOUR))
    assert totals(records) == truth
    assert provider.duplicates_skipped == 0


async def test_a_second_larger_than_the_largest_page_is_united_over_walks(
    make_provider: Factory, sim: Simulator
) -> None:
    """1,200 requests at one instant: more than a page of 1,000, so the second is
    paged with OFFSET over a tie group whose order changes with every page. Walks
    with different page sizes are united by request_id until the proxy's count is
    reached, and the hour is exact."""
    sim.litellm.crowd(BUSY, 12_000, burst=1_200)
    truth = sim.litellm.truth(BUSY, BUSY + HOUR, NOW)
    provider = await make_provider()
    records = await collect(provider, Window(BUSY, BUSY + HOUR))
    assert totals(records) == truth


async def test_a_second_that_cannot_be_verified_is_set_aside_not_counted_short(
    make_provider: Factory, sim: Simulator
) -> None:
    """1,500 requests at one instant: three walks still miss some of them. The
    hour is set aside (logged with the counts, fetched again by the next pass),
    never recorded with rows missing."""
    sim.litellm.crowd(BUSY, 12_000, burst=1_500)
    provider = await make_provider()
    with capture_logs() as logs:
        records = await collect(provider, Window(BUSY, BUSY + HOUR))
    assert records == []
    [aside] = [e for e in logs if e["event"] == "page_set_aside"]
    assert "start in the second 2026-03-10T09:30:00+00:00 after 3 walks" in aside["reason"]
    assert "the proxy counts 1507 with 3 at its end" in aside["reason"]
    assert provider.pages_set_aside == 1
