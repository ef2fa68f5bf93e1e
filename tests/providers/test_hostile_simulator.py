"""Every built-in provider against the simulator's hostile modes (issue 13).

The simulator answers with a redirect to another server, endless pages, padded
pages or gzip bombs on every vendor's API; each provider must refuse the
redirect without sending anything to its target, fail its pass at the page
bound, and set oversized pages aside with memory bounded by its limit.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr
from structlog.testing import capture_logs

from costpipe.components import ComponentContext
from costpipe.engine.pipeline import Outcome, Pipeline
from costpipe.engine.state import Checkpoints
from costpipe.providers.anthropic import AnthropicConfig, AnthropicProvider
from costpipe.providers.base import EndpointError, HttpProvider, PagingLimitError
from costpipe.providers.litellm import LiteLLMConfig, LiteLLMProvider
from costpipe.providers.openai import OpenAIConfig, OpenAIProvider
from costpipe.providers.openrouter import OpenRouterConfig, OpenRouterProvider
from costpipe.records import Window
from costpipe.simulator import Simulator, SimulatorOptions
from costpipe.testing import MemorySink, collect
from tests.providers.fakes import FakeClock, Serve

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
WINDOW = Window(datetime(2026, 11, 17, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
MiB = 1024 * 1024
KINDS = ["openai", "anthropic", "openrouter", "litellm"]


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator(SimulatorOptions(now=NOW))
    await sim.start()
    yield sim
    await sim.stop()


def build(sim: Simulator, kind: str, tmp_path: Path, **options: Any) -> HttpProvider[Any]:
    context = ComponentContext(instance=f"{kind}.sim", state_dir=tmp_path)
    options = {"max_retries": 0, **options}
    timer = FakeClock().timer()
    if kind == "openai":
        config = OpenAIConfig(api_key=sim.openai_admin_key, base_url=sim.openai_base_url, **options)
        return OpenAIProvider(config, context, clock=lambda: NOW, timer=timer)
    if kind == "anthropic":
        anthropic = AnthropicConfig(
            api_key=sim.anthropic_admin_key, base_url=sim.anthropic_base_url, **options
        )
        return AnthropicProvider(anthropic, context, clock=lambda: NOW, timer=timer)
    if kind == "openrouter":
        openrouter = OpenRouterConfig(
            api_key=SecretStr(sim.openrouter.management_key),
            base_url=sim.openrouter_base_url,
            **options,
        )
        return OpenRouterProvider(openrouter, context, clock=lambda: NOW, timer=timer)
    litellm = LiteLLMConfig(
        api_key=SecretStr(sim.litellm.master_key), base_url=sim.litellm_base_url, **options
    )
    return LiteLLMProvider(litellm, context, clock=lambda: NOW, timer=timer)


async def fetch(provider: HttpProvider[Any]) -> int:
    await provider.start()
    try:
        return len(await collect(provider, WINDOW))
    finally:
        await provider.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_redirect_to_another_host_receives_nothing(
    simulator: Simulator, serve: Serve, kind: str, tmp_path: Path
) -> None:
    received: list[dict[str, str]] = []

    async def thief(request: web.Request) -> web.Response:
        received.append(dict(request.headers))
        return web.Response(text="{}")

    app = web.Application()
    app.router.add_get("/{tail:.*}", thief)
    target = await serve(app) + "/collect"
    simulator.set_faults(redirect_to=target)
    provider = build(simulator, kind, tmp_path)
    with pytest.raises(EndpointError, match=f"a redirect to {target}"):
        await fetch(provider)
    assert [] == received
    assert provider.pages_set_aside == 0


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_endless_pages_fail_the_pass_at_max_pages(
    simulator: Simulator, kind: str, tmp_path: Path
) -> None:
    simulator.set_faults(endless_pages=True)
    provider = build(simulator, kind, tmp_path, max_pages=40)
    with pytest.raises(PagingLimitError, match=r"still had more pages after 40 \(max_pages\)"):
        await fetch(provider)
    # The endless request's 40 pages, and the first page of the next request,
    # fetched ahead meanwhile (concurrent_requests = 2).
    assert provider.pages_fetched == 41
    assert provider.pages_set_aside == 0


async def test_litellm_endless_total_pages_end_on_the_first_empty_page(
    simulator: Simulator, tmp_path: Path
) -> None:
    """LiteLLM's endless mode sends empty pages: a short page ends the walk."""
    simulator.set_faults(endless_pages=True)
    provider = build(simulator, "litellm", tmp_path, max_pages=40)
    assert 0 == await fetch(provider)
    assert provider.pages_fetched == 2  # one walk per 24-hour piece


async def test_endless_pages_fail_the_pass_at_max_fetch_duration(
    simulator: Simulator, tmp_path: Path
) -> None:
    simulator.set_faults(endless_pages=True)
    provider = build(simulator, "openai", tmp_path, max_fetch_duration=timedelta(minutes=5))
    clock = FakeClock()
    provider.http.timer = clock.timer()
    pages = 0

    async def consume() -> None:
        nonlocal pages
        async for _batch in provider.fetch(WINDOW):
            pages += 1
            clock.now += 60  # each page takes a minute

    await provider.start()
    try:
        with pytest.raises(PagingLimitError, match=r"has taken 5m \(max_fetch_duration\)"):
            await consume()
    finally:
        await provider.close()
    assert pages == 5


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fault", ["oversized_page_bytes", "gzip_bomb_bytes"])
async def test_oversized_and_compressed_pages_are_set_aside(
    simulator: Simulator, kind: str, fault: str, tmp_path: Path
) -> None:
    simulator.set_faults(**{fault: 4 * MiB})
    provider = build(simulator, kind, tmp_path, max_response_bytes=MiB)
    with capture_logs() as logs:
        await fetch(provider)
    asides = [e for e in logs if e["event"] == "page_set_aside"]
    assert asides, "every page was too large: each request's page is set aside"
    assert provider.pages_set_aside == len(asides)
    assert all("larger than 1 MiB after decompression" in e["reason"] for e in asides)


@pytest.mark.slow  # the simulator streams 256 MiB pages (about 2 s)
@pytest.mark.parametrize("fault", ["oversized_page_bytes", "gzip_bomb_bytes"])
async def test_memory_stays_bounded_by_the_limit_not_the_page(
    simulator: Simulator, fault: str, tmp_path: Path
) -> None:
    simulator.set_faults(**{fault: 256 * MiB})
    provider = build(simulator, "openai", tmp_path, max_response_bytes=MiB)
    tracemalloc.start()
    try:
        await fetch(provider)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert provider.pages_set_aside > 0
    # Simulator and client in one process: a few MiB, never the 256 MiB pages.
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB"


def pipeline(tmp_path: Path) -> Pipeline:
    return Pipeline([], [MemorySink.create()], Checkpoints(tmp_path / "checkpoints.json"))


async def test_an_endless_pager_fails_its_pass_in_the_pipeline(
    simulator: Simulator, tmp_path: Path
) -> None:
    simulator.set_faults(endless_pages=True)
    provider = build(simulator, "anthropic", tmp_path, max_pages=25)
    await provider.start()
    try:
        [result] = await pipeline(tmp_path).run({provider: WINDOW})
    finally:
        await provider.close()
    assert result.outcome is Outcome.FAILED  # a failure, not "partial" with pages set aside
    assert result.error is not None
    assert "/v1/organizations/cost_report still had more pages after 25 (max_pages)" in (
        result.error
    )
    assert provider.pages_set_aside == 0


async def test_a_stop_ends_an_endless_pass_between_pages(
    simulator: Simulator, tmp_path: Path
) -> None:
    """The provider yields after every page, records or not, so the pipeline's stop
    is honoured within a page or two instead of never."""
    simulator.set_faults(endless_pages=True)
    provider = build(simulator, "openai", tmp_path)
    runner = pipeline(tmp_path)
    await provider.start()
    try:
        task = asyncio.create_task(runner.run({provider: WINDOW}))
        # Nothing signals a fetched page (empty pages reach no sink): poll the
        # counter, yielding to the pass in between without any real wait.
        while provider.pages_fetched < 5:  # noqa: ASYNC110
            await asyncio.sleep(0)
        runner.stop_requested.set()
        stopped_at = provider.pages_fetched
        [result] = await asyncio.wait_for(task, timeout=30)
    finally:
        await provider.close()
    assert result.outcome is Outcome.STOPPED
    assert provider.pages_fetched <= stopped_at + 1
