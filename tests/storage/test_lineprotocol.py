"""The line-protocol encoder: golden files, and every rule checked against a real influxd."""

from __future__ import annotations

import json
import random
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from costpipe.recordcodec import record_from_json
from costpipe.records import DIMENSIONS, TOKEN_FIELDS, CostRecord, CostSource
from costpipe.sinks.influxdb.encoder import (
    MAX_TAG_CHARS,
    LineEncoder,
    cost_nanos,
    cost_texts,
    escape_tag,
    stored_tag_name,
    stored_tag_value,
    timestamp_ns,
)
from costpipe.testing.influxd import InfluxdServer

CASES = Path(__file__).parent / "cases"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if p.is_dir())


def load_case(name: str) -> list[CostRecord]:
    return [
        record_from_json(item) for item in json.loads((CASES / name / "input.json").read_text())
    ]


def influx(server: InfluxdServer, path: str, data: bytes | None = None, **params: str) -> Any:
    url = f"{server.url}/{path}?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(url, data=data, method="POST")
    with urllib.request.urlopen(request) as response:
        body = response.read()
        return json.loads(body) if body else None


def fresh_database(server: InfluxdServer) -> str:
    name = f"lp_{uuid.uuid4().hex[:12]}"
    influx(server, "query", q=f'CREATE DATABASE "{name}"')
    return name


@pytest.mark.parametrize("case", CASE_NAMES)
def test_encoder_matches_golden_file(case: str) -> None:
    expected = (CASES / case / "expected.lp").read_bytes()
    assert expected == LineEncoder().encode(load_case(case))


def test_series_cache_gives_the_same_bytes_as_a_cold_encoder() -> None:
    records = [r for case in CASE_NAMES for r in load_case(case)]
    warm = LineEncoder(cache_size=4)
    warm.encode(records)
    assert LineEncoder().encode(records) == warm.encode(records)


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("plain", "plain"),
        ("new\nline", "new\\nline"),
        ("trailing\\", "trailing\\ "),
        ("a\\b", "a\\b"),
    ],
)
def test_stored_tag_value_rules(value: str, stored: str) -> None:
    assert stored == stored_tag_value(value)


def test_long_tag_values_are_shortened_with_a_hash() -> None:
    long_a, long_b = "x" * 1000, "x" * 999 + "y"
    assert len(stored_tag_value(long_a)) == MAX_TAG_CHARS
    assert stored_tag_value(long_a) != stored_tag_value(long_b)
    assert stored_tag_value(long_a) == stored_tag_value("x" * 1000)


def test_escape_tag_escapes_separators() -> None:
    assert escape_tag("a,b=c d") == "a\\,b\\=c\\ d"


def test_reserved_enricher_tag_names_are_prefixed() -> None:
    assert [stored_tag_name(n) for n in ("model", "cost_nanos", "time", "team")] == [
        "tag_model",
        "tag_cost_nanos",
        "tag_time",
        "team",
    ]


@pytest.mark.parametrize(
    ("cost", "nanos"),
    [
        ("0.0000000005", 0),  # half to even
        ("0.0000000015", 2),
        ("0.0000000025", 2),
        ("-0.0000000015", -2),
        ("12345678.123456789", 12345678123456789),
        ("1E+3", 1_000_000_000_000),
    ],
)
def test_cost_nanos_rounds_half_even(cost: str, nanos: int) -> None:
    assert nanos == cost_nanos(Decimal(cost))


#: Decimals shaped as providers and pricing produce them (plain text with up to
#: 12 places, both signs) and anything else a Decimal can be (exponents, zeros
#: with exponents, 30 digits, tiny and huge magnitudes).
COSTS = st.one_of(
    st.integers(0, 12).flatmap(
        lambda places: st.decimals(-(10**6), 10**12, places=places, allow_nan=False)
    ),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.builds(
        lambda digits, exponent: Decimal(digits).scaleb(exponent),
        st.integers(-(10**30), 10**30),
        st.integers(-40, 20),
    ),
)
HARD_COSTS = [
    "0",
    "-0",
    "0.000",
    "-0.000",
    "0E-10",
    "0.0000",
    "0.0001",
    "0.00009999",
    "-0.0001",
    "1",
    "12.000",
    "100",
    "99999999999999",
    "0.0142675500",
    "0.0000000005",
    "0.0000000015",
    "2.5000000005",
    "2.5000000015",
    "-2.5000000015",
    "12345678.123456789",
    "1E+3",
    "1.5E-7",
    "1.0000000000",
    "-1.0000000000",
    "0.30000000000000004",
    "123456789012.345",
]


def _with_examples(test: Any) -> Any:
    for text in HARD_COSTS:
        test = example(Decimal(text))(test)
    return test


@settings(max_examples=settings.default.max_examples * 4)
@given(COSTS)
@_with_examples
def test_cost_texts_are_float_repr_and_half_even_nanos(cost: Decimal) -> None:
    """The encoder's text route to the money fields gives exactly what
    ``repr(float(cost))`` and :func:`cost_nanos` give, for every finite Decimal."""
    assert (repr(float(cost)), cost_nanos(cost)) == cost_texts(cost)


@settings(max_examples=settings.default.max_examples * 2)
@given(
    COSTS,
    st.lists(st.integers(0, 2**62), min_size=5, max_size=len(TOKEN_FIELDS)),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)),
)
@example(Decimal("0.0142675500"), [0, 0, 0, 0, 1], datetime(2026, 3, 2))
@example(Decimal("-2.5000000015"), [1, 2, 3, 4, 5], datetime(1970, 1, 1))
@example(Decimal("2.5000000005"), [0, 0, 0, 0, 0], datetime(2026, 3, 2))
@example(Decimal("2.5000000015"), [0, 0, 0, 0, 0], datetime(2026, 3, 2))
@example(Decimal("0.00009999"), [0, 0, 0, 0, 0], datetime(2026, 3, 2))
@example(Decimal("1.0000000000"), [0, 0, 0, 0, 0], datetime(2026, 3, 2))
def test_encoded_line_holds_exact_money_counts_and_time(
    cost: Decimal, counts: list[int], start: datetime
) -> None:
    """Every field of a point against the plain computation (the encoder's
    inlined money path, cached timestamps and cached series head included)."""
    # Counters the examples leave out (the modality tokens and units) get values too.
    counts = [*counts, *range(1, 1 + len(TOKEN_FIELDS) - len(counts))]
    record = load_case("basic")[0].replace(
        cost_usd=cost,
        start=start.replace(tzinfo=UTC),
        **dict(zip(TOKEN_FIELDS, counts, strict=True)),
    )
    encoder = LineEncoder()
    unpriced = "true" if record.cost_source is CostSource.UNPRICED else "false"
    expected = (
        f"{encoder.series(record)} cost_usd={float(cost)!r},cost_nanos={cost_nanos(cost)}i,"
        + "".join(f"{name}={count}i," for name, count in zip(TOKEN_FIELDS, counts, strict=True))
        + f'price_source="{record.price_source}",'
        + f"unpriced={unpriced} {timestamp_ns(record.start)}"
    )
    assert [expected, expected] == encoder.lines([record, record])


_LATER = TOKEN_FIELDS[TOKEN_FIELDS.index("requests") + 1 :]


@pytest.mark.parametrize("nonzero", ["", *_LATER])
def test_counters_after_requests_all_zero_or_one_set(nonzero: str) -> None:
    """The encoder writes the all-zero tail of counters as one constant: a row
    with every one of them zero, and rows with just one set, read the same as
    the plain computation (and a zero row after a set one is not stale)."""
    basic = load_case("basic")[0]
    zero = basic.replace(**dict.fromkeys(_LATER, 0))
    records = [zero, zero.replace(**{nonzero: 7}) if nonzero else zero, zero]
    encoder = LineEncoder()
    for record, line in zip(records, encoder.lines(records), strict=True):
        for name in _LATER:
            assert f",{name}={getattr(record, name)}i," in line, (name, line)


def test_cost_nanos_refuses_nan() -> None:
    with pytest.raises(ValueError, match="not finite"):
        cost_nanos(Decimal("NaN"))


@pytest.mark.parametrize("cost", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_encoder_refuses_non_finite_money(cost: str) -> None:
    record = load_case("basic")[0].replace(cost_usd=Decimal(cost))
    with pytest.raises(ValueError, match="not finite"):
        LineEncoder().encode([record])


@pytest.mark.parametrize("case", CASE_NAMES)
def test_golden_file_reads_back_from_influxd(influxd: InfluxdServer, case: str) -> None:
    """influxd accepts every line and holds the tags, fields and times the
    encoder's documented rules promise."""
    database = fresh_database(influxd)
    body = (CASES / case / "expected.lp").read_bytes()
    assert influx(influxd, "write", data=body, db=database) is None  # 204, nothing refused
    answer = influx(
        influxd, "query", db=database, epoch="ns", q='SELECT * FROM "ai_costs" GROUP BY *'
    )
    stored = {}
    for series in answer["results"][0]["series"]:
        for row in series["values"]:
            fields = dict(zip(series["columns"], row, strict=True))
            tags = {
                k: v for k, v in series["tags"].items() if v
            }  # GROUP BY * lists absent tags as ""
            stored[(frozenset(tags.items()), fields.pop("time"))] = fields
    expected = {}
    for record in load_case(case):
        tags = {stored_tag_name(k): v for k, v in record.tags if v}
        for name in DIMENSIONS:
            tags[name] = record.basis if name == "cost_source" else record.dimension(name)
        tags = {k: stored_tag_value(v) for k, v in tags.items() if v}
        fields = {
            "cost_nanos": cost_nanos(record.cost_usd),
            "cost_usd": pytest.approx(float(record.cost_usd)),
            "unpriced": record.cost_source is CostSource.UNPRICED,
            "price_source": record.price_source,  # a string field, written even when empty
            **{name: getattr(record, name) for name in TOKEN_FIELDS},
        }
        expected[(frozenset(tags.items()), timestamp_ns(record.start))] = fields
    assert expected.keys() == stored.keys()
    for key, fields in expected.items():
        assert fields == {k: v for k, v in stored[key].items() if v is not None}


def test_random_awkward_tag_values_round_trip_through_influxd(influxd: InfluxdServer) -> None:
    """500 values built from separators, escapes, quotes, control characters and
    non-ASCII: influxd accepts all of them and holds exactly stored_tag_value()."""
    alphabet = [*" ,=\\\"'\n\r\t\x00#/*ab5üé✓🙂", "\\ ", "\\,", "\\\\"]
    rng = random.Random(20260329)
    values = {"".join(rng.choices(alphabet, k=rng.randint(1, 12))) for _ in range(500)}
    encoder = LineEncoder()
    records = [
        CostRecord(
            start=load_case("basic")[0].start,
            width=load_case("basic")[0].width,
            provider="p",
            account="a",
            cost_source=CostSource.BILLED,
            model=value,
        )
        for value in sorted(values)
    ]
    database = fresh_database(influxd)
    assert influx(influxd, "write", data=encoder.encode(records), db=database) is None
    answer = influx(
        influxd, "query", db=database, q='SHOW TAG VALUES FROM "ai_costs" WITH KEY = "model"'
    )
    held = {row[1] for row in answer["results"][0]["series"][0]["values"]}
    assert {stored_tag_value(v) for v in values} == held
