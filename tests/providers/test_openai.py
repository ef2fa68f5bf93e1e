"""The OpenAI provider against a fake Costs/Usage server."""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from costpipe.config.settings import PriceConfig
from costpipe.errors import AuthError, TransientError
from costpipe.pricing.prices import PriceTable
from costpipe.providers.base import PageError
from costpipe.providers.openai import OpenAIConfig, OpenAIProvider, model_from_line_item
from costpipe.records import CostSource, Window
from costpipe.testing import ProviderContract, collect
from tests.providers.fakes import FakeClock, FakeOpenAI, Serve, json_response

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
T0 = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
COSTS = "/v1/organization/costs"
COMPLETIONS = "/v1/organization/usage/completions"
EMBEDDINGS = "/v1/organization/usage/embeddings"


def ts(moment: datetime) -> int:
    return int(moment.timestamp())


def bucket(start: datetime, width: timedelta, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "bucket",
        "start_time": ts(start),
        "end_time": ts(start + width),
        "results": results,
    }


def cost_row(
    value: Any, line_item: str | None, project: str | None = "proj_a", **extra: Any
) -> dict[str, Any]:
    return {
        "object": "organization.costs.result",
        "amount": {"value": value, "currency": "usd"},
        "line_item": line_item,
        "project_id": project,
        "api_key_id": None,
        "quantity": None,
        **extra,
    }


def completion_row(model: str | None = "gpt-4o-2024-08-06", **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "object": "organization.usage.completions.result",
        "input_tokens": 1000,
        "input_cached_tokens": 400,
        "input_cache_write_tokens": 100,
        "input_uncached_tokens": 500,
        "output_tokens": 500,
        "num_model_requests": 5,
        "project_id": "proj_a",
        "user_id": "user-a",
        "api_key_id": "key_a",
        "model": model,
        "batch": False,
        "service_tier": "default",
    }
    row.update(fields)
    return row


def empty_usage(fake: FakeOpenAI, days: int = 5, width: timedelta = HOUR) -> None:
    steps = int(days * DAY / width)
    for path in (COMPLETIONS, EMBEDDINGS):
        fake.buckets.setdefault(path, [bucket(T0 + i * width, width, []) for i in range(steps)])


Start = Callable[..., Awaitable[OpenAIProvider]]


@pytest.fixture
async def start_openai(
    serve: Serve, make_context: Callable[..., Any]
) -> AsyncIterator[Callable[..., Awaitable[OpenAIProvider]]]:
    started: list[OpenAIProvider] = []

    async def start(
        fake: FakeOpenAI,
        key: str = "sk-admin-good",
        prices: PriceTable | None = None,
        context: Any = None,
        clock: FakeClock | None = None,
        **options: Any,
    ) -> OpenAIProvider:
        base = await serve(fake.app())
        # The fake serves costs, completions and embeddings (the other usage
        # endpoints are tested against the simulator).
        options = {"max_retries": 2, "usage_endpoints": ["completions", "embeddings"], **options}
        config = OpenAIConfig(api_key=key, base_url=base + "/v1", **options)
        provider = OpenAIProvider(
            config,
            context or make_context(prices=prices),
            clock=lambda: NOW,
            timer=(clock or FakeClock()).timer(),  # retry waits are recorded, not slept
        )
        await provider.start()
        started.append(provider)
        return provider

    yield start
    for provider in started:
        await provider.close()


WEEK = Window(T0, T0 + 5 * DAY)


# -- token mapping and money ------------------------------------------------------------


async def test_uncached_input_comes_from_input_uncached_tokens(start_openai: Start) -> None:
    """input_tokens includes cached and cache-write tokens; they are not counted twice."""
    fake = FakeOpenAI()
    fake.buckets[COSTS] = []
    fake.buckets[COMPLETIONS] = [bucket(T0, HOUR, [completion_row()])]
    fake.buckets[EMBEDDINGS] = []
    provider = await start_openai(fake)
    [record] = await collect(provider, Window(T0, T0 + HOUR))
    assert (
        record.uncached_input_tokens,
        record.cached_input_tokens,
        record.cache_write_tokens,
        record.output_tokens,
        record.requests,
    ) == (500, 400, 100, 500, 5)
    assert record.input_tokens == 1000
    # gpt-4o: 500 x 2.50 + 400 x 1.25 + 100 x 2.50 (cache writes at input) + 500 x 10.00 per M
    assert Decimal("0.0070000000") == record.cost_usd
    assert record.cost_source == CostSource.ESTIMATED
    assert (
        record.model,
        record.user_id,
        record.project_id,
        record.api_key_id,
        record.line_item,
    ) == ("gpt-4o-2024-08-06", "user-a", "proj_a", "key_a", "completions")


async def test_uncached_input_is_derived_when_the_field_is_absent(start_openai: Start) -> None:
    """Without input_uncached_tokens, uncached = input - cached - cache writes."""
    row = completion_row(input_tokens=5000, input_cached_tokens=1800, input_cache_write_tokens=200)
    del row["input_uncached_tokens"]
    fake = FakeOpenAI(buckets={COSTS: [], EMBEDDINGS: [], COMPLETIONS: [bucket(T0, HOUR, [row])]})
    provider = await start_openai(fake)
    [record] = await collect(provider, Window(T0, T0 + HOUR))
    assert (
        record.uncached_input_tokens,
        record.cached_input_tokens,
        record.cache_write_tokens,
    ) == (3000, 1800, 200)
    assert record.input_tokens == 5000


async def test_null_cache_fields_count_as_zero(start_openai: Start) -> None:
    """An older server sends nulls for the cache fields: all input is uncached."""
    row = completion_row(
        input_tokens=700,
        input_cached_tokens=None,
        input_cache_write_tokens=None,
        input_uncached_tokens=None,
    )
    fake = FakeOpenAI(buckets={COSTS: [], EMBEDDINGS: [], COMPLETIONS: [bucket(T0, HOUR, [row])]})
    provider = await start_openai(fake)
    [record] = await collect(provider, Window(T0, T0 + HOUR))
    assert (
        record.uncached_input_tokens,
        record.cached_input_tokens,
        record.cache_write_tokens,
    ) == (700, 0, 0)


async def test_embeddings_are_uncached_input_only(start_openai: Start) -> None:
    row = {
        "object": "organization.usage.embeddings.result",
        "input_tokens": 16000,
        "num_model_requests": 2,
        "project_id": None,
        "user_id": None,
        "api_key_id": None,
        "model": "text-embedding-3-small",
    }
    fake = FakeOpenAI(buckets={COSTS: [], COMPLETIONS: [], EMBEDDINGS: [bucket(T0, HOUR, [row])]})
    provider = await start_openai(fake)
    [record] = await collect(provider, Window(T0, T0 + HOUR))
    assert (
        record.uncached_input_tokens,
        record.cached_input_tokens,
        record.cache_write_tokens,
        record.output_tokens,
        record.requests,
    ) == (16000, 0, 0, 0, 2)
    assert record.line_item == "embeddings"
    assert Decimal("0.00032") == record.cost_usd  # 16000 x $0.02 / M


async def test_cost_amounts_are_exact_decimals_from_the_json_text(start_openai: Start) -> None:
    """17-digit float text and string amounts arrive digit for digit; sums are exact."""
    rows = [
        cost_row(Decimal("0.00012073404268330895"), "gpt-4o-2024-08-06, input"),
        cost_row(Decimal("68.30023964957941"), "gpt-4o-2024-08-06, output"),
        cost_row("0.1", "ft-gpt-4o-2024-08-06, input"),
        cost_row(Decimal("0.2"), "evals | gpt-4o-mini-2024-07-18, input"),
        cost_row(7, "assistants api | file search"),
    ]
    fake = FakeOpenAI(buckets={COSTS: [bucket(T0, DAY, rows)]})
    empty_usage(fake, days=1)
    provider = await start_openai(fake)
    records = await collect(provider, Window(T0, T0 + DAY))
    by_item = {r.line_item: r for r in records}
    assert Decimal("0.00012073404268330895") == by_item["gpt-4o-2024-08-06, input"].cost_usd
    assert Decimal("75.60036038362209330895") == sum((r.cost_usd for r in records), Decimal(0))
    assert {CostSource.BILLED} == {r.cost_source for r in records}
    assert by_item["evals | gpt-4o-mini-2024-07-18, input"].model == "gpt-4o-mini-2024-07-18"
    assert by_item["assistants api | file search"].model == ""
    assert {""} == {r.user_id for r in records}


def test_model_is_read_from_line_item_text_best_effort() -> None:
    assert model_from_line_item("gpt-4o-2024-08-06, input") == "gpt-4o-2024-08-06"
    assert model_from_line_item("x | gpt-5-mini, output") == "gpt-5-mini"
    assert model_from_line_item("input_tokens") == ""
    assert model_from_line_item("assistants api | file search") == ""
    assert model_from_line_item("web search, low context") == ""


async def test_nulls_and_unknown_fields_are_tolerated(start_openai: Start) -> None:
    """Undocumented fields (organization_id, quantity_unit) are ignored; null dims are ''."""
    rows = [
        cost_row(
            Decimal("0.06"),
            None,
            None,
            organization_id="org-x",
            quantity_unit="tokens",
            new_field={"a": 1},
        ),
        {"object": "organization.costs.result", "amount": None},
    ]
    fake = FakeOpenAI(buckets={COSTS: [bucket(T0, DAY, rows)]})
    empty_usage(fake, days=1)
    provider = await start_openai(fake)
    [record] = await collect(provider, Window(T0, T0 + DAY))
    assert ("", "", "", Decimal("0.06")) == (
        record.line_item,
        record.project_id,
        record.model,
        record.cost_usd,
    )
    assert provider.pages_set_aside == 0


async def test_empty_buckets_yield_no_records(start_openai: Start) -> None:
    fake = FakeOpenAI(buckets={COSTS: [bucket(T0 + i * DAY, DAY, []) for i in range(5)]})
    empty_usage(fake)
    provider = await start_openai(fake)
    assert await collect(provider, WEEK) == []
    assert provider.pages_set_aside == 0


async def test_batch_and_service_tier_rows_keep_distinct_keys_and_prices(
    start_openai: Start,
) -> None:
    # gpt-5-mini: the price data lists batch and flex at half, priority at 1.8x.
    model = "gpt-5-mini-2025-08-07"
    rows = [
        completion_row(model, batch=False, service_tier="default"),
        completion_row(model, batch=True, service_tier="default"),
        completion_row(model, batch=False, service_tier="flex"),
        completion_row(model, batch=False, service_tier="priority"),
    ]
    fake = FakeOpenAI(buckets={COSTS: [], EMBEDDINGS: [], COMPLETIONS: [bucket(T0, HOUR, rows)]})
    provider = await start_openai(fake)
    records = await collect(provider, Window(T0, T0 + HOUR))
    by_item = {r.line_item: r for r in records}
    assert {
        "completions",
        "completions, batch",
        "completions, flex",
        "completions, priority",
    } == set(by_item)
    assert len({r.key for r in records}) == 4
    assert by_item["completions"].cost_usd / 2 == by_item["completions, batch"].cost_usd
    assert by_item["completions"].cost_usd / 2 == by_item["completions, flex"].cost_usd
    assert by_item["completions"].cost_usd * Decimal("1.8") == (
        by_item["completions, priority"].cost_usd
    )


async def test_unpriced_model_keeps_tokens_costs_zero_and_is_logged_once(
    start_openai: Start,
) -> None:
    rows = [
        completion_row(model="acme-llm-9", user_id="u1"),
        completion_row(model="acme-llm-9", user_id="u2"),
    ]
    fake = FakeOpenAI(
        buckets={
            COSTS: [],
            EMBEDDINGS: [],
            COMPLETIONS: [bucket(T0, HOUR, rows), bucket(T0 + HOUR, HOUR, rows)],
        }
    )
    provider = await start_openai(fake)
    with capture_logs() as logs:
        records = await collect(provider, Window(T0, T0 + 2 * HOUR))
    assert len(records) == 4
    assert {CostSource.UNPRICED} == {r.cost_source for r in records}
    assert {Decimal(0)} == {r.cost_usd for r in records}
    assert {500} == {r.uncached_input_tokens for r in records}
    unpriced = [e for e in logs if e["event"] == "model_unpriced"]
    assert len(unpriced) == 1
    assert unpriced[0]["model"] == "acme-llm-9"


async def test_context_price_table_with_overrides_is_used(start_openai: Start) -> None:
    table = PriceTable.bundled().with_overrides(
        [PriceConfig(provider="openai", model="acme-llm-9", input=Decimal(1), output=Decimal(2))]
    )
    fake = FakeOpenAI(
        buckets={
            COSTS: [],
            EMBEDDINGS: [],
            COMPLETIONS: [bucket(T0, HOUR, [completion_row(model="acme-llm-9")])],
        }
    )
    provider = await start_openai(fake, prices=table)
    [record] = await collect(provider, Window(T0, T0 + HOUR))
    # (500 + 400 + 100) x $1 + 500 x $2 per M
    assert (CostSource.ESTIMATED, Decimal("0.002")) == (record.cost_source, record.cost_usd)


# -- requests: pagination, alignment, parameters ---------------------------------------


async def test_pagination_follows_next_page_with_identical_parameters(start_openai: Start) -> None:
    fake = FakeOpenAI(page_size=2)
    fake.buckets[COSTS] = [
        bucket(T0 + i * DAY, DAY, [cost_row(Decimal(i + 1), "gpt-4o, input")]) for i in range(5)
    ]
    empty_usage(fake)
    provider = await start_openai(fake)
    records = await collect(provider, WEEK)
    costs = sorted(r.cost_usd for r in records)
    assert [Decimal(n) for n in range(1, 6)] == costs
    seen = fake.requests_to(COSTS)
    assert len(seen) == 3
    assert [None, *[s.query.get("page") for s in seen[1:]]] == [s.query.get("page") for s in seen]
    first = [(k, v) for k, v in seen[0].query.items() if k != "page"]
    for later in seen[1:]:
        assert first == [(k, v) for k, v in later.query.items() if k != "page"]
    assert provider.pages_fetched >= 3


@pytest.mark.parametrize(
    ("second", "reason"),
    [
        ({"has_more": True, "next_page": "c1"}, "the server repeated a `next_page` cursor"),
        ({"has_more": True, "next_page": None}, "`has_more` is true but `next_page` is empty"),
    ],
)
async def test_a_cursor_that_cannot_end_the_walk_sets_the_rest_aside(
    start_openai: Start, second: dict[str, Any], reason: str
) -> None:
    """The pages before it keep their records; the usage endpoints are still fetched."""
    pages = [
        {
            "data": [bucket(T0, DAY, [cost_row(Decimal(1), "a")])],
            "has_more": True,
            "next_page": "c1",
        },
        {"data": [bucket(T0 + DAY, DAY, [cost_row(Decimal(2), "a")])], **second},
    ]
    fake = FakeOpenAI(buckets={COSTS: []})
    fake.script[COSTS] = deque(lambda page=page: json_response(200, page) for page in pages)
    empty_usage(fake, days=2)
    provider = await start_openai(fake)
    with capture_logs() as logs:
        records = await collect(provider, Window(T0, T0 + 2 * DAY))
    assert [Decimal(1), Decimal(2)] == sorted(r.cost_usd for r in records)
    assert 2 == len(fake.requests_to(COSTS))
    assert 1 == provider.pages_set_aside
    [aside] = [e for e in logs if e["event"] == "page_set_aside"]
    assert reason in aside["reason"]
    assert fake.requests_to(COMPLETIONS)


async def test_array_parameters_are_repeated_keys(start_openai: Start) -> None:
    fake = FakeOpenAI(buckets={COSTS: []})
    empty_usage(fake, days=1)
    provider = await start_openai(fake, project_ids=["proj_a", "proj_b"])
    await collect(provider, Window(T0, T0 + DAY))
    [costs] = fake.requests_to(COSTS)
    assert costs.query.getall("group_by") == ["project_id", "line_item", "api_key_id"]
    assert costs.query.getall("project_ids") == ["proj_a", "proj_b"]
    assert (costs.query["bucket_width"], costs.query["limit"]) == ("1d", "1")
    [completions] = fake.requests_to(COMPLETIONS)
    assert completions.query.getall("group_by") == [
        "model",
        "project_id",
        "user_id",
        "api_key_id",
        "batch",
        "service_tier",
    ]
    assert (completions.query["bucket_width"], completions.query["limit"]) == ("1h", "24")
    [embeddings] = fake.requests_to(EMBEDDINGS)
    assert "batch" not in embeddings.query.getall("group_by")
    assert costs.headers["Authorization"] == "Bearer sk-admin-good"
    assert costs.headers["User-Agent"].startswith("costpipe/")


async def test_windows_are_aligned_down_to_bucket_boundaries(start_openai: Start) -> None:
    """[Nov 1 05:30, Nov 3 07:10) asks for days [Nov 1, Nov 3) and hours [05:00, 07:00 Nov 3)
    (in pieces of a day of hours)."""
    fake = FakeOpenAI(buckets={COSTS: []})
    empty_usage(fake)
    provider = await start_openai(fake)
    await collect(
        provider,
        Window(T0 + timedelta(hours=5, minutes=30), T0 + 2 * DAY + timedelta(hours=7, minutes=10)),
    )
    [costs] = fake.requests_to(COSTS)
    assert (str(ts(T0)), str(ts(T0 + 2 * DAY))) == (
        costs.query["start_time"],
        costs.query["end_time"],
    )
    usage = fake.requests_to(COMPLETIONS)
    edges = [(s.query["start_time"], s.query["end_time"]) for s in usage]
    hours = [T0 + 5 * HOUR, T0 + DAY + 5 * HOUR, T0 + 2 * DAY + 5 * HOUR, T0 + 2 * DAY + 7 * HOUR]
    assert [(str(ts(a)), str(ts(b))) for a, b in itertools.pairwise(hours)] == edges
    assert [s.query["limit"] for s in usage] == ["24", "24", "2"]


async def test_the_incomplete_current_bucket_is_never_requested(start_openai: Start) -> None:
    """With now = Nov 20 12:30, a window reaching into the future stops at 12:00 / Nov 20."""
    fake = FakeOpenAI(buckets={COSTS: [], COMPLETIONS: [], EMBEDDINGS: []})
    provider = await start_openai(fake)
    await collect(provider, Window(NOW - DAY, NOW + DAY))
    [costs] = fake.requests_to(COSTS)
    assert str(ts(datetime(2026, 11, 20, tzinfo=UTC))) == costs.query["end_time"]
    [usage] = fake.requests_to(COMPLETIONS)
    assert str(ts(datetime(2026, 11, 20, 12, tzinfo=UTC))) == usage.query["end_time"]


async def test_long_windows_are_cut_into_pieces_within_the_limit(start_openai: Start) -> None:
    """Ten days of hourly usage: ten pieces of a day of hours (the spec's default
    ``limit`` for ``1h``), never above the maximum of 168."""
    fake = FakeOpenAI(buckets={COSTS: [], COMPLETIONS: [], EMBEDDINGS: []})
    provider = await start_openai(fake)
    await collect(provider, Window(T0, T0 + 10 * DAY))
    limits = [int(s.query["limit"]) for s in fake.requests_to(COMPLETIONS)]
    assert limits == [24] * 10


async def test_buckets_outside_the_requested_range_are_dropped(start_openai: Start) -> None:
    """A server adding a neighbouring bucket must not put a record outside the window."""
    fake = FakeOpenAI(
        buckets={
            COSTS: [
                bucket(T0 - DAY, DAY, [cost_row(Decimal(1), "x, input")]),
                bucket(T0, DAY, [cost_row(Decimal(2), "x, input")]),
            ]
        }
    )
    fake.bounds = lambda request: (T0 - DAY, T0 + DAY)  # type: ignore[method-assign]
    empty_usage(fake, days=1)
    provider = await start_openai(fake)
    records = await collect(provider, Window(T0, T0 + DAY))
    assert [Decimal(2)] == [r.cost_usd for r in records]


# -- failures -------------------------------------------------------------------------


async def test_401_names_instance_key_env_var_and_scope(
    start_openai: Start, make_context: Callable[..., Any]
) -> None:
    fake = FakeOpenAI(buckets={COSTS: []})
    context = make_context(secret_env={"api_key": "OPENAI_ADMIN_KEY"})
    provider = await start_openai(fake, key="sk-wrong-1234567890", context=context)
    with pytest.raises(AuthError) as caught:
        await collect(provider, WEEK)
    message = str(caught.value)
    assert "openai.prod" in message
    assert "HTTP 401" in message
    assert "`api_key`" in message
    assert "$OPENAI_ADMIN_KEY" in message
    assert "api.usage.read" in message
    assert "sk-wrong-1234567890" not in message
    assert len(fake.seen) == 1
    assert provider.retries == 0


async def test_403_says_the_key_lacks_the_usage_scope(start_openai: Start) -> None:
    fake = FakeOpenAI(buckets={COSTS: []})
    provider = await start_openai(fake, key="sk-proj-abc")
    with pytest.raises(AuthError) as caught:
        await collect(provider, WEEK)
    message = str(caught.value)
    assert "HTTP 403" in message
    assert "lacks a permission" in message
    assert "Missing scopes: api.usage.read" in message
    assert "Admin key" in message
    assert len(fake.seen) == 1


async def test_429_retry_after_is_honoured(start_openai: Start) -> None:
    fake = FakeOpenAI(buckets={COSTS: [bucket(T0, DAY, [cost_row(Decimal(1), "x, input")])]})
    empty_usage(fake, days=1)
    rate_limited = json_response(
        429,
        {
            "error": {
                "message": "Rate limit reached",
                "type": "requests",
                "param": None,
                "code": None,
            }
        },
        headers={"retry-after-ms": "300"},
    )
    fake.script[COSTS] = deque([lambda: rate_limited])
    clock = FakeClock()
    provider = await start_openai(fake, clock=clock)
    records = await collect(provider, Window(T0, T0 + DAY))
    assert [Decimal(1)] == [r.cost_usd for r in records]
    assert len(fake.requests_to(COSTS)) == 2
    [wait] = clock.sleeps
    assert 0.3 <= wait <= 0.33  # never earlier than asked, at most 10 % later
    assert provider.retries == 1


async def test_5xx_is_retried_a_bounded_number_of_times(start_openai: Start) -> None:
    fake = FakeOpenAI(buckets={COSTS: []})
    fake.script[COSTS] = deque(
        lambda: json_response(500, {"error": {"message": "boom"}}) for _ in range(10)
    )
    provider = await start_openai(fake, max_retries=3)
    with pytest.raises(TransientError) as caught:
        await collect(provider, WEEK)
    assert len(fake.requests_to(COSTS)) == 4
    assert provider.retries == 3
    assert "HTTP 500" in str(caught.value)


async def test_exhausted_quota_is_not_retried(start_openai: Start) -> None:
    fake = FakeOpenAI(buckets={COSTS: []})
    quota = {
        "error": {
            "message": "You exceeded your current quota",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    fake.script[COSTS] = deque([lambda: json_response(429, quota)])
    provider = await start_openai(fake)
    with pytest.raises(TransientError):
        await collect(provider, WEEK)
    assert len(fake.requests_to(COSTS)) == 1


async def test_a_malformed_page_is_set_aside_and_the_rest_still_arrives(
    start_openai: Start,
) -> None:
    """Costs page 2 of 3 is not JSON: pages 1 and the usage endpoints still arrive."""
    fake = FakeOpenAI(page_size=2)
    fake.buckets[COSTS] = [
        bucket(T0 + i * DAY, DAY, [cost_row(Decimal(i + 1), "gpt-4o, input")]) for i in range(5)
    ]
    fake.buckets[COMPLETIONS] = [bucket(T0 + i * HOUR, HOUR, [completion_row()]) for i in range(2)]
    fake.buckets[EMBEDDINGS] = []
    fake.bad_pages[(COSTS, 1)] = '{"object": "page", "data": [ {"start_time": '
    provider = await start_openai(fake)
    with capture_logs() as logs:
        records = await collect(provider, WEEK)
    assert [Decimal(1), Decimal(2)] == sorted(r.cost_usd for r in records if r.is_billed)
    assert len([r for r in records if not r.is_billed]) == 2
    assert provider.pages_set_aside == 1
    [aside] = [e for e in logs if e["event"] == "page_set_aside"]
    assert "not valid JSON" in aside["reason"]
    assert "/v1/organization/costs" in aside["url"]


async def test_a_page_of_the_wrong_shape_is_set_aside(start_openai: Start) -> None:
    fake = FakeOpenAI(buckets={COSTS: [], EMBEDDINGS: []})
    fake.buckets[COMPLETIONS] = [bucket(T0, HOUR, [completion_row(output_tokens="many")])]
    provider = await start_openai(fake)
    assert await collect(provider, Window(T0, T0 + HOUR)) == []
    assert provider.pages_set_aside == 1


async def test_check_connection_makes_one_request(start_openai: Start) -> None:
    fake = FakeOpenAI(buckets={COSTS: []})
    provider = await start_openai(fake)
    assert "OpenAI" in await provider.check_connection()
    assert len(fake.seen) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("<html>It works!</html>", "response is not valid JSON"),
        ('{"data": {"buckets": []}, "has_more": false}', "$.data: expected `array`"),
    ],
)
async def test_check_connection_fails_on_a_200_that_is_not_a_costs_page(
    start_openai: Start, body: str, reason: str
) -> None:
    """A wrong base_url that answers 200 (a web server, another API) is not an ok check."""
    fake = FakeOpenAI(buckets={COSTS: []})
    fake.script[COSTS] = deque([lambda: web.Response(text=body, content_type="text/html")])
    provider = await start_openai(fake)
    with pytest.raises(PageError, match=re.escape(reason)):
        await provider.check_connection()


def test_config_defaults_and_strictness() -> None:
    config = OpenAIConfig(api_key="k")
    assert (
        config.base_url,
        config.bucket_width,
        config.verify_tls,
    ) == ("https://api.openai.com/v1", "1h", True)
    with pytest.raises(ValueError, match="bucket_width"):
        OpenAIConfig(api_key="k", bucket_width="2h")
    with pytest.raises(ValueError, match="extra"):
        OpenAIConfig(api_key="k", colour="blue")


# -- the provider contract --------------------------------------------------------------


class TestOpenAIContract(ProviderContract):
    @pytest.fixture
    def contract_window(self) -> Window:
        return Window(T0, T0 + 3 * DAY)

    @pytest.fixture
    def secrets(self) -> list[str]:
        return ["sk-admin-good", "sk-wrong-key"]

    @pytest.fixture
    def fake(self) -> FakeOpenAI:
        fake = FakeOpenAI(page_size=2)
        fake.buckets[COSTS] = [
            bucket(
                T0 + i * DAY,
                DAY,
                [
                    cost_row(Decimal("1.5"), "gpt-4o, input"),
                    cost_row(Decimal("0.25"), "gpt-4o, output"),
                ],
            )
            for i in range(5)
        ]
        fake.buckets[COMPLETIONS] = [
            bucket(T0 + i * HOUR, HOUR, [completion_row(), completion_row(user_id="user-b")])
            for i in range(100)
        ]
        fake.buckets[EMBEDDINGS] = []
        return fake

    @pytest.fixture
    async def provider(self, start_openai: Start, fake: FakeOpenAI) -> OpenAIProvider:
        return await start_openai(fake)

    @pytest.fixture
    async def refused_provider(self, start_openai: Start, fake: FakeOpenAI) -> OpenAIProvider:
        return await start_openai(fake, key="sk-wrong-key")


async def test_rows_of_one_key_merge_within_a_bucket_and_across_a_repeated_bucket(
    start_openai: Start,
) -> None:
    """Two rows with the same dimensions in one bucket, and the same bucket sent
    twice in one page, add up to one record each (a store upserts by key: two
    records of one key would keep only one's money)."""
    row = completion_row()
    other = completion_row(user_id="user-b")
    fake = FakeOpenAI(
        buckets={
            COSTS: [],
            EMBEDDINGS: [],
            COMPLETIONS: [
                bucket(T0, HOUR, [row, row, other]),
                bucket(T0 + HOUR, HOUR, [row]),
                bucket(T0, HOUR, [row]),
            ],
        }
    )
    provider = await start_openai(fake)
    records = await collect(provider, WEEK)
    by_key = {(r.start, r.user_id): r for r in records}
    assert len(records) == len(by_key) == 3
    assert by_key[(T0, "user-a")].requests == 3 * 5
    assert by_key[(T0, "user-a")].output_tokens == 3 * 500
    assert by_key[(T0, "user-b")].requests == 5
    assert by_key[(T0 + HOUR, "user-a")].requests == 5
    single = by_key[(T0 + HOUR, "user-a")].cost_usd
    assert by_key[(T0, "user-a")].cost_usd == 3 * single
