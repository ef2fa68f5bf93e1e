"""Decoding the time-bucketed report pages of OpenAI and Anthropic.

Both APIs answer ``{data: [{<start>, <end>, results: [row...]}], has_more,
next_page}``. A provider describes each endpoint as an :class:`Endpoint` (path,
``group_by``, a msgspec decoder of its page, and how one row becomes a
record); :func:`decode_buckets` does the rest, purely: it decodes the bytes
once, drops buckets outside the requested span, builds the records of each
row and sums those that share a key. A mismatch with the documented schema
raises :class:`~costpipe.providers.typed_json.PageMalformed` naming the JSON
path of the bad value.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from costpipe.errors import MalformedDataError
from costpipe.pricing.prices import UsageRate
from costpipe.providers.base import PageError
from costpipe.providers.http import RawPage
from costpipe.providers.planning import DecodedPage, UsagePricer, add_records
from costpipe.providers.typed_json import PageMalformed, decode_page
from costpipe.providers.usage_rows import BUILDER, TextRows, layout_of
from costpipe.records import CostRecord, CostSource, PriceSource, Window

__all__ = ["At", "BucketPage", "Endpoint", "RowError", "Scope", "check_page", "decode_buckets"]

RowT = TypeVar("RowT")
RowT_co = TypeVar("RowT_co", covariant=True)


class BucketPage(Protocol[RowT_co]):
    """What every page Struct has."""

    @property
    def data(self) -> Sequence[Any]: ...

    @property
    def has_more(self) -> bool: ...

    @property
    def next_page(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Scope:
    """What a page's records need beyond the page: whose they are, which
    buckets were asked for, and the prices."""

    account: str
    span: Window
    pricer: UsagePricer


@dataclass(slots=True)
class At:
    """One bucket of one page, as a row's record function sees it. ``rates``
    and ``prepared`` may be shared by the buckets of one UTC day (a rate is a
    day's price: :func:`decode_buckets` shares them)."""

    start: datetime
    width: timedelta
    account: str
    pricer: UsagePricer
    rates: dict[tuple[str, str], UsageRate | None] = field(default_factory=dict)
    prepared: dict[tuple[str, str], object] = field(default_factory=dict)

    def rate(self, model: str, tier: str = "") -> UsageRate | None:
        """The price of *model* in *tier* for this bucket's day, looked up once
        per day (not once per row); ``None`` when unpriced (logged once)."""
        key = (model, tier)
        rates = self.rates
        if key in rates:
            return rates[key]
        found = rates[key] = self.pricer.rate(model, self.start, tier)
        return found

    def prepared_rate(self, model: str, tier: str) -> object:
        """:meth:`rate` as the C record builder takes it (:mod:`.usage_rows`):
        ``None`` when unpriced, the rate's ``text_prices``, or ``False`` (a
        price too large to pack: Python prices the row)."""
        rate = self.rate(model, tier)
        if rate is None:
            return None
        return rate.text_prices or False

    def record(
        self,
        provider: str,
        source: CostSource,
        cost: Decimal,
        price_source: PriceSource,
        dimensions: tuple[str, str, str, str, str],
        tokens: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0),
        modalities: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0),
    ) -> CostRecord:
        """A record of this bucket: *dimensions* are (model, user_id, project_id,
        api_key_id, line_item), *tokens* (uncached input, cached input, cache
        writes, 1-hour cache writes, output, requests), *modalities* (uncached
        and cached audio input, audio output, uncached and cached image input,
        image output).

        Built positionally in :data:`~costpipe.records.HOT_FIELD_ORDER`: the
        decoders' hot path, where 17 keyword arguments cost three times as much."""
        return CostRecord(
            self.start, self.width, provider, self.account, source, cost,
            *dimensions, *tokens, *modalities, price_source=price_source,
        )  # fmt: skip


class RowError(ValueError):
    """A row whose fields contradict each other; ``field`` names the culprit."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


#: A bucket's ``(start, end)`` in UTC, given the bucket.
Bounds = Callable[[Any], tuple[datetime, datetime]]


@dataclass(frozen=True, slots=True)
class Endpoint(Generic[RowT]):
    """One documented endpoint: where, how it is grouped, the decoder of its
    page and how a row becomes a record (``None``: nothing to record; a tuple:
    several records). ``text_rows`` says where a row keeps what a text-only
    record needs, so that the C builder makes those records (:mod:`.usage_rows`);
    ``record`` stays the reference and builds every other row."""

    path: str
    group_by: tuple[str, ...]
    decoder: msgspec.json.Decoder[Any]
    record: Callable[[RowT, At], CostRecord | tuple[CostRecord, ...] | None]
    text_rows: TextRows | None = None
    layout: object | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.text_rows is not None:
            object.__setattr__(self, "layout", layout_of(self.text_rows))


#: What tells two records of one bucket apart (one C call per record).
_merge_key = operator.attrgetter("model", "user_id", "project_id", "api_key_id", "line_item")


def decode_buckets(
    endpoint: Endpoint[Any], bounds: Bounds, end_field: str, scope: Scope, body: bytes
) -> DecodedPage:
    """The records of one page of *endpoint*, merged by key, and its cursor.

    Buckets outside ``scope.span`` are dropped: a server may add a partial or
    neighbouring bucket, and keeping it would put a record outside the window
    (and make keys depend on request edges). *end_field* names the bucket's
    end in the JSON, for the error of a bucket that ends before it starts."""
    page: BucketPage[Any] = decode_page(endpoint.decoder, body)
    span = scope.span
    # Records that share a key are summed, so that an upsert by key never drops
    # money. Every record of one page has the same provider, account and basis
    # (an endpoint is billed or usage), and one bucket the same start and width,
    # so within a bucket the other text dimensions identify a record.
    # By bucket (start, end): a page may repeat a bucket, whose rows then merge too.
    buckets: dict[tuple[datetime, datetime], dict[tuple[str, ...], CostRecord]] = {}
    # A rate is the price of one UTC day: the buckets of a day share their
    # lookups (24 hourly buckets, one lookup per model and tier).
    rates_of_day: dict[date, tuple[dict[Any, Any], dict[Any, Any]]] = {}
    build = endpoint.record
    # Each bucket is let go once its records are built, so the page's decoded
    # rows shrink as its records grow (a 50k-row page holds both only briefly).
    # (msgspec decodes a JSON array to a list, which is emptied here.)
    pending = page.data if isinstance(page.data, list) else list(page.data)
    pending.reverse()
    index = -1
    while pending:
        bucket = pending.pop()
        index += 1
        start, end = bounds(bucket)
        if end <= start:
            raise PageMalformed(
                f"$.data[{index}].{end_field}", f"bucket ends before it starts ({start} >= {end})"
            )
        rows = bucket.results
        if not rows or not (span.start <= start and end <= span.end):
            continue
        at = At(start, end - start, scope.account, scope.pricer,
                *rates_of_day.setdefault(start.date(), ({}, {})))  # fmt: skip
        merged = buckets.setdefault((start, end), {})
        if endpoint.layout is not None and BUILDER is not None and type(rows) is list:
            slow = _row_builder(build, at, index)
            BUILDER.build(
                endpoint.layout, rows, at.start, at.width, at.account,
                at.prepared, at.prepared_rate, slow, merged,
            )  # fmt: skip
            continue
        for number, row in enumerate(rows):
            try:
                record = build(row, at)
            except RowError as exc:
                path = f"$.data[{index}].results[{number}].{exc.field}"
                raise PageMalformed(path, exc.reason) from None
            if record is None:
                continue
            # A row may stand for several records (Anthropic: its tokens and
            # its web-search requests).
            for one in (record,) if isinstance(record, CostRecord) else record:
                key = _merge_key(one)
                previous = merged.setdefault(key, one)
                if previous is not one:
                    merged[key] = add_records(previous, one)
    records = [record for merged in buckets.values() for record in merged.values()]
    return DecodedPage(records, page.has_more, page.next_page)


def _row_builder(
    build: Callable[[Any, At], CostRecord | tuple[CostRecord, ...] | None], at: At, index: int
) -> Callable[[Any, int], CostRecord | tuple[CostRecord, ...] | None]:
    """*build* for the rows the C builder leaves to Python, with the JSON path
    of a row error (the loop above does the same inline)."""

    def slow(row: Any, number: int) -> CostRecord | tuple[CostRecord, ...] | None:
        try:
            return build(row, at)
        except RowError as exc:
            path = f"$.data[{index}].results[{number}].{exc.field}"
            raise PageMalformed(path, exc.reason) from None

    return slow


def check_page(endpoint: Endpoint[Any], raw: RawPage) -> None:
    """PageError (naming the JSON path) unless *raw* is a page of *endpoint*: a
    connection check answered 200 with something else (a web page, another
    API behind a wrong ``base_url``) is not a success."""
    try:
        decode_page(endpoint.decoder, raw.body)
    except MalformedDataError as exc:
        raise PageError(raw.url, str(exc)) from None
