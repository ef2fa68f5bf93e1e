"""Allocation of cells, pure: the docs' worked example, line-item grammars, and
properties (exact per cell, proportional, independent of the input order)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from costpipe.allocation.cells import UNATTRIBUTED, allocate, nanos
from costpipe.allocation.charges import charge_of, usage_tier
from costpipe.records import CostRecord, CostSource

DAY = datetime(2026, 11, 18, tzinfo=UTC)
GPT_4O = "gpt-4o-2024-08-06"


def bill(item: str, usd: str, model: str = "", **dims: str) -> CostRecord:
    return CostRecord(
        start=DAY,
        width=timedelta(days=1),
        provider="openai",
        account="acme",
        cost_source=CostSource.BILLED,
        cost_usd=Decimal(usd),
        project_id=dims.get("project_id", "proj_a"),
        model=model,
        line_item=item,
    )


def use(hour: int, user: str, out: int, cost: str, model: str = GPT_4O, **kw: object) -> CostRecord:
    fields: dict[str, object] = {
        "start": DAY + timedelta(hours=hour),
        "width": timedelta(hours=1),
        "provider": "openai",
        "account": "acme",
        "cost_source": CostSource.ESTIMATED,
        "cost_usd": Decimal(cost),
        "model": model,
        "user_id": user,
        "project_id": "proj_a",
        "line_item": "completions",
        "uncached_input_tokens": 1_000_000,
        "output_tokens": out,
    }
    fields.update(kw)
    return CostRecord(**fields)  # type: ignore[arg-type]


def test_the_worked_example_of_docs_allocation_md() -> None:
    billed = [
        bill(f"{GPT_4O}, input", "7.75", GPT_4O),
        bill(f"{GPT_4O}, output", "6.00", GPT_4O),
        bill("assistants api | file search", "1.25"),
        bill("gpt-9-experimental, input", "2.50", "gpt-9-experimental"),
    ]
    dave = use(12, "dave", 0, "0", "gpt-9-experimental", cost_source=CostSource.UNPRICED,
               uncached_input_tokens=500_000)  # fmt: skip
    usage = [use(9, "alice", 200_000, "4.50"), use(10, "bob", 350_000, "6.00"),
             use(11, "carol", 50_000, "3.00"), dave]  # fmt: skip
    result = allocate(billed, usage)
    per_user: dict[str, Decimal] = defaultdict(Decimal)
    for row in result.records:
        assert row.cost_source is CostSource.ALLOCATED
        per_user[row.user_id] += row.cost_usd
    assert {
        "alice": Decimal("4.583333334"),
        "bob": Decimal("6.083333333"),
        "carol": Decimal("3.083333333"),
        UNATTRIBUTED: Decimal("3.75"),
    } == per_user
    assert Decimal("17.50") == sum(per_user.values())
    output = {r.user_id: r.output_tokens for r in result.records if r.line_item.endswith("output")}
    assert {"alice": 200_000, "bob": 350_000, "carol": 50_000} == output
    assert {("openai", "acme", DAY.date(), "gpt-9-experimental"): 500_000} == result.unpriced_tokens
    assert {} == result.unbilled_nanos
    assert [0, 0, 3, 3] == sorted(c.usage_rows for c in result.cells)


def test_openai_line_items() -> None:
    assert ("", ("output_tokens",)) == _charge("openai", f"{GPT_4O}, output")
    assert ("batch", ("uncached_input_tokens", "cache_write_tokens")) == _charge(
        "openai", f"batch | {GPT_4O}, input"
    )
    assert ("flex", ("cached_input_tokens",)) == _charge("openai", "flex | o3, cached input")
    for no_usage in ("assistants api | file search", "evals | gpt-4o, input", "gpt-4o, images"):
        assert not charge_of("openai", no_usage).usage
    assert "batch" == usage_tier("openai", "completions, batch, flex")
    assert "flex" == usage_tier("openai", "completions, flex")
    assert "" == usage_tier("openai", "embeddings")


def test_anthropic_line_items() -> None:
    read = "Claude Sonnet 4 Usage - Input Tokens, Cache Read, priority, us"
    assert ("priority", ("cached_input_tokens",)) == _charge("anthropic", read)
    write = "Claude Sonnet 4 Batch Usage - Input Tokens, Cache Write (1h), batch, 200k-1M"
    assert ("batch, 200k-1M", ("cache_write_tokens",)) == _charge("anthropic", write)
    assert ("", ("uncached_input_tokens",)) == _charge("anthropic", "Claude X Usage - Input Tokens")
    assert not charge_of("anthropic", "Web Search Usage").usage
    assert "batch, 200k-1M" == usage_tier("anthropic", "messages, batch, 200k-1M")


def _charge(provider: str, item: str) -> tuple[str | None, tuple[str, ...] | None]:
    charge = charge_of(provider, item)
    assert charge.usage
    return charge.tier, charge.token_fields


def test_a_provider_without_a_grammar_weighs_by_the_whole_estimate() -> None:
    billed = [bill("credits", "10").replace(provider="openrouter", user_id="")]
    usage = [
        use(1, "a", 0, "1.00").replace(provider="openrouter"),
        use(2, "b", 0, "3.00").replace(provider="openrouter"),
    ]
    shares = {r.user_id: r.cost_usd for r in allocate(billed, usage).records}
    assert {"a": Decimal("2.5"), "b": Decimal("7.5")} == shares


def test_a_cost_row_naming_a_user_keeps_it_when_no_usage_matches() -> None:
    billed = [bill("credits", "4").replace(provider="litellm", user_id="erin")]
    (row,) = allocate(billed, []).records
    assert ("erin", Decimal("4")) == (row.user_id, row.cost_usd)


@st.composite
def days(draw: st.DrawFn) -> tuple[list[CostRecord], list[CostRecord]]:
    models = ["m1", "m2", "m3"]
    billed = [
        bill(f"{m}, {kind}", str(draw(st.integers(-50_000, 10**7)) / Decimal(1000)), m)
        for m in draw(st.lists(st.sampled_from(models), unique=True, min_size=1))
        for kind in draw(st.lists(st.sampled_from(["input", "output", "cached input"]),
                                  unique=True, min_size=1))
    ]  # fmt: skip
    usage = [
        use(
            draw(st.integers(0, 23)),
            draw(st.sampled_from(["u1", "u2", "u3", "u4"])),
            draw(st.integers(0, 10**6)),
            "1",
            draw(st.sampled_from(models)),
            uncached_input_tokens=draw(st.integers(0, 10**6)),
            cached_input_tokens=draw(st.integers(0, 10**5)),
            line_item=draw(st.sampled_from(["completions", "completions, flex"])),
        )
        for _ in range(draw(st.integers(0, 12)))
    ]
    return billed, usage


@given(days(), st.randoms())
def test_every_cell_adds_up_exactly_whatever_the_order(
    day: tuple[list[CostRecord], list[CostRecord]], shuffler: random.Random
) -> None:
    billed, usage = day
    first = allocate(billed, usage)
    shuffler.shuffle(billed)
    shuffler.shuffle(usage)
    again = allocate(billed, usage)
    assert [(r.key, r.cost_usd) for r in first.records] == [
        (r.key, r.cost_usd) for r in again.records
    ]
    per_item: dict[str, int] = defaultdict(int)
    for row in first.records:
        per_item[row.line_item] += nanos(row.cost_usd)
    assert {b.line_item: nanos(b.cost_usd) for b in billed} == dict(per_item)
