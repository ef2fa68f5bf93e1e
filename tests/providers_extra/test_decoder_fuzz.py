"""Hypothesis fuzzing of the LiteLLM and OpenRouter decoders (bytes in).

* Valid pages generated from the documented schemas decode to exactly what a
  plain reference model computes from the same rows (exact Decimal sums,
  hour and day bucketing, de-duplication, the window's edges).
* A hostile value placed in one field of one row refuses the page with the
  JSON path of that field.
* Mutated bytes of real pages give records within what a store can hold, or
  a MalformedDataError: never another exception.

The CI profile (tests/conftest.py) derandomizes every test here.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costpipe.errors import MalformedDataError
from costpipe.providers.litellm.decode import HourlySpend
from costpipe.providers.litellm.decode import decode as decode_spend_logs
from costpipe.providers.openrouter.decode import (
    activity_records,
    decode_activity,
    decode_credits,
)
from costpipe.providers.typed_json import MAX_COUNT, PageMalformed
from costpipe.records import CostRecord, Window
from costpipe.sinks.influxdb.encoder import cost_nanos
from tests.providers_extra.golden import CASES

#: Half the loaded profile's examples (the thorough profile still runs 1,000):
#: these build whole pages per example, and the fast tier keeps each test under 2 s.
EXAMPLES = max(20, settings.default.max_examples // 2)

PIECE = Window(datetime(2026, 3, 10, 8, tzinfo=UTC), datetime(2026, 3, 10, 12, tzinfo=UTC))
DAYS = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC))

# Amounts as the JSON text a server writes: up to 18 decimals, exact.
AMOUNTS = st.decimals(
    min_value=Decimal("-1000000"), max_value=Decimal(1000000), places=18, allow_nan=False
).map(lambda d: d.normalize() if d else Decimal("0.10"))
COUNTS = st.one_of(st.none(), st.integers(0, 2**40))
NAMES = st.one_of(st.none(), st.sampled_from(["", "bob", 'team "x"=1 ü \\', "a,b c"]))
MOMENTS = st.datetimes(min_value=datetime(2026, 3, 10, 7), max_value=datetime(2026, 3, 10, 13)).map(
    lambda m: m.replace(tzinfo=UTC)
)


def _text(moment: datetime, style: int) -> str:
    if style == 0:
        return moment.isoformat()
    if style == 1:
        return moment.replace(tzinfo=None).isoformat()  # no offset: UTC
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@st.composite
def spend_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for n in range(draw(st.integers(0, 12))):
        rows.append(
            {
                "request_id": draw(st.sampled_from([f"r{n}", "r0"])),  # some duplicates
                "startTime": draw(MOMENTS),
                "spend": draw(AMOUNTS),
                "prompt_tokens": draw(COUNTS),
                "completion_tokens": draw(COUNTS),
                "model": draw(NAMES),
                "model_group": draw(NAMES),
                "custom_llm_provider": draw(NAMES),
                "user": draw(NAMES),
                "team_id": draw(NAMES),
                "api_key": draw(NAMES),
                "metadata": {"ignored": [1.5, None, {"x": "y"}]},
            }
        )
    return rows


def _spend_page(rows: list[dict[str, Any]], style: int) -> bytes:
    parts = []
    for row in rows:
        fields = dict(row, startTime=_text(row["startTime"], style), spend="__SPEND__")
        # The amount goes in as its exact JSON number text, not through a float.
        parts.append(json.dumps(fields).replace('"__SPEND__"', str(row["spend"])))
    return ('{"data": [' + ", ".join(parts) + '], "total_pages": 1}').encode()


def _reference_spend(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], list[Any]]:
    """What the hourly records must hold, computed the plain way: rows outside the
    piece are ignored (a slice's inclusive end belongs to the next slice, which
    must still count it), then each request_id counts once."""
    groups: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [Decimal(0), 0, 0, 0])
    seen: set[str] = set()
    for row in rows:
        moment = row["startTime"]
        if not PIECE.start <= moment < PIECE.end:
            continue
        if row["request_id"] in seen:
            continue
        seen.add(row["request_id"])
        key = (
            moment.replace(minute=0, second=0, microsecond=0),
            row["user"] or "",
            row["team_id"] or "",
            row["api_key"] or "",
            row["model"] or row["model_group"] or "",
            row["custom_llm_provider"] or "",
        )
        group = groups[key]
        group[0] += row["spend"]
        group[1] += row["prompt_tokens"] or 0
        group[2] += row["completion_tokens"] or 0
        group[3] += 1
    return dict(groups)


@settings(max_examples=EXAMPLES)
@given(rows=spend_rows(), style=st.integers(0, 2))
def test_litellm_valid_pages_match_the_reference(rows: list[dict[str, Any]], style: int) -> None:
    hours = HourlySpend(PIECE)
    hours.add(decode_spend_logs(_spend_page(rows, style)).data)
    got = {
        (r.start, r.user_id, r.project_id, r.api_key_id, r.model, r.line_item): [
            r.cost_usd,
            r.uncached_input_tokens,
            r.output_tokens,
            r.requests,
        ]
        for r in hours.records("proxy")
    }
    assert got == _reference_spend(rows)
    inside = [row for row in rows if PIECE.start <= row["startTime"] < PIECE.end]
    assert hours.duplicates == len(inside) - len({row["request_id"] for row in inside})


@st.composite
def activity_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for _ in range(draw(st.integers(0, 10))):
        day = draw(st.dates(datetime(2026, 2, 27).date(), datetime(2026, 3, 6).date()))
        rows.append(
            {
                "date": day.isoformat(),
                "model": draw(st.sampled_from(["openai/gpt-4.1", "m/x"])),
                "model_permaslug": "ignored",
                "endpoint_id": draw(st.sampled_from(["e1", "e2"])),
                "provider_name": draw(st.sampled_from(["OpenAI", "Up", None])),
                "usage": draw(AMOUNTS),
                "byok_usage_inference": draw(st.one_of(st.none(), AMOUNTS)),
                "requests": draw(COUNTS),
                "prompt_tokens": draw(COUNTS),
                "completion_tokens": draw(COUNTS),
                "reasoning_tokens": 0,
            }
        )
    return rows


def _activity_page(rows: list[dict[str, Any]]) -> bytes:
    parts = []
    for row in rows:
        fields = dict(row, usage="__U__", byok_usage_inference="__B__")
        byok = row["byok_usage_inference"]
        text = json.dumps(fields).replace('"__U__"', str(row["usage"]))
        parts.append(text.replace('"__B__"', "null" if byok is None else str(byok)))
    return ('{"data": [' + ", ".join(parts) + "]}").encode()


@settings(max_examples=EXAMPLES)
@given(rows=activity_rows(), byok=st.booleans())
def test_openrouter_valid_pages_match_the_reference(rows: list[dict[str, Any]], byok: bool) -> None:
    records = activity_records(decode_activity(_activity_page(rows)), DAYS, "main", byok)
    expected: dict[tuple[Any, ...], list[Any]] = defaultdict(lambda: [Decimal(0), 0, 0, 0])
    for row in rows:
        day = datetime.fromisoformat(row["date"]).replace(tzinfo=UTC)
        if not DAYS.start <= day < DAYS.end:
            continue
        upstream = row["provider_name"] or row["endpoint_id"]
        group = expected[(day, row["model"], upstream)]
        group[0] += row["usage"]
        group[1] += row["prompt_tokens"] or 0
        group[2] += row["completion_tokens"] or 0
        group[3] += row["requests"] or 0
        if byok and row["byok_usage_inference"]:
            expected[(day, row["model"], f"{upstream}, byok")][0] += row["byok_usage_inference"]
    got = {
        (r.start, r.model, r.line_item): [
            r.cost_usd,
            r.uncached_input_tokens,
            r.output_tokens,
            r.requests,
        ]
        for r in records
    }
    assert got == dict(expected)
    assert len(records) == len(got)  # merged: one record per key


#: Values a field must refuse, as JSON text.
WRONG = {
    "spend": ['"NaN"', '"Infinity"', "1E+400", "-1E+10", "null", "true", '"ten"', "[]", "{}"],
    "prompt_tokens": ["5.0", '"5"', "-1", str(2**63), "true", "1.5", "[1]"],
    "completion_tokens": ["5.5", '"x"', "false", "{}"],
    "startTime": [
        '"2026-02-30T00:00:00Z"',
        '"yesterday"',
        "1773100800",
        '"9999-12-31T23:59:59-01:00"',
        '"0001-01-01T00:00:00+01:00"',
    ],
    "request_id": ['""', "7", "null", "[]"],
    "user": ["42", "true", "[]", "{}"],
    "team_id": ["1.5", "false"],
    "model": ["[]", "0"],
}


@settings(max_examples=EXAMPLES)
@given(rows=spend_rows().filter(bool), data=st.data())
def test_litellm_bad_field_is_refused_with_its_path(
    rows: list[dict[str, Any]], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(rows) - 1))
    field = data.draw(st.sampled_from(sorted(WRONG)))
    value = data.draw(st.sampled_from(WRONG[field]))
    rows = [dict(row) for row in rows]
    rows[index]["spend"] = Decimal("-0.12345")  # a marker no generated amount has
    page = _spend_page(rows, 0).decode()
    # The marked row's own fields come before its nested metadata.
    row_start = page.rindex('{"request_id": ', 0, page.index("-0.12345"))
    head, tail = page[:row_start], page[row_start:]
    key = f'"{field}": '
    at = tail.index(key) + len(key)
    tail = tail[:at] + value + tail[_end_of_value(tail, at) :]
    with pytest.raises(PageMalformed) as caught:
        decode_spend_logs((head + tail).encode())
    assert caught.value.path == f"$.data[{index}].{field}", str(caught.value)


def _end_of_value(text: str, at: int) -> int:
    """End of the JSON string, number or null that starts at *at* (no nesting needed)."""
    if text[at] == '"':
        return json.JSONDecoder().raw_decode(text, at)[1]
    end = at
    while text[end] not in ",}":
        end += 1
    return end


def _golden_pages(provider: str, endpoint: str) -> list[bytes]:
    folder = CASES / provider / endpoint
    return [
        (case / "page.json").read_bytes()
        for case in sorted(folder.iterdir())
        if not case.name.startswith("refuse_")
    ]


LITELLM_PAGES = _golden_pages("litellm", "spend_logs_v2")
ACTIVITY_PAGES = _golden_pages("openrouter", "activity")


def _storable(records: list[CostRecord]) -> None:
    for record in records:
        assert abs(cost_nanos(record.cost_usd)) < 2**63
        for count in (record.uncached_input_tokens, record.output_tokens, record.requests):
            assert 0 <= count <= MAX_COUNT * 10_000  # a piece sums at most 10,000 rows


@st.composite
def mutated(draw: st.DrawFn, pages: list[bytes]) -> bytes:
    page = bytearray(draw(st.sampled_from(pages)))
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(len(page) - 1, 0)))
        if how == "flip" and page:
            page[at] = draw(st.sampled_from(b'0123456789.-eE+"{}[],:nult \\\x00\xff'))
        elif how == "cut":
            del page[at:]
        elif how == "insert":
            page[at:at] = draw(
                st.sampled_from([b"1E+400", b"NaN", b"-", b'"', b"[" * 50, b"9" * 40])
            )
        elif page:
            del page[at : at + draw(st.integers(1, 8))]
    return bytes(page)


@given(page=mutated(LITELLM_PAGES))
def test_litellm_mutated_bytes_give_records_or_malformed_data(page: bytes) -> None:
    hours = HourlySpend(PIECE)
    try:
        hours.add(decode_spend_logs(page).data)
    except MalformedDataError:
        return
    _storable(hours.records("proxy"))


@given(page=mutated(ACTIVITY_PAGES))
def test_openrouter_mutated_bytes_give_records_or_malformed_data(page: bytes) -> None:
    window = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=UTC))
    try:
        rows = decode_activity(page)
    except MalformedDataError:
        return
    _storable(activity_records(rows, window, "main", True))


def test_the_mutation_fuzz_starts_from_pages_that_decode() -> None:
    """Else it proves nothing."""
    assert len(LITELLM_PAGES) >= 4
    assert len(ACTIVITY_PAGES) >= 3
    for page in LITELLM_PAGES:
        decode_spend_logs(page)
    for page in ACTIVITY_PAGES:
        decode_activity(page)
    assert timedelta(0) < PIECE.duration


#: Values an activity field must refuse, as JSON text.
ACTIVITY_WRONG = {
    "usage": ['"NaN"', '"-Infinity"', "1E+400", "null", "false", '"1,5"', "[]"],
    "byok_usage_inference": ['"NaN"', "2E+9", "true", "{}"],
    "requests": ["5.0", '"5"', "-3", str(2**63), "true"],
    "prompt_tokens": ["0.5", "[]"],
    "date": ['"2026-02-30"', '"09/03/2026"', "20260309", "null"],
    "model": ["1", "{}"],
    "provider_name": ["false", "[]"],
}


@settings(max_examples=EXAMPLES)
@given(rows=activity_rows().filter(bool), data=st.data())
def test_openrouter_bad_field_is_refused_with_its_path(
    rows: list[dict[str, Any]], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(rows) - 1))
    field = data.draw(st.sampled_from(sorted(ACTIVITY_WRONG)))
    value = data.draw(st.sampled_from(ACTIVITY_WRONG[field]))
    pieces = [_activity_page([row]).decode()[10:-2] for row in rows]  # each row's object
    key = f'"{field}": '
    at = pieces[index].index(key) + len(key)
    pieces[index] = pieces[index][:at] + value + pieces[index][_end_of_value(pieces[index], at) :]
    page = '{"data": [' + ", ".join(pieces) + "]}"
    with pytest.raises(PageMalformed) as caught:
        decode_activity(page.encode())
    assert caught.value.path == f"$.data[{index}].{field}", str(caught.value)


@given(
    total=AMOUNTS.map(abs),
    used=AMOUNTS.map(abs),
    quoted=st.booleans(),
)
def test_openrouter_credits_are_exact(total: Decimal, used: Decimal, quoted: bool) -> None:
    def text(amount: Decimal) -> str:
        return f'"{amount}"' if quoted else str(amount)

    page = f'{{"data": {{"total_credits": {text(total)}, "total_usage": {text(used)}}}}}'
    credits = decode_credits(page.encode())
    assert (credits.total_credits, credits.total_usage) == (total, used)
    assert str(credits.total_credits) == str(total)  # the text itself, not a rounding of it


@given(page=mutated([(CASES / "openrouter" / "credits" / "exact_text" / "page.json").read_bytes()]))
def test_openrouter_credits_mutated_bytes_decode_or_are_malformed(page: bytes) -> None:
    try:
        credits = decode_credits(page)
    except MalformedDataError:
        return
    assert credits.total_credits.is_finite()
    assert credits.total_usage.is_finite()
