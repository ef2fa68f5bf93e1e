"""The C record builder gives exactly the records of the providers' Python functions.

``decode_buckets`` hands a bucket's rows to ``_usage_rows.build`` when the
endpoint describes its text rows (:class:`~costpipe.providers.usage_rows.TextRows`)
and the module is built (``hatch_build.py``); the provider's record function
is the reference. Every test here decodes the same page through both (the
Python one by the same endpoint without ``text_rows``) and compares the
records field by field, with each value's type and each cost's exact digits
and exponent, or the error and its JSON path.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import pickle
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgspec
import pytest
import structlog
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from costpipe.errors import MalformedDataError
from costpipe.pricing.config import PriceConfig
from costpipe.pricing.costs import ModelPrice, UsageRate
from costpipe.pricing.prices import PriceTable
from costpipe.providers import usage_rows
from costpipe.providers.anthropic import decode as anthropic
from costpipe.providers.bucketed import At, Endpoint, Scope
from costpipe.providers.openai import decode as openai
from costpipe.providers.openai.schema import CompletionsRow
from costpipe.providers.planning import UsagePricer
from costpipe.records import CostRecord, Window
from tests.providers import test_openai_anthropic_golden as golden
from tests.providers.test_openai_anthropic_fuzz import (
    DAY,
    EXAMPLES,
    HOUR,
    anthropic_page,
    openai_page,
    scope,
)

if os.environ.get("CI") and not os.environ.get("COSTPIPE_PURE_PYTHON"):
    # CI installs a compiler and Python's headers (scripts/test.sh): there the
    # builder must be built, or these comparisons would silently not run.
    assert usage_rows.BUILDER is not None, "_usage_rows was not built (hatch_build.py said why)"
pytestmark = pytest.mark.skipif(usage_rows.BUILDER is None, reason="C builder not built")

Outcome = list[tuple[Any, ...]] | str


def python_only(endpoint: Endpoint[Any]) -> Endpoint[Any]:
    return dataclasses.replace(endpoint, text_rows=None)


def exact(record: CostRecord) -> tuple[Any, ...]:
    """Every field with its type; the cost's digits and exponent."""
    values = msgspec.structs.astuple(record)
    return (*((type(v), v) for v in values), record.cost_usd.as_tuple())


def outcome(decode: Any, endpoint: Endpoint[Any], kind: str, body: bytes) -> Outcome:
    try:
        page = decode(endpoint, scope(kind), body)
    except MalformedDataError as exc:
        return str(exc)
    return [exact(r) for r in page.records]


def both(decode: Any, endpoint: Endpoint[Any], kind: str, body: bytes) -> Outcome:
    assert endpoint.layout is not None
    built = outcome(decode, endpoint, kind, body)
    assert outcome(decode, python_only(endpoint), kind, body) == built
    return built


TEXT_CASES = [
    case
    for case in golden.cases()
    if golden.ENDPOINTS[(case.provider, case.endpoint)][1].text_rows is not None
]


@pytest.mark.parametrize("case", TEXT_CASES, ids=lambda case: case.id)
def test_golden_pages_give_the_same_records_both_ways(
    case: golden.Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    decode, endpoint = golden.ENDPOINTS[(case.provider, case.endpoint)]
    built = golden.run(case)
    monkeypatch.setitem(
        golden.ENDPOINTS, (case.provider, case.endpoint), (decode, python_only(endpoint))
    )
    assert golden.run(case) == built == golden.expected(case)


def test_the_text_endpoints_have_golden_cases() -> None:
    assert {(c.provider, c.endpoint) for c in TEXT_CASES} >= {
        ("openai", "completions"),
        ("openai", "embeddings"),
        ("openai", "moderations"),
        ("anthropic", "usage_report_messages"),
    }


# Small pools, so that rows share keys and merge; counts up to the schema's
# maximum, so sums and products pass 64 bits.
NAMES = st.sampled_from([None, "", "a", "b", 'x "y"=1 ü'])
COUNTS = st.one_of(st.integers(0, 10**6), st.integers(0, 2**63 - 1), st.none())
OPENAI_MODELS = st.sampled_from(
    ["gpt-4o-2024-08-06", "gpt-4o-mini", "text-embedding-3-small", "gpt-unknown", "", None]
)
CLAUDE_MODELS = st.sampled_from(
    ["claude-sonnet-4-20250514", "claude-3-5-haiku-20241022", "claude-unknown", None]
)


def without_none(row: dict[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    """Required counts become 0 when drawn as None; optional ones are sent as
    null or left out."""
    return {k: (0 if v is None and k in required else v) for k, v in row.items()}


@st.composite
def completion_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        cached, write = draw(COUNTS), draw(COUNTS)
        # Mostly consistent totals; sometimes fewer than the parts (an error).
        total = (cached or 0) + (write or 0) + draw(st.integers(0, 10**6))
        if draw(st.integers(0, 9)) == 0:
            total = draw(st.integers(0, 10**6))
        row: dict[str, Any] = {
            "input_tokens": min(total, 2**63 - 1),
            "input_cached_tokens": cached,
            "input_cache_write_tokens": write,
            "output_tokens": draw(COUNTS),
            "num_model_requests": draw(COUNTS),
            "model": draw(OPENAI_MODELS),
            "user_id": draw(NAMES),
            "project_id": draw(NAMES),
            "api_key_id": draw(NAMES),
            "batch": draw(st.sampled_from([True, False, None])),
            "service_tier": draw(st.sampled_from(["default", "flex", "priority", None])),
        }
        if draw(st.booleans()):
            row["input_uncached_tokens"] = draw(COUNTS)
        if draw(st.integers(0, 4)) == 0:  # audio or image: the Python function
            name = draw(st.sampled_from(["input_audio_tokens", "output_image_tokens"]))
            row[name] = draw(st.integers(0, 50))
        rows.append(without_none(row, ("input_tokens", "output_tokens", "num_model_requests")))
    return rows


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
@given(rows=completion_rows(), hour=st.integers(0, 23), repeat=st.booleans())
def test_completions_rows_give_the_same_records_both_ways(
    rows: list[dict[str, Any]], hour: int, repeat: bool
) -> None:
    start = DAY.start + hour * HOUR
    buckets = [(start, HOUR, rows)] * (2 if repeat else 1)  # a repeated bucket merges too
    both(openai.decode, openai.ENDPOINTS["completions"], "openai", openai_page(buckets, False))


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "input_tokens": st.integers(0, 2**63 - 1),
                "num_model_requests": st.integers(0, 10**6),
                "model": OPENAI_MODELS,
                "user_id": NAMES,
                "project_id": NAMES,
                "api_key_id": NAMES,
            }
        ),
        max_size=10,
    ),
    name=st.sampled_from(["embeddings", "moderations"]),
)
def test_input_only_rows_give_the_same_records_both_ways(
    rows: list[dict[str, Any]], name: str
) -> None:
    body = openai_page([(DAY.start, HOUR, rows)], False)
    both(openai.decode, openai.ENDPOINTS[name], "openai", body)


@st.composite
def message_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        row: dict[str, Any] = {
            "uncached_input_tokens": draw(COUNTS),
            "output_tokens": draw(COUNTS),
            "cache_read_input_tokens": draw(COUNTS),
            "model": draw(CLAUDE_MODELS),
            "workspace_id": draw(NAMES),
            "api_key_id": draw(NAMES),
            "service_tier": draw(st.sampled_from(["standard", "batch", "priority", None])),
            "context_window": draw(st.sampled_from(["0-200k", "200k-1M", None])),
        }
        row = without_none(row, ("uncached_input_tokens", "output_tokens"))
        if draw(st.booleans()):
            row["cache_creation"] = draw(
                st.one_of(
                    st.none(),
                    st.fixed_dictionaries(
                        {"ephemeral_5m_input_tokens": COUNTS, "ephemeral_1h_input_tokens": COUNTS}
                    ),
                )
            )
        if draw(st.booleans()):  # a web search: the Python function
            searches = st.one_of(st.none(), st.integers(0, 3))
            row["server_tool_use"] = draw(
                st.one_of(st.none(), st.fixed_dictionaries({"web_search_requests": searches}))
            )
        rows.append(row)
    return rows


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
@given(rows=message_rows(), hour=st.integers(0, 23))
def test_message_rows_give_the_same_records_both_ways(
    rows: list[dict[str, Any]], hour: int
) -> None:
    body = anthropic_page([(DAY.start + hour * HOUR, HOUR, rows)])
    both(anthropic.decode, anthropic.USAGE, "anthropic", body)


def test_a_row_error_names_the_same_path_both_ways() -> None:
    good = {"input_tokens": 10, "output_tokens": 1, "num_model_requests": 1, "model": "gpt-4o"}
    bad = {**good, "input_tokens": 3, "input_cached_tokens": 5}
    body = openai_page(
        [(DAY.start, HOUR, [good]), (DAY.start + HOUR, HOUR, [good, good, bad])], False
    )
    assert both(openai.decode, openai.ENDPOINTS["completions"], "openai", body) == (
        "$.data[1].results[2].input_tokens: input_tokens 3 < cached 5 + cache writes 0"
    )


# More (model, tier) pairs than the builder keeps at hand per bucket (16): priced
# in some tiers and not in others, so that a pair met again after it was
# replaced must be looked up anew, and give the same answer.
MANY_MODELS = [
    "gpt-4o-2024-08-06", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3",
    "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4-turbo", "o1",
    "chatgpt-4o-latest", "codex-mini-latest", "gpt-unknown-1", "gpt-unknown-2", "",
]  # fmt: skip
TIERS = [("default", False), ("flex", False), ("priority", False), (None, True), (None, None)]


def many_keys_rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "input_tokens": 1000 + i,
            "input_cached_tokens": i % 7,
            "output_tokens": i,
            "num_model_requests": 1,
            # Pairs spread so that a bucket meets each of them several times.
            "model": MANY_MODELS[(i * 7) % len(MANY_MODELS)],
            "service_tier": TIERS[(i // 3) % len(TIERS)][0],
            "batch": TIERS[(i // 3) % len(TIERS)][1],
            "user_id": f"u{i % 5}",
        }
        for i in range(count)
    ]


def test_more_models_and_tiers_than_it_keeps_at_hand_price_the_same_both_ways() -> None:
    body = openai_page([(DAY.start, HOUR, many_keys_rows(600))], False)
    records = both(openai.decode, openai.ENDPOINTS["completions"], "openai", body)
    priced = {r[6][1] for r in records if r[4][1] == "estimated"}  # (type, value) of model
    assert len(priced) >= 12, priced
    assert any(r[4][1] == "unpriced" for r in records)


def test_buckets_of_two_days_are_priced_at_each_days_price_both_ways() -> None:
    """A page's buckets share their rate lookups within a UTC day only: a
    price that changes at midnight prices each side at its own figure."""
    new_price = PriceConfig(
        provider="openai", model="gpt-4o-2024-08-06", input=Decimal(7), output=Decimal(21),
        name="midnight", effective_from=(DAY.start + 24 * HOUR).date(),
    )  # fmt: skip
    table = PriceTable.bundled().with_overrides([new_price])
    span = Window(DAY.start, DAY.start + 48 * HOUR)
    row = {"input_tokens": 10**6, "output_tokens": 0, "num_model_requests": 1,
           "model": "gpt-4o-2024-08-06"}  # fmt: skip
    hours = [22, 23, 24, 25]
    body = openai_page([(DAY.start + h * HOUR, HOUR, [row]) for h in hours], False)
    endpoint = openai.ENDPOINTS["completions"]
    results = []
    for each in (endpoint, python_only(endpoint)):
        pricer = UsagePricer("openai", "days", table, structlog.get_logger("days"))
        page = openai.decode(each, Scope("acct", span, pricer), body)
        results.append([(r.start, r.cost_usd, r.price_source) for r in page.records])
    assert results[0] == results[1]
    # gpt-4o's input is $2.50 per million tokens in the price data.
    assert [cost for _, cost, _ in results[0]] == [Decimal("2.5"), Decimal("2.5"), 7, 7]
    sources = [source for _, _, source in results[0]]
    assert sources[2:] == ["override:midnight"] * 2
    assert all(s.startswith("genai-prices") for s in sources[:2]), sources


def built_and_constructed(start: datetime) -> tuple[CostRecord, CostRecord]:
    """The record of one row from the C builder and from the Python function."""
    endpoint = openai.ENDPOINTS["completions"]
    row = CompletionsRow(input_tokens=1200, output_tokens=30, num_model_requests=2,
                         input_cached_tokens=200, model="gpt-4o-2024-08-06", user_id="u")  # fmt: skip
    at = At(start, HOUR, "acct", scope("openai").pricer)
    merged: dict[Any, CostRecord] = {}
    assert usage_rows.BUILDER is not None
    usage_rows.BUILDER.build(endpoint.layout, [row], start, HOUR, "acct", at.prepared,
                             at.prepared_rate, pytest.fail, merged)  # fmt: skip
    (record,) = merged.values()
    reference = openai.completions_record(row, at)
    assert isinstance(reference, CostRecord)
    return record, reference


def test_a_built_record_is_an_ordinary_record() -> None:
    """Built without calling the type (no __post_init__): equal, hashable,
    picklable, encodable and replaceable like one made by the constructor."""
    record, reference = built_and_constructed(DAY.start)
    assert type(record) is CostRecord
    assert exact(record) == exact(reference)
    assert repr(record) == repr(reference)
    assert hash(record) == hash(reference)
    assert msgspec.json.encode(record) == msgspec.json.encode(reference)
    assert pickle.loads(pickle.dumps(record)) == reference
    assert record.replace(model="m").model == "m"
    assert record.key == reference.key
    assert not gc.is_tracked(record)
    with pytest.raises(AttributeError):
        record.model = "x"  # type: ignore[misc]


def test_a_start_outside_datetime_utc_is_normalized_by_the_constructor() -> None:
    """Only a start already in datetime.UTC skips __post_init__."""
    plus_one = DAY.start.astimezone(timezone(timedelta(hours=1)))
    record, reference = built_and_constructed(plus_one)
    assert record.start.tzinfo is UTC
    assert exact(record) == exact(reference)


def test_rows_it_cannot_take_go_to_python_with_their_number() -> None:
    """A row of another type, or one with audio tokens, is the slow path's."""
    endpoint = openai.ENDPOINTS["completions"]
    audio = CompletionsRow(input_tokens=10, output_tokens=1, num_model_requests=1,
                           input_audio_tokens=4, model="gpt-4o-2024-08-06")  # fmt: skip
    text = msgspec.structs.replace(audio, input_audio_tokens=None)
    at = At(DAY.start, HOUR, "acct", scope("openai").pricer)
    handed: list[tuple[Any, int]] = []

    def slow(row: Any, number: int) -> None:
        handed.append((row, number))

    merged: dict[Any, CostRecord] = {}
    assert usage_rows.BUILDER is not None
    usage_rows.BUILDER.build(endpoint.layout, [text, "not a row", audio], DAY.start, HOUR,
                             "acct", at.prepared, at.prepared_rate, slow, merged)  # fmt: skip
    assert handed == [("not a row", 1), (audio, 2)]
    assert len(merged) == 1
    assert list(at.prepared.values()) == [at.rates[("gpt-4o-2024-08-06", "")].text_prices]


def test_many_rows_leak_no_references() -> None:
    """Every record, cost and key built is freed with its page (refcounts right):
    ten decodes of a 1,000-row page leave no memory behind."""
    # Many models and tiers: the pairs kept at hand are replaced over and again.
    body = openai_page([(DAY.start, HOUR, many_keys_rows(1000))], False)
    endpoint = openai.ENDPOINTS["completions"]
    total = Decimal(0)
    for _ in range(3):  # warm caches (prices, qualifiers)
        total += sum(r.cost_usd for r in openai.decode(endpoint, scope("openai"), body).records)
    tracemalloc.start()
    try:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(10):
            openai.decode(endpoint, scope("openai"), body)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert total > 0
    assert grown < 200_000, f"{grown} bytes left after 10,000 records"


class FixedPricer:
    """A pricer with one rate for every model and tier (the prices drawn)."""

    def __init__(self, rate: UsageRate | None) -> None:
        self.fixed = rate

    def rate(self, model: str, day: datetime, tier: str = "") -> UsageRate | None:
        return self.fixed


# USD per million tokens, five of one kind: halves of a quantum (ties to round
# half-even), long fractions (large denominators), large prices (products past
# 64 bits); sometimes one missing (Python prices the row).
PRICE_KINDS = (
    st.integers(0, 10**6).map(lambda n: Decimal(n) / 20_000),
    st.decimals(0, 100, places=12),
    st.integers(0, 10**9).map(Decimal),
)


@st.composite
def text_prices(draw: st.DrawFn) -> list[Decimal | None]:
    kind = draw(st.sampled_from(PRICE_KINDS))
    prices: list[Decimal | None] = [draw(kind) for _ in range(5)]
    if draw(st.integers(0, 4)) == 0:
        prices[draw(st.integers(0, 4))] = None
    return prices


@settings(max_examples=EXAMPLES * 2, suppress_health_check=[HealthCheck.too_slow])
@given(
    prices=text_prices(),
    priced=st.booleans(),
    counts=st.lists(st.tuples(st.integers(0, 2**40), st.integers(0, 2**20), COUNTS), max_size=8),
)
# Half a quantum per token: 1 token rounds down to 0, 3 up to 2 (half-even).
@example(prices=[Decimal(1) / 20_000] * 5, priced=True, counts=[(1, 0, 0), (3, 0, 0)])
# No output price: a row with output is unpriced, one without is priced.
@example(prices=[Decimal(1)] * 4 + [None], priced=True, counts=[(10, 0, 5), (10, 0, 0)])
def test_any_prices_cost_the_same_both_ways(
    prices: list[Decimal | None], priced: bool, counts: list[tuple[int, int, int | None]]
) -> None:
    """Half-even rounding, exponents and overflows: the C cost is the Python one."""
    names = ("uncached_input_tokens", "cached_input_tokens", "cache_write_tokens")
    names += ("cache_write_1h_tokens", "output_tokens")
    table = {n: p for n, p in zip(names, prices, strict=True) if p is not None}
    rate = UsageRate(ModelPrice("openai", "m", table, "drawn")) if priced else None
    rows = [
        CompletionsRow(input_tokens=uncached + cached, input_cached_tokens=cached,
                       output_tokens=output or 0, num_model_requests=1, model="m",
                       user_id=str(number))
        for number, (uncached, cached, output) in enumerate(counts)
    ]  # fmt: skip
    endpoint = openai.ENDPOINTS["completions"]
    at = At(DAY.start, HOUR, "acct", FixedPricer(rate))  # type: ignore[arg-type]
    merged: dict[Any, CostRecord] = {}
    assert usage_rows.BUILDER is not None
    usage_rows.BUILDER.build(endpoint.layout, rows, DAY.start, HOUR, "acct", at.prepared,
                             at.prepared_rate, lambda row, _n: openai.completions_record(row, at),
                             merged)  # fmt: skip
    reference = [openai.completions_record(row, at) for row in rows]
    assert [exact(r) for r in merged.values()] == [exact(r) for r in reference]
