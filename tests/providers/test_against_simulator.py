"""Both providers against costpipe's wire-faithful simulator: totals match its ground truth."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costpipe.components import ComponentContext, Provider
from costpipe.engine.pipeline import Outcome, Pipeline
from costpipe.engine.state import Checkpoints
from costpipe.errors import AuthError
from costpipe.providers.anthropic import AnthropicConfig, AnthropicProvider
from costpipe.providers.base import EndpointError
from costpipe.providers.openai import OpenAIConfig, OpenAIProvider
from costpipe.records import CostRecord, Window
from costpipe.simulator import Simulator, SimulatorOptions
from costpipe.testing import MemorySink, collect
from tests.providers.fakes import FakeClock

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
WINDOW = Window(datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 11, 18, tzinfo=UTC))


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    sim = Simulator(SimulatorOptions(now=NOW))
    await sim.start()
    yield sim
    await sim.stop()


def build(
    sim: Simulator, kind: str, tmp_path: Path, clock: FakeClock | None = None, **options: Any
) -> Provider[Any]:
    context = ComponentContext(instance=f"{kind}.sim", state_dir=tmp_path)
    timer = (clock or FakeClock()).timer()  # retry waits are recorded, not slept
    if kind == "openai":
        options.setdefault("base_url", sim.openai_base_url)
        config = OpenAIConfig(api_key=sim.openai_admin_key, **options)
        return OpenAIProvider(config, context, clock=lambda: NOW, timer=timer)
    options.setdefault("base_url", sim.anthropic_base_url)
    anthropic = AnthropicConfig(api_key=sim.anthropic_admin_key, **options)
    return AnthropicProvider(anthropic, context, clock=lambda: NOW, timer=timer)


async def fetch(provider: Provider[Any], window: Window = WINDOW) -> list[CostRecord]:
    await provider.start()
    try:
        return await collect(provider, window)
    finally:
        await provider.close()


def totals(records: list[CostRecord]) -> tuple[Decimal, int, int, int, int, int]:
    usage = [r for r in records if not r.is_billed]
    return (
        sum((r.cost_usd for r in records if r.is_billed), Decimal(0)),
        sum(r.uncached_input_tokens for r in usage),
        sum(r.cached_input_tokens for r in usage),
        sum(r.cache_write_tokens + r.cache_write_1h_tokens for r in usage),
        sum(r.output_tokens for r in usage),
        # Model requests; Anthropic's web-search request rows are checked in
        # tests/providers/test_anthropic_windows.py.
        sum(r.requests for r in usage if r.line_item != "web_search"),
    )


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_billed_money_and_every_token_category_match_the_truth(
    simulator: Simulator, kind: str, tmp_path: Path
) -> None:
    provider = build(simulator, kind, tmp_path)
    records = await fetch(provider)
    truth = simulator.truth(kind, WINDOW.start, WINDOW.end)["total"]
    expected = (
        truth.cost_usd,
        truth.uncached_input,
        truth.cached_input,
        truth.cache_write,
        truth.output,
        truth.requests,
    )
    assert expected == totals(records)
    assert provider.pages_set_aside == 0
    assert len({r.key for r in records}) == len(records)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_hourly_usage_is_read_a_day_per_page_within_the_documented_limit(
    simulator: Simulator, kind: str, tmp_path: Path
) -> None:
    """Hourly usage pieces are a day of buckets (the documented default ``limit``
    for ``1h``, which bounds a page's memory), not the maximum week: the simulator
    enforces the documented bounds (a 400 above the maximum) and serves each piece
    in one page, so three days cost three requests per usage endpoint (OpenAI's
    vector stores are always daily: one)."""
    provider = build(simulator, kind, tmp_path, bucket_width="1h")
    records = await fetch(provider)
    assert records
    assert provider.pages_set_aside == 0
    served = simulator.stats()["by_endpoint"]
    assert isinstance(served, dict)
    usage = {path: counts for path, counts in served.items() if "usage" in path}
    assert usage
    expected = {path: {"200": 1 if path.endswith("/vector_stores") else 3} for path in usage}
    assert expected == usage


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_429s_and_5xx_are_retried_to_the_same_totals(
    simulator: Simulator, kind: str, tmp_path: Path
) -> None:
    clean = totals(await fetch(build(simulator, kind, tmp_path)))
    simulator.set_faults(rate_429=0.3, retry_after_s=1, rate_5xx=0.3)
    clock = FakeClock()
    provider = build(simulator, kind, tmp_path, clock, max_retries=10)
    assert clean == totals(await fetch(provider))
    assert provider.retries == len(clock.sleeps) > 0
    # Retry-After: 1 or a doubling from retry_backoff (1 s, jittered in its upper half).
    assert all(0.5 <= wait <= 60 for wait in clock.sleeps)


@pytest.mark.parametrize("kind", ["json", "shape"])
async def test_a_malformed_page_is_set_aside_and_the_run_goes_on(
    simulator: Simulator, kind: str, tmp_path: Path
) -> None:
    simulator.set_faults(malformed_page=1, malformed_kind=kind)
    provider = build(simulator, "anthropic", tmp_path)
    records = await fetch(provider)
    assert provider.pages_set_aside == 1
    assert [r for r in records if not r.is_billed] != []


async def test_a_revoked_key_raises_auth_error(simulator: Simulator, tmp_path: Path) -> None:
    simulator.set_faults(revoke_key=1)
    provider = build(simulator, "openai", tmp_path)
    with pytest.raises(AuthError, match="HTTP 401"):
        await fetch(provider, Window(WINDOW.start, WINDOW.start + timedelta(days=40)))
    assert provider.retries == 0


@pytest.mark.parametrize(
    ("kind", "wrong_base", "documented"),
    [
        ("openai", "", "https://api.openai.com/v1"),  # /v1 left out
        ("anthropic", "/v1", "https://api.anthropic.com"),  # /v1 added twice
    ],
)
async def test_a_wrong_base_url_is_a_configuration_error_not_set_aside_pages(
    simulator: Simulator, kind: str, wrong_base: str, documented: str, tmp_path: Path
) -> None:
    base = simulator.base_url + wrong_base
    provider = build(simulator, kind, tmp_path, base_url=base)
    with pytest.raises(EndpointError) as caught:
        await fetch(provider)
    message = str(caught.value)
    path = "/organization/costs" if kind == "openai" else "/v1/organizations/cost_report"
    assert f"{kind}.sim: {base}{path} answered HTTP 404" in message
    assert f"`base_url` ({base})" in message
    assert (
        f"Check the config key `base_url` of {kind}.sim: the provider documents {documented}"
        in (message)
    )
    # Not retried, not reported as bad data: the first 404 ends the pass.
    assert (provider.pages_set_aside, provider.retries, provider.pages_fetched) == (0, 0, 0)


async def test_a_wrong_base_url_fails_check_connect_with_the_same_message(
    simulator: Simulator, tmp_path: Path
) -> None:
    provider = build(simulator, "openai", tmp_path, base_url=simulator.base_url)
    await provider.start()
    try:
        with pytest.raises(
            EndpointError, match=r"the provider documents https://api\.openai\.com/v1"
        ):
            await provider.check_connection()
    finally:
        await provider.close()


async def test_a_wrong_base_url_fails_the_pass_instead_of_setting_pages_aside(
    simulator: Simulator, tmp_path: Path
) -> None:
    """Before, each 404 was a page set aside: the pass read "3 page(s) set aside"."""
    provider = build(simulator, "openai", tmp_path, base_url=simulator.base_url)
    pipeline = Pipeline([], [MemorySink.create()], Checkpoints(tmp_path / "checkpoints.json"))
    await provider.start()
    try:
        [result] = await pipeline.run({provider: WINDOW})
    finally:
        await provider.close()
    assert result.outcome is Outcome.FAILED
    assert result.error is not None
    assert "answered HTTP 404" in result.error
    assert "the provider documents https://api.openai.com/v1" in result.error
    assert "set aside" not in result.error
