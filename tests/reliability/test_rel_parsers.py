"""Hostile pages for every provider parser (OpenAI, Anthropic, OpenRouter,
LiteLLM): real simulator pages, mutated by hypothesis (a value anywhere in the
tree replaced by a hostile one, a key dropped, a list emptied or doubled). The
parser (each provider's public decoder, fed the page's bytes) must return
records or raise MalformedDataError (the provider sets the page aside): never
any other exception. Unparseable bodies (truncated JSON, deep nesting, invalid
UTF-8) must be a PageError from ``get_json`` and a page set aside through a
provider's fetch."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from costpipe.components import ComponentContext
from costpipe.errors import MalformedDataError
from costpipe.providers.anthropic import AnthropicConfig, AnthropicProvider
from costpipe.providers.base import Page, PageError
from costpipe.providers.litellm import LiteLLMConfig, LiteLLMProvider
from costpipe.providers.litellm.decode import HourlySpend
from costpipe.providers.litellm.decode import decode as decode_spend_logs
from costpipe.providers.openai import OpenAIConfig, OpenAIProvider
from costpipe.providers.openrouter import OpenRouterConfig, OpenRouterProvider
from costpipe.providers.openrouter.decode import activity_records, decode_activity
from costpipe.providers.planning import PageDecoder
from costpipe.records import CostRecord, Window
from costpipe.simulator import Simulator
from costpipe.sinks.influxdb.encoder import cost_nanos

from .support import small_options

NOW = datetime(2026, 5, 14, 15, 0, tzinfo=UTC)
WINDOW = Window(datetime(2026, 5, 11, tzinfo=UTC), datetime(2026, 5, 14, tzinfo=UTC))
Parser = Callable[[Page], list[CostRecord]]


def context(instance: str, tmp: Path) -> ComponentContext:
    return ComponentContext(
        instance=instance, state_dir=tmp / instance, request_slots=asyncio.Semaphore(4)
    )


def providers(sim: Simulator | None, tmp: Path) -> dict[str, Any]:
    """One provider of each kind, for *sim* (or for nothing: parsers only)."""

    def config(model: Any, key: str, url: str) -> Any:
        if sim is None:
            return model(api_key=SecretStr("sk-unused"), base_url="http://127.0.0.1:9")
        return model(api_key=SecretStr(key), base_url=url)

    clock = lambda: NOW  # noqa: E731
    openrouter_key = sim.openrouter.management_key if sim else ""  # type: ignore[attr-defined]
    litellm_key = sim.litellm.master_key if sim else ""  # type: ignore[attr-defined]
    return {
        "openai": OpenAIProvider(
            config(OpenAIConfig, sim and sim.openai_admin_key, sim and sim.openai_base_url),
            context("openai.x", tmp),
            clock=clock,
        ),
        "anthropic": AnthropicProvider(
            config(
                AnthropicConfig, sim and sim.anthropic_admin_key, sim and sim.anthropic_base_url
            ),
            context("anthropic.x", tmp),
            clock=clock,
        ),
        "openrouter": OpenRouterProvider(
            config(OpenRouterConfig, openrouter_key, sim and sim.openrouter_base_url),
            context("openrouter.x", tmp),
        ),
        "litellm": LiteLLMProvider(
            config(LiteLLMConfig, litellm_key, sim and sim.litellm_base_url),
            context("litellm.x", tmp),
        ),
    }


_AS_NUMBERS = msgspec.json.Encoder(decimal_format="number")
_AS_TEXT = msgspec.json.Encoder()


def as_bytes(body: Any) -> bytes:
    """A mutated body as a server would send it (Decimals as JSON numbers)."""
    try:
        return _AS_NUMBERS.encode(body)
    except UnicodeEncodeError:  # a lone surrogate: escaped, as json writes it
        return json.dumps(body, default=str).encode()
    except ValueError:  # a non-finite Decimal has no JSON number: sent as text
        return _AS_TEXT.encode(body)


def litellm_parser(account: str, piece: Window) -> Parser:
    """The LiteLLM decoder and hourly aggregation, on the page's bytes."""

    def parse(page: Page) -> list[CostRecord]:
        hours = HourlySpend(piece)
        hours.add(decode_spend_logs(as_bytes(page.body)).data)
        return hours.records(account)

    return parse


def bucketed_parser(decode: PageDecoder) -> Parser:
    """An OpenAI or Anthropic page decoder (public, bytes in), as a Parser."""

    def parse(page: Page) -> list[CostRecord]:
        return decode(as_bytes(page.body)).records

    return parse


def openrouter_parser(account: str, span: Window) -> Parser:
    """The OpenRouter activity decoder, on the page's bytes."""

    def parse(page: Page) -> list[CostRecord]:
        return activity_records(decode_activity(as_bytes(page.body)), span, account, True)

    return parse


async def _templates(tmp: Path) -> list[tuple[str, str, Any]]:
    """(provider, path, decoded body) of real simulator pages."""
    sim = Simulator(small_options(61, NOW))
    await sim.start()
    found: list[tuple[str, str, Any]] = []
    try:
        made = providers(sim, tmp)
        requests: list[tuple[str, str, str, list[tuple[str, str]]]] = []
        for name in ("openai", "anthropic"):
            for path, params, _ in made[name].requests(WINDOW, NOW):
                requests.append((name, made[name].http.base_url, path, params))
        day = [("date", "2026-05-12")]
        requests.append(("openrouter", sim.openrouter_base_url, "/activity", day))
        logs = [
            ("start_date", "2026-05-12 00:00:00"),
            ("end_date", "2026-05-12 23:59:59"),
            ("page_size", "100"),
        ]
        requests.append(("litellm", sim.litellm_base_url, "/spend/logs/v2", logs))
        async with aiohttp.ClientSession() as session:
            for name, base, path, params in requests:
                headers = dict(made[name].auth_headers(made[name].config))
                async with session.get(base + path, params=params, headers=headers) as response:
                    assert response.status == 200, await response.text()
                    body = json.loads(await response.read(), parse_float=Decimal)
                found.append((name, path, body))
    finally:
        await sim.stop()
    return found


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, Any]]:
    return asyncio.run(_templates(tmp_path_factory.mktemp("templates")))


@pytest.fixture(scope="module")
def parsers(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Parser]:
    made = providers(None, tmp_path_factory.mktemp("parsers"))
    found: dict[tuple[str, str], Parser] = {}
    for name in ("openai", "anthropic"):
        for path, _, decode in made[name].requests(WINDOW, NOW):
            found[(name, path)] = bucketed_parser(decode)
    found[("openrouter", "/activity")] = openrouter_parser("openrouter.x", WINDOW)
    found[("litellm", "/spend/logs/v2")] = litellm_parser("litellm.x", WINDOW)
    return found


HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -1, 2**63, 10**400]),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "",
            "NaN",
            "-Infinity",
            "1e999999",
            "9" * 5000,
            "2026-02-30T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00",
            "\x00",
            "'; DROP TABLE costs; --",
            "\ud7ff\u202e\ufeff",
            "a\nb=c, d\\",
            "usd",
            "EUR",
        ]
    ),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every location in a JSON tree (the root included)."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node[:4]):
            found += paths(value, (*prefix, index))
    return found


def mutate(body: Any, where: tuple[Any, ...], how: str, value: Any) -> Any:
    if not where:
        return value
    copy = json.loads(json.dumps(body, default=str))  # a deep copy; Decimals become strings
    parent = copy
    for step in where[:-1]:
        parent = parent[step]
    last = where[-1]
    if how == "drop" and isinstance(parent, dict):
        del parent[last]
    elif how == "double" and isinstance(parent[last], list):
        parent[last] = parent[last] * 2
    else:
        parent[last] = value
    return copy


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,  # CI runs the same 400 examples every time
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_pages_give_records_or_malformed_data(
    templates: list[tuple[str, str, Any]],
    parsers: dict[tuple[str, str], Parser],
    data: st.DataObject,
) -> None:
    name, path, body = data.draw(st.sampled_from(templates))
    where = data.draw(st.sampled_from(paths(body)))
    how = data.draw(st.sampled_from(["replace", "drop", "double"]))
    broken = mutate(body, where, how, data.draw(HOSTILE))
    for _ in range(data.draw(st.integers(0, 2))):  # sometimes several faults at once
        broken = mutate(
            broken, data.draw(st.sampled_from(paths(broken))), "replace", data.draw(HOSTILE)
        )
    parse = parsers[(name, path)]
    try:
        records = parse(Page("http://127.0.0.1/x", broken))
    except MalformedDataError:
        return
    for record in records:
        # Whatever a parser accepts, both stores can hold (signed 64-bit integers).
        assert isinstance(record, CostRecord)
        assert abs(cost_nanos(record.cost_usd)) < 2**63
        for count in (
            record.uncached_input_tokens,
            record.cached_input_tokens,
            record.cache_write_tokens,
            record.output_tokens,
            record.requests,
        ):
            assert 0 <= count < 2**63


def test_unmutated_templates_parse(
    templates: list[tuple[str, str, Any]], parsers: dict[tuple[str, str], Parser]
) -> None:
    """The fuzz starts from pages that do give records (else it proves nothing)."""
    for name, path, body in templates:
        parsers[(name, path)](Page("http://127.0.0.1/x", body))
    assert {name for name, _, _ in templates} == {"openai", "anthropic", "openrouter", "litellm"}


BAD_BODIES = [
    b'{"data": [{"start_time": 1',  # truncated
    b"[" * 100_000 + b"]" * 100_000,  # nesting deeper than any parser's recursion limit
    b'{"data": "\xff\xfe"}',  # not UTF-8
    b"",  # empty
    b"<html>502 Bad Gateway</html>",
    b'{"data": [], "has_more": true, "next_page": "x"}' * 2,  # two documents
]


async def test_unparseable_bodies_are_page_errors(tmp_path: Path) -> None:
    current: list[bytes] = []

    async def serve(_request: web.Request) -> web.Response:
        return web.Response(body=current[0], content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    provider = OpenAIProvider(
        OpenAIConfig(api_key=SecretStr("sk-admin-x"), base_url=base + "/v1", max_retries=0),
        context("openai.bad", tmp_path),
        clock=lambda: NOW,
    )
    await provider.start()
    try:
        for body in BAD_BODIES:
            current[:] = [body]
            with pytest.raises(PageError):
                await provider.http.get_json("/organization/costs")
            # Through the provider, the page is set aside and the pass goes on.
            before = provider.pages_set_aside
            async for _batch in provider.fetch(WINDOW):
                pass
            assert provider.pages_set_aside > before
    finally:
        await provider.close()
        await runner.cleanup()
