"""Hypothesis fuzzing of the OpenAI and Anthropic decoders (bytes in).

* Valid pages generated from the documented schemas decode to what a plain
  reference model computes from the same rows: exact Decimal money (JSON
  numbers and decimal strings with up to 20 significant digits), token sums
  of rows that share a key, buckets outside the span dropped, the cursor.
* A hostile value in one field of one row refuses the page with the JSON path
  of that field, whatever the field and the row.

Mutated real simulator pages are fuzzed in tests/reliability/test_rel_parsers.py.
The CI profile (tests/conftest.py) derandomizes every test here.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costpipe.pricing.prices import PriceTable, TokenUsage
from costpipe.providers.anthropic import decode as anthropic
from costpipe.providers.anthropic.provider import AnthropicPricer
from costpipe.providers.bucketed import Scope
from costpipe.providers.openai import decode as openai
from costpipe.providers.planning import UsagePricer
from costpipe.providers.typed_json import PageMalformed
from costpipe.records import CostRecord, Window

#: A quarter of the loaded profile's examples (the thorough profile still runs 500):
#: each example builds a whole page, and the fast tier keeps each test near 2 s.
#: Generating whole pages is slow on a loaded machine: that health check is off.
EXAMPLES = max(20, settings.default.max_examples // 4)

DAY = Window(datetime(2026, 5, 13, tzinfo=UTC), datetime(2026, 5, 14, tzinfo=UTC))
HOUR = timedelta(hours=1)
TABLE = PriceTable.bundled()
_NUMBERS = msgspec.json.Encoder(decimal_format="number")

AMOUNTS = st.decimals(
    min_value=Decimal("-99999999"), max_value=Decimal("99999999"), places=12, allow_nan=False
)
COUNTS = st.integers(0, 2**40)
NAMES = st.one_of(st.none(), st.sampled_from(["a", "b", 'x "y"=1 ü \\', ""]))
OPENAI_MODELS = st.sampled_from(["gpt-4o-2024-08-06", "gpt-4o-mini", "gpt-unknown", None])
CLAUDE_MODELS = st.sampled_from(["claude-sonnet-4-20250514", "claude-unknown", None])


def scope(kind: str, span: Window = DAY) -> Scope:
    log = structlog.get_logger("fuzz")
    if kind == "anthropic":
        return Scope("acct", span, AnthropicPricer("fuzz", TABLE, log))
    return Scope("acct", span, UsagePricer(kind, "fuzz", TABLE, log))


def openai_page(buckets: list[tuple[datetime, timedelta, list[Any]]], more: bool) -> bytes:
    data = [
        {
            "object": "bucket",
            "start_time": int(start.timestamp()),
            "end_time": int((start + width).timestamp()),
            "results": rows,
        }
        for start, width, rows in buckets
    ]
    page = {"object": "page", "data": data, "has_more": more, "next_page": "c1" if more else None}
    return _NUMBERS.encode(page)


def anthropic_page(buckets: list[tuple[datetime, timedelta, list[Any]]]) -> bytes:
    data = [
        {
            "starting_at": start.isoformat().replace("+00:00", "Z"),
            "ending_at": (start + width).isoformat(),
            "results": rows,
        }
        for start, width, rows in buckets
    ]
    return _NUMBERS.encode({"data": data, "has_more": False, "next_page": None})


def by_key(records: list[CostRecord]) -> dict[tuple[Any, ...], CostRecord]:
    got = {
        (r.start, r.model, r.user_id, r.project_id, r.api_key_id, r.line_item): r for r in records
    }
    assert len(got) == len(records), "two records share a key"
    return got


@st.composite
def cost_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    return [
        {
            "object": "organization.costs.result",
            # As a JSON number or as a decimal string: both exact.
            "amount": {
                "value": draw(st.one_of(AMOUNTS, AMOUNTS.map(str))),
                "currency": draw(st.sampled_from(["usd", "USD"])),
            },
            "line_item": draw(st.sampled_from(["gpt-4o, input", "gpt-4o, output", None])),
            "project_id": draw(NAMES),
            "api_key_id": draw(NAMES),
            "quantity": draw(st.one_of(st.none(), AMOUNTS)),
        }
        for _ in range(draw(st.integers(0, 10)))
    ]


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
@given(inside=cost_rows(), outside=cost_rows(), more=st.booleans())
def test_openai_costs_sum_exactly_per_key(
    inside: list[dict[str, Any]], outside: list[dict[str, Any]], more: bool
) -> None:
    buckets = [(DAY.start - timedelta(days=1), timedelta(days=1), outside)]
    buckets.append((DAY.start, timedelta(days=1), inside))
    page = openai.decode(openai.COSTS, scope("openai"), openai_page(buckets, more))
    expected: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
    for row in inside:
        key = (row["line_item"] or "", row["project_id"] or "", row["api_key_id"] or "")
        expected[key] += Decimal(row["amount"]["value"])
    got = {(r.line_item, r.project_id, r.api_key_id): r.cost_usd for r in page.records}
    assert dict(expected) == got
    assert all(r.start == DAY.start and r.is_billed for r in page.records)
    assert (more, "c1" if more else None) == (page.has_more, page.next_page)


@st.composite
def completion_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        cached, write, uncached = draw(COUNTS), draw(COUNTS), draw(COUNTS)
        row: dict[str, Any] = {
            "object": "organization.usage.completions.result",
            "input_tokens": cached + write + uncached,
            "input_cached_tokens": cached,
            "input_cache_write_tokens": write,
            "output_tokens": draw(COUNTS),
            "num_model_requests": draw(COUNTS),
            # A zero or absent audio split changes nothing (splits that take tokens
            # out of the text categories: the golden cases under completions/).
            "input_audio_tokens": draw(st.sampled_from([0, None])),
            "model": draw(OPENAI_MODELS),
            "user_id": draw(NAMES),
            "project_id": draw(NAMES),
            "api_key_id": draw(NAMES),
            "batch": draw(st.sampled_from([True, False, None])),
            "service_tier": draw(st.sampled_from(["default", "flex", None])),
        }
        if draw(st.booleans()):  # newer servers send it, older ones do not
            row["input_uncached_tokens"] = uncached
        rows.append(row)
    return rows


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
@given(rows=completion_rows(), hour=st.integers(0, 23))
def test_openai_completions_match_the_reference(rows: list[dict[str, Any]], hour: int) -> None:
    start = DAY.start + hour * HOUR
    page = openai.decode(
        openai.ENDPOINTS["completions"], scope("openai"), openai_page([(start, HOUR, rows)], False)
    )
    expected: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, 0, 0, 0, 0, Decimal(0)])
    unpriced: set[tuple[Any, ...]] = set()
    for row in rows:
        tiers = [t for t in ("batch" if row["batch"] else "", row["service_tier"]) if t]
        tiers = [t for t in tiers if t != "default"]
        line_item = ", ".join(["completions", *tiers])
        model = row["model"] or ""
        key = (start, model, row["user_id"] or "", row["project_id"] or "")
        key += (row["api_key_id"] or "", line_item)
        uncached = row["input_tokens"] - row["input_cached_tokens"]
        uncached -= row["input_cache_write_tokens"]
        usage = TokenUsage(
            uncached,
            row["input_cached_tokens"],
            row["input_cache_write_tokens"],
            0,
            row["output_tokens"],
        )
        tier = "batch" if row["batch"] else (row["service_tier"] or "")
        tier = "" if tier == "default" else tier
        cost = TABLE.cost("openai", model, start.date(), usage, tier)
        if cost is None:
            unpriced.add(key)
        for index, value in enumerate(
            (
                uncached,
                row["input_cached_tokens"],
                row["input_cache_write_tokens"],
                row["output_tokens"],
                row["num_model_requests"],
                cost or Decimal(0),
            )
        ):
            expected[key][index] += value
    for key in unpriced:  # an unpriced part makes the whole record unpriced, at 0
        expected[key][5] = Decimal(0)
    got = {
        key: [
            r.uncached_input_tokens,
            r.cached_input_tokens,
            r.cache_write_tokens,
            r.output_tokens,
            r.requests,
            r.cost_usd,
        ]
        for key, r in by_key(page.records).items()
    }
    assert dict(expected) == got


@st.composite
def usage_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    return [
        {
            "uncached_input_tokens": draw(COUNTS),
            "cache_read_input_tokens": draw(st.one_of(st.none(), COUNTS)),
            "cache_creation": draw(
                st.one_of(
                    st.none(),
                    st.fixed_dictionaries(
                        {
                            "ephemeral_5m_input_tokens": st.one_of(st.none(), COUNTS),
                            "ephemeral_1h_input_tokens": st.one_of(st.none(), COUNTS),
                        }
                    ),
                )
            ),
            "output_tokens": draw(COUNTS),
            "server_tool_use": draw(
                st.one_of(
                    st.none(),
                    st.fixed_dictionaries(
                        {"web_search_requests": st.one_of(st.none(), st.integers(0, 10**6))}
                    ),
                )
            ),
            "model": draw(CLAUDE_MODELS),
            "workspace_id": draw(NAMES),
            "api_key_id": draw(NAMES),
            "service_tier": draw(st.sampled_from(["standard", "batch", None])),
            "context_window": draw(st.sampled_from(["0-200k", "200k-1M", None])),
        }
        for _ in range(draw(st.integers(0, 12)))
    ]


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
@given(rows=usage_rows(), hour=st.integers(0, 23))
def test_anthropic_usage_matches_the_reference(rows: list[dict[str, Any]], hour: int) -> None:
    start = DAY.start + hour * HOUR
    page = anthropic.decode(
        anthropic.USAGE, scope("anthropic"), anthropic_page([(start, HOUR, rows)])
    )
    expected: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0, Decimal(0)])
    unpriced: set[tuple[Any, ...]] = set()
    day = start.date()
    for row in rows:
        creation = row["cache_creation"] or {}
        write_5m = creation.get("ephemeral_5m_input_tokens") or 0
        write_1h = creation.get("ephemeral_1h_input_tokens") or 0
        cached = row["cache_read_input_tokens"] or 0
        tier = row["service_tier"] or ""
        model = row["model"] or ""
        long_context = row["context_window"] == "200k-1M"
        line_item = "messages" if tier in ("", "standard") else f"messages, {tier}"
        line_item += ", 200k-1M" if long_context else ""
        owner = (start, model, "", row["workspace_id"] or "default", row["api_key_id"] or "")
        usage = TokenUsage(
            row["uncached_input_tokens"], cached, write_5m, write_1h, row["output_tokens"]
        )
        # A long-context row asks for its own tier: its rate, or unpriced.
        priced_tier = (tier or "standard") + "@200k-1M" if long_context else tier
        cost = TABLE.cost("anthropic", model, day, usage, priced_tier)
        if cost is None:
            unpriced.add((*owner, line_item))
        values = (row["uncached_input_tokens"], cached, write_5m, write_1h, row["output_tokens"])
        for index, value in enumerate((*values, 0, cost or Decimal(0))):
            expected[(*owner, line_item)][index] += value
        searches = (row["server_tool_use"] or {}).get("web_search_requests") or 0
        if searches:
            # Searches cost the same in every tier and window: the standard rate.
            rate = TABLE.rate("anthropic", model, day)
            search_cost = None if rate is None else rate.cost_counts({"web_search_calls": searches})
            if search_cost is None:
                unpriced.add((*owner, "web_search"))
            expected[(*owner, "web_search")][5] += searches
            expected[(*owner, "web_search")][6] += search_cost or Decimal(0)
    for key in unpriced:  # an unpriced part makes the whole record unpriced, at 0
        expected[key][6] = Decimal(0)
    got = {
        key: [
            r.uncached_input_tokens,
            r.cached_input_tokens,
            r.cache_write_tokens,
            r.cache_write_1h_tokens,
            r.output_tokens,
            r.web_search_calls + r.requests,
            r.cost_usd,
        ]
        for key, r in by_key(page.records).items()
    }
    assert dict(expected) == got


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
@given(
    cents=st.lists(AMOUNTS, max_size=8),  # up to 20 digits, within 10**9 cents
    as_text=st.booleans(),
)
def test_anthropic_cents_become_exact_dollars(cents: list[Decimal], as_text: bool) -> None:
    rows = [
        {"currency": "USD", "amount": str(c) if as_text else c, "description": f"item {i % 3}"}
        for i, c in enumerate(cents)
    ]
    page = anthropic.decode(
        anthropic.COSTS, scope("anthropic"), anthropic_page([(DAY.start, timedelta(days=1), rows)])
    )
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for i, c in enumerate(cents):
        expected[f"item {i % 3}"] += c / 100
    assert dict(expected) == {r.line_item: r.cost_usd for r in page.records}


HOSTILE = st.sampled_from(["5", 5.5, -1, 2**63, 10**30, True, {"a": 1}, [1], "NaN", "1e999999"])
_COUNT_FIELDS = {
    "completions": ("input_tokens", "output_tokens", "num_model_requests", "input_cached_tokens"),
    "usage": ("uncached_input_tokens", "output_tokens", "cache_read_input_tokens"),
}


@pytest.mark.parametrize("kind", ["completions", "usage"])
@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_hostile_count_refuses_the_page_naming_its_path(kind: str, data: st.DataObject) -> None:
    rows = data.draw(completion_rows() if kind == "completions" else usage_rows())
    if not rows:
        return
    index = data.draw(st.integers(0, len(rows) - 1))
    field = data.draw(st.sampled_from(_COUNT_FIELDS[kind]))
    value = data.draw(HOSTILE)
    rows[index][field] = value
    buckets = [(DAY.start, HOUR, rows)]
    if kind == "completions":
        decode, endpoint, body = (
            openai.decode,
            openai.ENDPOINTS["completions"],
            openai_page(buckets, False),
        )
    else:
        decode, endpoint, body = anthropic.decode, anthropic.USAGE, anthropic_page(buckets)
    with pytest.raises(PageMalformed) as caught:
        decode(endpoint, scope("openai" if kind == "completions" else "anthropic"), body)
    assert f"$.data[0].results[{index}].{field}" == caught.value.path
