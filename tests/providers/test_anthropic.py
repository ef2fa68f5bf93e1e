"""The Anthropic provider against a fake Admin API server."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from costpipe.errors import AuthError
from costpipe.providers.anthropic import AnthropicConfig, AnthropicProvider
from costpipe.providers.base import PageError
from costpipe.records import CostSource, Window
from costpipe.testing import ProviderContract, collect
from tests.providers.fakes import FakeAnthropic, FakeClock, Serve, json_response, rfc3339

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
T0 = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
USAGE = "/v1/organizations/usage_report/messages"
COST = "/v1/organizations/cost_report"


def bucket(start: datetime, width: timedelta, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"starting_at": rfc3339(start), "ending_at": rfc3339(start + width), "results": results}


def usage_row(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "api_key_id": "apikey_01",
        "cache_creation": {"ephemeral_1h_input_tokens": 1000, "ephemeral_5m_input_tokens": 500},
        "cache_read_input_tokens": 200,
        "context_window": None,
        "model": "claude-sonnet-4-20250514",
        "output_tokens": 500,
        "server_tool_use": {"web_search_requests": 10},
        "service_tier": "standard",
        "uncached_input_tokens": 1500,
        "workspace_id": "wrkspc_01",
        "inference_geo": None,
        "account_id": None,
    }
    row.update(fields)
    return row


def cost_row(amount: Any, description: str | None, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "currency": "USD",
        "amount": amount,
        "workspace_id": "wrkspc_01",
        "description": description,
        "cost_type": "tokens",
        "context_window": "0-200k",
        "model": "claude-sonnet-4-20250514",
        "service_tier": "standard",
        "token_type": "uncached_input_tokens",
    }
    row.update(fields)
    return row


Start = Callable[..., Awaitable[AnthropicProvider]]


@pytest.fixture
async def start_anthropic(serve: Serve, make_context: Callable[..., Any]) -> AsyncIterator[Start]:
    started: list[AnthropicProvider] = []

    async def start(
        fake: FakeAnthropic, key: str = "sk-ant-admin01-good", **options: Any
    ) -> AnthropicProvider:
        base = await serve(fake.app())
        options = {"max_retries": 2, **options}
        config = AnthropicConfig(api_key=key, base_url=base, **options)
        provider = AnthropicProvider(
            config,
            make_context(instance="anthropic.main"),
            clock=lambda: NOW,
            timer=FakeClock().timer(),  # retry waits are recorded, not slept
        )
        await provider.start()
        started.append(provider)
        return provider

    yield start
    for provider in started:
        await provider.close()


async def test_every_token_category_maps_once_and_1h_writes_cost_more(
    start_anthropic: Start,
) -> None:
    fake = FakeAnthropic(buckets={COST: [], USAGE: [bucket(T0, HOUR, [usage_row()])]})
    provider = await start_anthropic(fake)
    record, searches = await collect(provider, Window(T0, T0 + HOUR))
    assert (
        record.uncached_input_tokens,
        record.cached_input_tokens,
        record.cache_write_tokens,
        record.cache_write_1h_tokens,
        record.output_tokens,
    ) == (1500, 200, 500, 1000, 500)
    assert record.input_tokens == 3200
    # sonnet-4: 1500 x 3 + 200 x 0.30 + 500 x 3.75 (5m) + 1000 x 6 (1h) + 500 x 15 per M
    assert Decimal("0.019935") == record.cost_usd
    assert record.cost_source == CostSource.ESTIMATED
    assert (
        record.model,
        record.project_id,
        record.api_key_id,
        record.line_item,
    ) == ("claude-sonnet-4-20250514", "wrkspc_01", "apikey_01", "messages")
    # server_tool_use.web_search_requests: a row of its own, counted, no tokens,
    # priced at the model's web-search price ($10 per 1,000 in the price data).
    assert (
        searches.line_item,
        searches.web_search_calls,
        searches.input_tokens + searches.output_tokens + searches.requests,
        searches.cost_source,
        searches.cost_usd,
        searches.model,
        searches.project_id,
        searches.api_key_id,
    ) == (
        "web_search",
        10,
        0,
        CostSource.ESTIMATED,
        Decimal("0.1"),
        "claude-sonnet-4-20250514",
        "wrkspc_01",
        "apikey_01",
    )
    assert record.requests == 0


async def test_default_workspace_and_service_tiers(start_anthropic: Start) -> None:
    # Opus 4.6: the price data has its batch prices (half), and no priority tier.
    opus = "claude-opus-4-6"
    rows = [
        usage_row(workspace_id=None, server_tool_use=None, model=opus),
        usage_row(workspace_id=None, service_tier="batch", server_tool_use=None, model=opus),
        usage_row(workspace_id=None, service_tier="priority", server_tool_use=None, model=opus),
    ]
    fake = FakeAnthropic(buckets={COST: [], USAGE: [bucket(T0, HOUR, rows)]})
    provider = await start_anthropic(fake)
    records = await collect(provider, Window(T0, T0 + HOUR))
    by_item = {r.line_item: r for r in records}
    assert {"messages", "messages, batch", "messages, priority"} == set(by_item)
    assert {"default"} == {r.project_id for r in records}
    assert by_item["messages"].cost_usd / 2 == by_item["messages, batch"].cost_usd
    priority = by_item["messages, priority"]
    assert (CostSource.UNPRICED, Decimal(0)) == (priority.cost_source, priority.cost_usd)


async def test_missing_and_null_cache_fields_count_as_zero(start_anthropic: Start) -> None:
    row = usage_row(
        cache_creation=None,
        cache_read_input_tokens=None,
        server_tool_use={"web_search_requests": None},
        surprise={"x": 1},
    )
    fake = FakeAnthropic(buckets={COST: [], USAGE: [bucket(T0, HOUR, [row])]})
    provider = await start_anthropic(fake)
    [record] = await collect(provider, Window(T0, T0 + HOUR))
    assert (
        record.uncached_input_tokens,
        record.cached_input_tokens,
        record.cache_write_tokens,
    ) == (1500, 0, 0)


async def test_cost_amounts_are_cents_strings_turned_into_exact_dollars(
    start_anthropic: Start,
) -> None:
    rows = [
        cost_row("123.78912", "Claude Sonnet 4 Usage - Input Tokens"),
        cost_row("0.000001", "Claude Sonnet 4 Usage - Output Tokens", token_type="output_tokens"),
        cost_row(
            "8.90",
            "Code Execution Usage",
            model=None,
            cost_type="code_execution",
            workspace_id=None,
            service_tier=None,
            token_type=None,
            context_window=None,
        ),
    ]
    fake = FakeAnthropic(buckets={USAGE: [], COST: [bucket(T0, DAY, rows)]})
    provider = await start_anthropic(fake)
    records = await collect(provider, Window(T0, T0 + DAY))
    by_item = {r.line_item: r for r in records}
    assert Decimal("1.2378912") == by_item["Claude Sonnet 4 Usage - Input Tokens"].cost_usd
    assert Decimal("0.00000001") == by_item["Claude Sonnet 4 Usage - Output Tokens"].cost_usd
    code = by_item["Code Execution Usage"]
    assert (Decimal("0.089"), "", "default") == (code.cost_usd, code.model, code.project_id)
    assert {CostSource.BILLED} == {r.cost_source for r in records}
    assert records[0].width == DAY


async def test_cost_rows_split_by_tier_keep_distinct_line_items(start_anthropic: Start) -> None:
    rows = [
        cost_row("100", "Claude Sonnet 4 Usage - Input Tokens"),
        cost_row("50", "Claude Sonnet 4 Usage - Input Tokens", service_tier="batch"),
        cost_row("70", "Claude Sonnet 4 Usage - Input Tokens", context_window="200k-1M"),
    ]
    fake = FakeAnthropic(buckets={USAGE: [], COST: [bucket(T0, DAY, rows)]})
    provider = await start_anthropic(fake)
    records = await collect(provider, Window(T0, T0 + DAY))
    assert {
        "Claude Sonnet 4 Usage - Input Tokens",
        "Claude Sonnet 4 Usage - Input Tokens, batch",
        "Claude Sonnet 4 Usage - Input Tokens, 200k-1M",
    } == {r.line_item for r in records}
    assert Decimal("2.2") == sum((r.cost_usd for r in records), Decimal(0))


async def test_identical_groups_are_summed_never_dropped(start_anthropic: Start) -> None:
    """Two rows that costpipe cannot tell apart share a key: their money adds up."""
    rows = [
        cost_row("100", "Web Search Usage", inference_geo="global"),
        cost_row("25", "Web Search Usage", inference_geo="not_available"),
    ]
    fake = FakeAnthropic(buckets={USAGE: [], COST: [bucket(T0, DAY, rows)]})
    provider = await start_anthropic(fake)
    [record] = await collect(provider, Window(T0, T0 + DAY))
    assert Decimal("1.25") == record.cost_usd


async def test_requests_use_bracket_arrays_rfc3339_and_admin_headers(
    start_anthropic: Start,
) -> None:
    fake = FakeAnthropic(buckets={USAGE: [], COST: []})
    provider = await start_anthropic(fake)
    await collect(provider, Window(T0 + timedelta(minutes=30), T0 + DAY + timedelta(hours=2)))
    [cost] = fake.requests_to(COST)
    assert cost.query.getall("group_by[]") == ["workspace_id", "description"]
    assert (
        cost.query["starting_at"],
        cost.query["ending_at"],
        cost.query["bucket_width"],
        cost.query["limit"],
    ) == ("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z", "1d", "2")
    usage = fake.requests_to(USAGE)
    for seen in usage:
        assert seen.query.getall("group_by[]") == [
            "model",
            "workspace_id",
            "api_key_id",
            "service_tier",
            "context_window",
        ]
        assert seen.headers["x-api-key"] == "sk-ant-admin01-good"
        assert seen.headers["anthropic-version"] == "2023-06-01"
        assert "costpipe/" in seen.headers["User-Agent"]
    # In pieces of a day of hours, each asking one bucket past the piece (ending_at
    # and limit), whichever way the server reads "end before ending_at"; the extra
    # bucket is dropped.
    assert [
        (s.query["starting_at"], s.query["ending_at"], s.query["bucket_width"], s.query["limit"])
        for s in usage
    ] == [
        ("2026-11-01T00:00:00Z", "2026-11-02T01:00:00Z", "1h", "25"),
        ("2026-11-02T00:00:00Z", "2026-11-02T03:00:00Z", "1h", "3"),
    ]


async def test_pagination_across_pages(start_anthropic: Start) -> None:
    """One request (a day of hours) answered in three pages of eight buckets."""
    fake = FakeAnthropic(page_size=8)
    fake.buckets[COST] = []
    fake.buckets[USAGE] = [
        bucket(T0 + i * HOUR, HOUR, [usage_row(server_tool_use=None)]) for i in range(24)
    ]
    provider = await start_anthropic(fake)
    records = await collect(provider, Window(T0, T0 + DAY))
    assert len(records) == 24
    assert len({r.key for r in records}) == 24
    usage = fake.requests_to(USAGE)
    assert len(usage) == 3
    assert [s.query.get("page") is None for s in usage] == [True, False, False]


async def test_malformed_usage_page_is_set_aside_costs_still_arrive(
    start_anthropic: Start,
) -> None:
    fake = FakeAnthropic()
    fake.buckets[COST] = [bucket(T0, DAY, [cost_row("100", "Web Search Usage")])]
    fake.buckets[USAGE] = [bucket(T0, HOUR, [usage_row()])]
    fake.bad_pages[(USAGE, 0)] = '{"data": "not a list", "has_more": false}'
    provider = await start_anthropic(fake)
    records = await collect(provider, Window(T0, T0 + DAY))
    assert [Decimal(1)] == [r.cost_usd for r in records]
    assert provider.pages_set_aside == 1


async def test_overloaded_529_is_retried(start_anthropic: Start) -> None:
    row = usage_row(server_tool_use=None)
    fake = FakeAnthropic(buckets={COST: [], USAGE: [bucket(T0, HOUR, [row])]})
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    fake.script[USAGE] = deque([lambda: json_response(529, overloaded)])
    provider = await start_anthropic(fake)
    assert len(await collect(provider, Window(T0, T0 + HOUR))) == 1
    assert len(fake.requests_to(USAGE)) == 2
    assert provider.retries == 1


@pytest.mark.parametrize(
    ("key", "status", "phrase"),
    [
        ("sk-ant-nonsense", "HTTP 401", "invalid x-api-key"),
        ("sk-ant-api03-workspace", "HTTP 403", "cannot use the Admin API"),
    ],
)
async def test_refused_keys_name_the_admin_key_requirement(
    start_anthropic: Start, key: str, status: str, phrase: str
) -> None:
    fake = FakeAnthropic(buckets={COST: [], USAGE: []})
    provider = await start_anthropic(fake, key=key)
    with pytest.raises(AuthError) as caught:
        await collect(provider, Window(T0, T0 + DAY))
    message = str(caught.value)
    assert status in message
    assert phrase in message
    assert "anthropic.main" in message
    assert "sk-ant-admin" in message
    assert key not in message
    assert len(fake.seen) == 1


async def test_check_connection(start_anthropic: Start) -> None:
    fake = FakeAnthropic(buckets={COST: []})
    provider = await start_anthropic(fake)
    assert "Anthropic" in await provider.check_connection()
    [seen] = fake.seen
    assert seen.query["starting_at"] == "2026-11-19T00:00:00Z"


async def test_check_connection_fails_on_a_200_that_is_not_a_cost_report(
    start_anthropic: Start,
) -> None:
    """A wrong base_url that answers 200 with another shape is not an ok check."""
    fake = FakeAnthropic(buckets={COST: []})
    fake.script[COST] = deque([lambda: json_response(200, {"data": [{"starting_at": 1}]})])
    provider = await start_anthropic(fake)
    with pytest.raises(PageError, match=r"\$\.data\[0\]\.starting_at: expected `datetime`"):
        await provider.check_connection()


class TestAnthropicContract(ProviderContract):
    @pytest.fixture
    def contract_window(self) -> Window:
        return Window(T0, T0 + 2 * DAY)

    @pytest.fixture
    def secrets(self) -> list[str]:
        return ["sk-ant-admin01-good", "sk-ant-bad"]

    @pytest.fixture
    def fake(self) -> FakeAnthropic:
        fake = FakeAnthropic(page_size=5)
        fake.buckets[COST] = [
            bucket(T0 + i * DAY, DAY, [cost_row("10.5", "A"), cost_row("1", "B")]) for i in range(4)
        ]
        fake.buckets[USAGE] = [
            bucket(T0 + i * HOUR, HOUR, [usage_row(), usage_row(workspace_id=None)])
            for i in range(60)
        ]
        return fake

    @pytest.fixture
    async def provider(self, start_anthropic: Start, fake: FakeAnthropic) -> AnthropicProvider:
        return await start_anthropic(fake)

    @pytest.fixture
    async def refused_provider(
        self, start_anthropic: Start, fake: FakeAnthropic
    ) -> AnthropicProvider:
        return await start_anthropic(fake, key="sk-ant-bad")
