"""The line-protocol encoder: golden files, and every rule checked against a real influxd."""

from __future__ import annotations

import json
import random
import urllib.parse
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costpipe.recordcodec import record_from_json
from costpipe.records import DIMENSIONS, TOKEN_FIELDS, CostRecord, CostSource
from costpipe.sinks.influxdb.encoder import (
    MAX_TAG_CHARS,
    LineEncoder,
    cost_nanos,
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


def test_cost_nanos_refuses_nan() -> None:
    with pytest.raises(ValueError, match="not finite"):
        cost_nanos(Decimal("NaN"))


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
