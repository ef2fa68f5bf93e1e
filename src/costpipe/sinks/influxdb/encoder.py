"""InfluxDB 1.x line protocol for :class:`~costpipe.records.CostRecord` (pure, no IO).

One record is one point of the measurement ``ai_costs``::

    ai_costs,<tags sorted by key> cost_usd=<float>,cost_nanos=<int>i,<token counts>i,unpriced=<bool> <ns>

Series identity. The tag set is the record key minus the time: the text
dimensions (:data:`~costpipe.records.TEXT_DIMENSIONS`: ``provider``,
``account``, ``model``, ``user_id``, ``project_id``, ``api_key_id``,
``line_item``) and ``cost_source``, whose value is the record's *basis*
(``billed``, ``allocated`` or ``estimated``), never ``unpriced``. Unpriced-ness is the boolean
field ``unpriced``: re-pricing a row that was stored unpriced rewrites the same
series and timestamp, so InfluxDB overwrites the point instead of adding one.
Every field is always written, because InfluxDB merges the field sets of two
writes of one point and a missing field would survive from the old one.
Enricher tags (``record.tags``) are tags too; see ``docs/storage.md`` for what
changing an enricher mapping does to series.

Money is written twice: ``cost_usd`` as a float for humans and Grafana, and
``cost_nanos`` = cost in 1e-9 USD rounded half-even as an integer, which the
query layer sums so that totals are exact.

Tag escaping, verified against a real influxd 1.6.7 (``tests/storage``):

* ``,`` ``=`` and space are escaped with a backslash and read back exactly;
  every other character, backslashes, quotes, tabs, ``\\r`` and non-ASCII
  included, is written as is and reads back exactly.
* A newline cannot be represented: it is stored as the two characters ``\\n``.
* A value ending in a backslash is rejected by InfluxDB (the backslash would
  escape the separator): such a value is stored with one space appended.
* A value longer than :data:`MAX_TAG_CHARS` is stored as its first characters,
  ``~`` and 16 hex digits of its BLAKE2b hash (the series key limit is 64 KiB).
* Empty values are omitted; an enricher tag whose name is a built-in tag or a
  field name (or ``time``) is written as ``tag_<name>``.

:func:`stored_tag_value` applies exactly these rules, so queries can map a
filter value to what InfluxDB holds.
"""

from __future__ import annotations

import hashlib
import operator
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from types import ModuleType

from costpipe.records import (
    DIMENSIONS,
    TEXT_DIMENSIONS,
    TOKEN_FIELDS,
    CostRecord,
    CostSource,
    basis_of,
)

__all__ = [
    "FIELDS",
    "MAX_TAG_CHARS",
    "MEASUREMENT",
    "SPEEDUPS",
    "LineEncoder",
    "cost_nanos",
    "escape_tag",
    "price_source_field",
    "stored_tag_name",
    "stored_tag_value",
    "timestamp_ns",
]

MEASUREMENT = "ai_costs"
#: Field keys, in the order they are written.
FIELDS: tuple[str, ...] = ("cost_usd", "cost_nanos", *TOKEN_FIELDS, "price_source", "unpriced")
MAX_TAG_CHARS = 256
# The counters after ``requests`` (modality tokens, usage units) as one format:
# written on every point like the others, so an overwrite never leaves a stale one.
_LATER = TOKEN_FIELDS[TOKEN_FIELDS.index("requests") + 1 :]
_LATER_FORMAT = "".join(f",{name}={{}}i" for name in _LATER)
_later_values = operator.attrgetter(*_LATER)


_LATER_ZEROS = (0,) * len(_LATER)
# Most rows have none of these counters (text-only usage): one constant then.
_LATER_ALL_ZERO = _LATER_FORMAT.format(*_LATER_ZEROS)


def _later_counters(record: CostRecord) -> str:
    values = _later_values(record)
    if values == _LATER_ZEROS:
        return _LATER_ALL_ZERO
    return _LATER_FORMAT.format(*values)


_HASH_SUFFIX = 17  # "~" + 16 hex digits
_BUILTIN_TAGS = frozenset(DIMENSIONS)
_RESERVED_TAG_NAMES = _BUILTIN_TAGS | set(FIELDS) | {"time"}
_ESCAPES = str.maketrans({",": "\\,", "=": "\\=", " ": "\\ "})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def stored_tag_value(value: str) -> str:
    """The value InfluxDB will hold for the tag value *value* (see module doc)."""
    if "\n" in value:
        value = value.replace("\n", "\\n")
    if len(value) > MAX_TAG_CHARS:
        digest = hashlib.blake2b(value.encode(), digest_size=8).hexdigest()
        value = f"{value[: MAX_TAG_CHARS - _HASH_SUFFIX]}~{digest}"
    if value.endswith("\\"):
        value += " "
    return value


def escape_tag(value: str) -> str:
    """Line-protocol text for a tag key or value (see module doc)."""
    return stored_tag_value(value).translate(_ESCAPES)


def stored_tag_name(name: str) -> str:
    """The InfluxDB tag key an enricher tag *name* is stored under."""
    return f"tag_{name}" if name in _RESERVED_TAG_NAMES else name


def cost_nanos(cost: Decimal) -> int:
    """Cost in 1e-9 USD, rounded half-even; raises ValueError for NaN/infinity."""
    if not cost.is_finite():
        raise ValueError(f"cost_usd is not finite: {cost}")
    # Same arithmetic as LineEncoder.line (inlined there for speed).
    return int(cost.scaleb(9).to_integral_value(ROUND_HALF_EVEN))


def price_source_field(source: str) -> str:
    """``price_source="<text>"``: the record's price source as a string *field*
    (an audit note, not a tag: re-pricing rewrites the same series), escaped
    as line protocol wants a string field value (backslash and double quote)."""
    text = source.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'price_source="{text}"'


def timestamp_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime, exactly."""
    return (moment - _EPOCH) // _MICROSECOND * 1000


#: What the series cache is keyed by: the text dimension values, the cost source and the
#: enricher tags, as one tuple (one C call per record; see :data:`_series_fields`).
_SeriesKey = tuple[object, ...]
#: What it holds per series: ``ai_costs,<tags> cost_usd=`` and ``,unpriced=<bool> ``.
_SeriesText = tuple[str, str]
# One C call returning every value the series text depends on, in this order.
_series_fields = operator.attrgetter(*TEXT_DIMENSIONS, "cost_source", "tags")
_TEXT_COUNT = len(TEXT_DIMENSIONS)
# Powers of ten for scaling a decimal fraction to nanodollars (up to 15 characters).
_POW10 = tuple(10**k for k in range(16))


def _series_text(key: _SeriesKey) -> _SeriesText:
    values = key[:_TEXT_COUNT]
    source = key[_TEXT_COUNT]
    tags = key[_TEXT_COUNT + 1]
    assert isinstance(tags, tuple)
    assert isinstance(source, CostSource)
    basis = basis_of(source)
    pairs: dict[str, str] = {}
    for name, value in tags:
        if name and value:
            pairs[stored_tag_name(name)] = value
    # Built-in dimensions win over an enricher tag renamed onto the same key.
    for name, value in (*zip(TEXT_DIMENSIONS, values, strict=True), ("cost_source", basis)):
        if value:
            assert isinstance(value, str)
            pairs[name] = value
    # Sorted by the escaped key bytes: InfluxDB's canonical order, so the server
    # does not have to re-sort every point.
    escaped = sorted((escape_tag(k), escape_tag(v)) for k, v in pairs.items())
    head = MEASUREMENT + "".join(f",{k}={v}" for k, v in escaped) + " cost_usd="
    unpriced = "true" if source == CostSource.UNPRICED else "false"
    return head, f",unpriced={unpriced} "


def cost_texts(cost: Decimal) -> tuple[str, int]:
    """``repr(float(cost))`` and :func:`cost_nanos` of *cost*, from its decimal text.

    ``float(Decimal)`` goes through the text anyway, and ``repr`` of the float
    (shortest round trip) costs more than the rest of a point. A decimal of at
    most 15 significant digits is the shortest text of its nearest double
    (15 digits always survive decimal -> double -> decimal), so for plain text
    of at most 15 characters between 1e-4 and 1e15, where ``repr`` uses
    positional notation, the float text is the decimal text with its trailing
    zeros removed; the nanodollars are its digits scaled in integers. Anything
    else takes the ``float``/``Decimal`` route. A hypothesis test
    (``tests/storage/test_lineprotocol.py``) checks both against the plain
    computations.
    """
    text = str(cost)
    if len(text) <= 15 and "E" not in text and cost.is_finite() and cost.adjusted() >= -4:
        whole, dot, fraction = text.partition(".")
        if not dot:
            return text + ".0", int(text) * 1_000_000_000
        digits = len(fraction)
        stripped = text.rstrip("0")
        shown = stripped + "0" if stripped[-1] == "." else stripped
        if digits <= 9:
            return shown, int(whole + fraction) * _POW10[9 - digits]
        if text[0] != "-":
            # Rounded half-even, as cost_nanos rounds.
            nanos, rest = divmod(int(whole + fraction), _POW10[digits - 9])
            half = _POW10[digits - 9] >> 1
            if rest > half or (rest == half and nanos & 1):
                nanos += 1
            return shown, nanos
    return repr(float(cost)), cost_nanos(cost)


class LineEncoder:
    """Encodes records to line protocol, caching the escaped tag set per series.

    Per series (not per point) it escapes, sorts and joins the tags; per bucket
    start it computes the timestamp; per point only the money and the counts are
    formatted. The series cache is a dict keyed by the record's dimension values,
    cost source and tags, bounded by *cache_size* series (the oldest entry is
    evicted first); the timestamp cache is bounded the same way. An instance is
    not shared between threads (encoding runs on the event loop).
    """

    def __init__(self, cache_size: int = 65_536) -> None:
        self.cache_size = cache_size
        self._cache: dict[_SeriesKey, _SeriesText] = {}
        self._stamps: dict[datetime, str] = {}
        # A handful of distinct price sources (a data version, an override).
        self._sources: dict[str, str] = {}

    def _price_source(self, source: str) -> str:
        if len(self._sources) >= self.cache_size:
            self._sources.clear()
        text = self._sources[source] = price_source_field(source)
        return text

    def _series(self, key: _SeriesKey) -> _SeriesText:
        if len(self._cache) >= self.cache_size:
            del self._cache[next(iter(self._cache))]
        text = self._cache[key] = _series_text(key)
        return text

    def _stamp(self, start: datetime) -> str:
        if len(self._stamps) >= self.cache_size:
            del self._stamps[next(iter(self._stamps))]
        text = self._stamps[start] = str((start - _EPOCH) // _MICROSECOND * 1000)
        return text

    def series(self, record: CostRecord) -> str:
        """``ai_costs,<tags>``: the series part of the record's line."""
        key = _series_fields(record)
        text = self._cache.get(key) or self._series(key)
        return text[0][: -len(" cost_usd=")]

    def line(self, record: CostRecord) -> str:
        """One point, without the trailing newline."""
        return self.lines((record,))[0]

    def lines(self, records: Iterable[CostRecord]) -> list[str]:
        """One line per record, without newlines (the hot loop: everything that
        can be looked up per series or per bucket start is)."""
        cache_get = self._cache.get
        stamp_get = self._stamps.get
        source_get = self._sources.get
        out: list[str] = []
        append = out.append
        last_start: datetime | None = None
        stamp = ""
        for record in records:
            key = _series_fields(record)
            series = cache_get(key) or self._series(key)
            start = record.start
            if start is not last_start:
                stamp = stamp_get(start) or self._stamp(start)
                last_start = start
            cost = record.cost_usd
            text = str(cost)
            # The common case of cost_texts inlined (the same rules, see there).
            # ("0.0001" <= text: at least 1e-4 and not negative, by string order.)
            if len(text) <= 15 and "." in text and "E" not in text and "0.0001" <= text:
                whole, _, fraction = text.partition(".")
                digits = len(fraction)
                shown = text.rstrip("0")
                if shown[-1] == ".":
                    shown += "0"
                if digits <= 9:
                    nanos = int(whole + fraction) * _POW10[9 - digits]
                else:
                    nanos, rest = divmod(int(whole + fraction), _POW10[digits - 9])
                    half = _POW10[digits - 9] >> 1
                    if rest > half or (rest == half and nanos & 1):
                        nanos += 1
            else:
                if not cost.is_finite():
                    raise ValueError(f"cost_usd is not finite: {cost}")
                shown, nanos = cost_texts(cost)
            append(
                f"{series[0]}{shown},cost_nanos={nanos}i,"
                f"uncached_input_tokens={record.uncached_input_tokens}i,"
                f"cached_input_tokens={record.cached_input_tokens}i,"
                f"cache_write_tokens={record.cache_write_tokens}i,"
                f"cache_write_1h_tokens={record.cache_write_1h_tokens}i,"
                f"output_tokens={record.output_tokens}i,"
                f"requests={record.requests}i{_later_counters(record)},"
                f"{source_get(record.price_source) or self._price_source(record.price_source)}"
                f"{series[1]}{stamp}"
            )
        return out

    def encode(self, records: Sequence[CostRecord]) -> bytes:
        """A request body: one line per record, newline-terminated, UTF-8.

        In C when the accelerator is built (:data:`SPEEDUPS`), with the same
        bytes as joining :meth:`lines`; the caches are shared with it."""
        if not records:
            return b""
        if _speedups is not None:
            body: bytes | None = _speedups.encode(
                records if type(records) is list else list(records),
                self._cache,
                self._series,
                self._stamps,
                self._stamp,
                self._sources,
                self._price_source,
                _money_fallback,
            )
            if body is not None:
                return body
        return ("\n".join(self.lines(records)) + "\n").encode()


def _money_fallback(cost: Decimal) -> tuple[str, int]:
    # What the accelerator asks when a cost's text is not the plain common case.
    if not cost.is_finite():
        raise ValueError(f"cost_usd is not finite: {cost}")
    return cost_texts(cost)


def _load_speedups() -> ModuleType | None:
    """The C accelerator, configured for CostRecord's slots, or None.

    It is optional: built at install time where a C compiler and Python's
    headers exist (``hatch_build.py``). ``COSTPIPE_PURE_PYTHON=1`` turns it off."""
    if os.environ.get("COSTPIPE_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from costpipe.sinks.influxdb import _speedups
    except ImportError:
        return None
    _speedups.configure(
        CostRecord,
        (*TEXT_DIMENSIONS, "cost_source", "tags"),
        "start",
        "cost_usd",
        "price_source",
        TOKEN_FIELDS,
    )
    return _speedups


_speedups = _load_speedups()
#: Whether :meth:`LineEncoder.encode` runs in C (the output is the same either way).
SPEEDUPS = _speedups is not None
