"""Usage-row fields off the fast path (not a plain int or string) read as before."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from structlog.testing import capture_logs

from costpipe.records import Window
from costpipe.testing import collect
from tests.providers.fakes import FakeOpenAI
from tests.providers.test_openai import (
    COMPLETIONS,
    COSTS,
    EMBEDDINGS,
    HOUR,
    T0,
    Start,
    bucket,
    completion_row,
    start_openai,
)

__all__ = ["start_openai"]  # the fixture, shared with test_openai

SPAN = Window(T0, T0 + HOUR)


def fake_with(*rows: dict[str, Any]) -> FakeOpenAI:
    return FakeOpenAI(buckets={COSTS: [], EMBEDDINGS: [], COMPLETIONS: [bucket(T0, HOUR, rows)]})


async def test_counts_as_decimals_strings_and_nulls_are_read_like_ints(start_openai: Start) -> None:
    plain = completion_row(user_id="u-plain")
    other = completion_row(
        user_id=42,  # a number as an ID becomes its text
        input_tokens=Decimal("1000"),
        input_cached_tokens="400",
        input_cache_write_tokens=None,
        input_uncached_tokens=None,  # derived: 1000 - 400 - 0
        output_tokens=Decimal("5E+2"),
        num_model_requests=None,
    )
    provider = await start_openai(fake_with(plain, other))
    records = {r.user_id: r for r in await collect(provider, SPAN)}
    assert set(records) == {"u-plain", "42"}
    got = records["42"]
    assert (600, 400, 0, 500, 0) == (
        got.uncached_input_tokens,
        got.cached_input_tokens,
        got.cache_write_tokens,
        got.output_tokens,
        got.requests,
    )
    assert got.line_item == records["u-plain"].line_item == "completions"
    assert provider.pages_set_aside == 0


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"output_tokens": True}, "`output_tokens` is a boolean"),
        ({"num_model_requests": -1}, "`num_model_requests` is negative"),
        ({"input_cached_tokens": 2**63}, "`input_cached_tokens` is implausibly large"),
        ({"input_tokens": Decimal("1.5")}, "`input_tokens` is not a whole number"),
        (
            {"input_uncached_tokens": None, "input_tokens": 10},
            "input_tokens 10 < cached 400 + cache writes 100",
        ),
    ],
)
async def test_bad_counts_set_the_page_aside_with_the_same_reason(
    start_openai: Start, fields: dict[str, Any], reason: str
) -> None:
    provider = await start_openai(fake_with(completion_row(**fields)))
    with capture_logs() as logs:
        assert await collect(provider, SPAN) == []
    assert provider.pages_set_aside == 1
    [aside] = [e for e in logs if e["event"] == "page_set_aside"]
    assert reason in aside["reason"]


async def test_line_items_follow_each_rows_tier(start_openai: Start) -> None:
    rows = [
        completion_row(user_id=f"u{i}", batch=batch, service_tier=tier)
        for i, (batch, tier) in enumerate(
            [(False, "flex"), (True, None), (False, "default"), (False, "flex"), (True, "flex")]
        )
    ]
    provider = await start_openai(fake_with(*rows))
    records = sorted(await collect(provider, SPAN), key=lambda r: r.user_id)
    assert [r.line_item for r in records] == [
        "completions, flex",
        "completions, batch",
        "completions",
        "completions, flex",
        "completions, batch, flex",
    ]
