"""The gateway provider against a small aiohttp fake of the gateway's usage API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp import web
from costpipe_gateway import GatewayConfig, GatewayProvider
from pydantic import SecretStr

from costpipe import AuthError, ComponentContext, Window
from costpipe.plugins import build_plugin_manager
from costpipe.testing import ProviderContract, collect

TOKEN = "gw-token-7f3c9e1d"
HOUR = timedelta(hours=1)
DAY0 = datetime(2026, 3, 10, tzinfo=UTC)
PAGE_SIZE = 7


@dataclass
class FakeGateway:
    """Deterministic hourly rows; pages of PAGE_SIZE rows; Bearer TOKEN required."""

    requests: list[str] = field(default_factory=list)
    broken_page: int | None = None

    @staticmethod
    def rows(start: datetime, end: datetime) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        hour = start
        while hour < end:
            n = int(hour.timestamp()) // 3600
            for team, user, model in (
                ("search", "alice", "gpt-4o-2024-08-06"),
                ("search", "bob", "gpt-4o-mini-2024-07-18"),
                ("ads", "carol", "claude-sonnet-4-20250514"),
            ):
                if (n + len(user)) % 4 == 0:
                    continue
                cached = n % 300
                rows.append(
                    {
                        "hour": hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "team": team,
                        "user": user,
                        "model": model,
                        "requests": 1 + n % 9,
                        "input_tokens": 1000 + n % 5000 + cached,
                        "cached_input_tokens": cached,
                        "output_tokens": 10 + n % 700,
                        "cost_usd": f"0.{n % 97:02d}{len(user)}0013",
                    }
                )
            hour += HOUR
        return rows

    def app(self) -> web.Application:
        async def usage(request: web.Request) -> web.Response:
            self.requests.append(request.path_qs)
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.json_response({"error": "invalid token"}, status=401)
            start = datetime.fromisoformat(request.query["start"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(request.query["end"].replace("Z", "+00:00"))
            page = int(request.query.get("page", "1"))
            if page == self.broken_page:
                return web.Response(text="<html>oops", content_type="text/html")
            rows = self.rows(start, end)
            chunk = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
            more = page * PAGE_SIZE < len(rows)
            return web.json_response({"rows": chunk, "next_page": page + 1 if more else None})

        app = web.Application()
        app.router.add_get("/v1/usage", usage)
        return app


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[FakeGateway, str]]:
    fake = FakeGateway()
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


Factory = Callable[..., Awaitable[GatewayProvider]]


@pytest.fixture
async def make_provider(gateway: tuple[FakeGateway, str], tmp_path: Path) -> AsyncIterator[Factory]:
    made: list[GatewayProvider] = []

    async def build(token: str = TOKEN, **options: object) -> GatewayProvider:
        # max_retries=0: a refused or broken request fails at once instead of backing off.
        config = GatewayConfig(
            api_key=SecretStr(token), base_url=gateway[1], max_retries=0, **options
        )
        # What the core hands every component: its instance name, a private state
        # folder and the shared bound on HTTP requests in flight (the rest defaults).
        context = ComponentContext("gateway.main", tmp_path, request_slots=asyncio.Semaphore(2))
        provider = GatewayProvider(config, context)
        await provider.start()
        made.append(provider)
        return provider

    yield build
    for provider in made:
        await provider.close()


class TestGatewayContract(ProviderContract):
    @pytest.fixture
    async def provider(self, make_provider: Factory) -> GatewayProvider:
        return await make_provider()

    @pytest.fixture
    async def refused_provider(self, make_provider: Factory) -> GatewayProvider:
        return await make_provider("wrong-token")

    @pytest.fixture
    def contract_window(self) -> Window:
        return Window(DAY0, DAY0 + 6 * HOUR)

    # No `secrets` fixture: both tokens are SecretStr config values, which the
    # suite looks for in every log line and error message by itself.


async def test_totals_match_the_rows_served(make_provider: Factory) -> None:
    """Two days over several pages and two chunks: every row, exactly once."""
    window = Window(DAY0, DAY0 + 48 * HOUR)
    records = await collect(await make_provider(), window)
    rows = FakeGateway.rows(window.start, window.end)
    assert sum((Decimal(str(r["cost_usd"])) for r in rows), Decimal(0)) == sum(
        (r.cost_usd for r in records), Decimal(0)
    )
    assert len(rows) == len(records)
    assert sum(int(str(r["input_tokens"])) for r in rows) == sum(r.input_tokens for r in records)


async def test_pages_and_chunks_are_followed(
    make_provider: Factory, gateway: tuple[FakeGateway, str]
) -> None:
    await collect(await make_provider(chunk=timedelta(hours=12)), Window(DAY0, DAY0 + 24 * HOUR))
    first_pages = [q for q in gateway[0].requests if q.endswith("page=1")]
    assert len(first_pages) == 2
    assert any("page=3" in q for q in gateway[0].requests)


async def test_cached_tokens_are_not_counted_twice(make_provider: Factory) -> None:
    records = await collect(await make_provider(), Window(DAY0 + HOUR, DAY0 + 2 * HOUR))
    rows = FakeGateway.rows(DAY0 + HOUR, DAY0 + 2 * HOUR)
    by_user = {r.user_id: r for r in records}
    for row in rows:
        record = by_user[str(row["user"])]
        assert row["input_tokens"] == record.input_tokens
        assert row["cached_input_tokens"] == record.cached_input_tokens


async def test_unaligned_window_fetches_the_hours_that_end_inside_it(
    make_provider: Factory,
) -> None:
    """[00:30, 03:05) holds the ends of the hours starting 00:00, 01:00 and 02:00
    (the 00:00 hour was not complete when the previous window closed at 00:30)."""
    records = await collect(
        await make_provider(),
        Window(DAY0 + timedelta(minutes=30), DAY0 + 3 * HOUR + timedelta(minutes=5)),
    )
    assert {DAY0, DAY0 + HOUR, DAY0 + 2 * HOUR} == {r.start for r in records}


async def test_a_broken_page_is_set_aside(
    make_provider: Factory, gateway: tuple[FakeGateway, str]
) -> None:
    gateway[0].broken_page = 2
    provider = await make_provider()
    records = await collect(provider, Window(DAY0, DAY0 + 24 * HOUR))
    assert len(records) == PAGE_SIZE
    assert provider.pages_set_aside == 1


async def test_check_connection_tests_the_token(make_provider: Factory) -> None:
    """`costpipe check --connect` passes with the token and fails without it."""
    assert "accepted the token" in await (await make_provider()).check_connection()
    with pytest.raises(AuthError, match="usage:read"):
        await (await make_provider("wrong-token")).check_connection()


async def test_wrong_token_is_an_auth_error_naming_the_scope(make_provider: Factory) -> None:
    with pytest.raises(AuthError, match="usage:read"):
        await collect(await make_provider("nope"), Window(DAY0, DAY0 + HOUR))


def test_installed_entry_point_registers_the_provider() -> None:
    """`pip install -e plugins/costpipe-gateway` makes `costpipe plugins` list it."""
    _pm, registry = build_plugin_manager(builtins=())
    assert registry.get("providers", "gateway") is GatewayProvider
    info = next(p for p in registry.plugins if p.name == "gateway")
    assert info.source == "entry point of costpipe-gateway"
