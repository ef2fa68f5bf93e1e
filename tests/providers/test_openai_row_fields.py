"""Usage-row fields against the spec's types: nulls where the spec allows them are
absent; anything else off-type sets the page aside with the JSON path of the value."""

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


async def test_null_optional_counts_read_as_absent(start_openai: Start) -> None:
    """The spec's optional counts (cache fields) may be null: read as 0, uncached derived."""
    row = completion_row(
        user_id="u-null",
        input_tokens=1000,
        input_cached_tokens=400,
        input_cache_write_tokens=None,
        input_uncached_tokens=None,  # derived: 1000 - 400 - 0
    )
    provider = await start_openai(fake_with(row))
    [got] = await collect(provider, SPAN)
    assert (600, 400, 0, 500, 5) == (
        got.uncached_input_tokens,
        got.cached_input_tokens,
        got.cache_write_tokens,
        got.output_tokens,
        got.requests,
    )
    assert provider.pages_set_aside == 0


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        # The spec says integer: what today's typed decoder refuses, with the path.
        ({"input_cached_tokens": "400"}, ".input_cached_tokens: expected `int | null`, got `str`"),
        ({"output_tokens": Decimal("5E+2")}, ".output_tokens: expected `int`, got `float`"),
        ({"input_tokens": Decimal("1000.0")}, ".input_tokens: expected `int`, got `float`"),
        ({"input_tokens": Decimal("1.5")}, ".input_tokens: expected `int`, got `float`"),
        ({"output_tokens": True}, ".output_tokens: expected `int`, got `bool`"),
        ({"num_model_requests": None}, ".num_model_requests: expected `int`, got `null`"),
        ({"num_model_requests": -1}, ".num_model_requests: expected `int` >= 0"),
        (
            {"input_cached_tokens": 2**63},
            ".input_cached_tokens: expected `int` <= 9223372036854775807",
        ),
        ({"user_id": 42}, ".user_id: expected `str | null`, got `int`"),
        ({"batch": "yes"}, ".batch: expected `bool | null`, got `str`"),
        (
            {"input_uncached_tokens": None, "input_tokens": 10},
            ".input_tokens: input_tokens 10 < cached 400 + cache writes 100",
        ),
    ],
)
async def test_bad_fields_set_the_page_aside_naming_their_json_path(
    start_openai: Start, fields: dict[str, Any], reason: str
) -> None:
    provider = await start_openai(fake_with(completion_row(**fields)))
    with capture_logs() as logs:
        assert await collect(provider, SPAN) == []
    assert provider.pages_set_aside == 1
    [aside] = [e for e in logs if e["event"] == "page_set_aside"]
    assert "$.data[0].results[0]" + reason in aside["reason"]


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
