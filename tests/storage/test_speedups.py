"""The C line-protocol encoder gives exactly the Python encoder's bytes.

``LineEncoder.encode`` runs in C when ``_speedups`` is built (``hatch_build.py``);
``LineEncoder.lines`` is the Python reference. Every test here compares the two
on the same records, through one encoder's shared caches or two cold ones.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costpipe.records import TEXT_DIMENSIONS, TOKEN_FIELDS, CostRecord, CostSource, PriceSource
from costpipe.sinks.influxdb import encoder as encoder_module
from costpipe.sinks.influxdb.encoder import SPEEDUPS, LineEncoder
from tests.storage.test_lineprotocol import CASE_NAMES, CASES, COSTS, HARD_COSTS, load_case

if os.environ.get("CI") and not os.environ.get("COSTPIPE_PURE_PYTHON"):
    # CI installs a compiler and Python's headers (scripts/test.sh): there the
    # accelerator must be built, or these comparisons would silently not run.
    assert SPEEDUPS, "the C encoder was not built (hatch_build.py printed why)"
pytestmark = pytest.mark.skipif(not SPEEDUPS, reason="C encoder not built (no compiler)")


def python_body(encoder: LineEncoder, records: list[CostRecord]) -> bytes:
    return ("\n".join(encoder.lines(records)) + "\n").encode() if records else b""


def c_body(encoder: LineEncoder, records: list[CostRecord]) -> bytes:
    assert encoder_module._speedups is not None
    body = encoder.encode(records)
    # encode() fell back to Python only if a record was not exactly a CostRecord.
    assert all(type(r) is CostRecord for r in records)
    return body


@pytest.mark.parametrize("case", CASE_NAMES)
def test_c_encoder_matches_golden_file_and_python(case: str) -> None:
    records = load_case(case)
    expected = (CASES / case / "expected.lp").read_bytes()
    assert expected == c_body(LineEncoder(), records)
    assert expected == python_body(LineEncoder(), records)


TEXT = st.one_of(
    st.sampled_from(["", "openai", "gpt-4o", "proj 1", "a,b=c d", "back\\", "new\nline", "é✓"]),
    st.text(max_size=20),
    st.text(min_size=250, max_size=300),  # shortened with a hash (MAX_TAG_CHARS)
)
COUNTS = st.one_of(
    st.integers(0, 2**31),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**80), 2**80),  # past 64 bits: formatted by Python
    st.just(0),
)
TAGS = st.lists(st.tuples(st.sampled_from(["team", "model", "time", "cost_usd", "x y"]), TEXT))
STARTS = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1))


@st.composite
def records(draw: st.DrawFn) -> CostRecord:
    return CostRecord(
        start=draw(STARTS).replace(tzinfo=UTC),
        width=timedelta(hours=1),
        cost_source=draw(st.sampled_from(list(CostSource))),
        cost_usd=draw(st.one_of(COSTS, st.sampled_from([Decimal(t) for t in HARD_COSTS]))),
        tags=tuple(draw(TAGS)),
        price_source=PriceSource(draw(st.sampled_from(["", "genai-prices 0.2.3", 'o"v\\r']))),
        **{name: draw(TEXT) for name in TEXT_DIMENSIONS},
        **{name: draw(COUNTS) for name in TOKEN_FIELDS},
    )


# A record draws 30 fields, some of 250+ characters: generation is slow by design.
@settings(
    max_examples=settings.default.max_examples * 2,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(records(), max_size=6), st.integers(1, 4))
def test_c_encoder_gives_python_bytes_for_any_records(batch: list[CostRecord], size: int) -> None:
    """Awkward tags, any Decimal, counts past 64 bits, repeated and evicted series
    (a cache of *size* entries), two batches through the same caches."""
    ours, reference = LineEncoder(cache_size=size), LineEncoder(cache_size=size)
    twice = batch + batch[::-1]
    assert python_body(reference, twice) == c_body(ours, twice)
    assert python_body(LineEncoder(), batch) == c_body(ours, batch)


def test_shared_start_objects_and_cache_misses_mid_batch() -> None:
    """One start object for many records (the identity shortcut), then new ones."""
    base = load_case("basic")[0]
    start = datetime(2026, 3, 2, tzinfo=UTC)
    batch = [
        base.replace(start=start if i < 50 else start + timedelta(hours=i), user_id=f"u{i % 7}")
        for i in range(100)
    ]
    ours, reference = LineEncoder(cache_size=3), LineEncoder(cache_size=3)
    assert python_body(reference, batch) == c_body(ours, batch)


@pytest.mark.parametrize("cost", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_c_encoder_refuses_non_finite_money(cost: str) -> None:
    good = load_case("basic")[0]
    with pytest.raises(ValueError, match="not finite"):
        c_body(LineEncoder(), [good, good.replace(cost_usd=Decimal(cost))])


def test_a_record_subclass_is_encoded_in_python() -> None:
    """Another type may lay out its slots differently: the C loop refuses the
    batch (returns None) and the Python encoder writes it."""

    class Tagged(CostRecord, frozen=True, gc=False):
        note: str = ""

    base = load_case("basic")[0]
    record = Tagged(**{name: getattr(base, name) for name in base.__struct_fields__}, note="x")
    assert encoder_module._speedups is not None
    assert None is encoder_module._speedups.encode(
        [record], {}, str, {}, str, {}, str, encoder_module._money_fallback
    )
    assert python_body(LineEncoder(), [base]) == LineEncoder().encode([record])
