"""InfluxDB 1.x line protocol for :class:`~costpipe.records.CostRecord` (pure, no IO).

One record is one point of the measurement ``ai_costs``::

    ai_costs,<tags sorted by key> cost_usd=<float>,cost_nanos=<int>i,<token counts>i,unpriced=<bool> <ns>

Series identity. The tag set is the record key minus the time: the text
dimensions (:data:`~costpipe.records.TEXT_DIMENSIONS`: ``provider``,
``account``, ``model``, ``user_id``, ``project_id``, ``api_key_id``,
``line_item``) and ``cost_source``, whose value is the record's *basis*
(``billed`` or ``estimated``), never ``unpriced``. Unpriced-ness is the boolean
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
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from costpipe.records import DIMENSIONS, TEXT_DIMENSIONS, TOKEN_FIELDS, CostRecord, CostSource

__all__ = [
    "FIELDS",
    "MAX_TAG_CHARS",
    "MEASUREMENT",
    "LineEncoder",
    "cost_nanos",
    "escape_tag",
    "stored_tag_name",
    "stored_tag_value",
    "timestamp_ns",
]

MEASUREMENT = "ai_costs"
#: Field keys, in the order they are written.
FIELDS: tuple[str, ...] = ("cost_usd", "cost_nanos", *TOKEN_FIELDS, "unpriced")
MAX_TAG_CHARS = 256
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


def timestamp_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime, exactly."""
    return (moment - _EPOCH) // _MICROSECOND * 1000


#: (text dimension values, basis, enricher tags): one cache entry per series.
_SeriesKey = tuple[tuple[str, ...], str, tuple[tuple[str, str], ...]]
# One C call returning every dimension's value as a tuple, in TEXT_DIMENSIONS order.
_dimension_values = operator.attrgetter(*TEXT_DIMENSIONS)


def _series_text(key: _SeriesKey) -> str:
    values, basis, tags = key
    pairs: dict[str, str] = {}
    for name, value in tags:
        if name and value:
            pairs[stored_tag_name(name)] = value
    # Built-in dimensions win over an enricher tag renamed onto the same key.
    for name, value in (*zip(TEXT_DIMENSIONS, values, strict=True), ("cost_source", basis)):
        if value:
            pairs[name] = value
    # Sorted by the escaped key bytes: InfluxDB's canonical order, so the server
    # does not have to re-sort every point.
    escaped = sorted((escape_tag(k), escape_tag(v)) for k, v in pairs.items())
    return MEASUREMENT + "".join(f",{k}={v}" for k, v in escaped)


class LineEncoder:
    """Encodes records to line protocol, caching the escaped tag set per series.

    The cache is a dict keyed by the record's tag tuple and bounded by
    *cache_size* series (the oldest entry is evicted first); an instance is not
    shared between threads (encoding runs on the event loop).
    """

    def __init__(self, cache_size: int = 65_536) -> None:
        self.cache_size = cache_size
        self._cache: dict[_SeriesKey, str] = {}

    def series(self, record: CostRecord) -> str:
        """``ai_costs,<tags>``: the series part of the record's line."""
        key: _SeriesKey = (
            _dimension_values(record),
            "billed" if record.cost_source is CostSource.BILLED else "estimated",
            record.tags,
        )
        text = self._cache.get(key)
        if text is None:
            if len(self._cache) >= self.cache_size:
                del self._cache[next(iter(self._cache))]
            text = self._cache[key] = _series_text(key)
        return text

    def line(self, record: CostRecord) -> str:
        """One point, without the trailing newline."""
        cost = record.cost_usd
        if not cost.is_finite():
            raise ValueError(f"cost_usd is not finite: {cost}")
        return (
            f"{self.series(record)} cost_usd={float(cost)!r},"
            f"cost_nanos={int(cost.scaleb(9).to_integral_value(ROUND_HALF_EVEN))}i,"
            f"uncached_input_tokens={record.uncached_input_tokens}i,"
            f"cached_input_tokens={record.cached_input_tokens}i,"
            f"cache_write_tokens={record.cache_write_tokens}i,"
            f"output_tokens={record.output_tokens}i,"
            f"requests={record.requests}i,"
            f"unpriced={'true' if record.cost_source is CostSource.UNPRICED else 'false'} "
            f"{(record.start - _EPOCH) // _MICROSECOND * 1000}"
        )

    def lines(self, records: Iterable[CostRecord]) -> list[str]:
        return [self.line(record) for record in records]

    def encode(self, records: Sequence[CostRecord]) -> bytes:
        """A request body: one line per record, newline-terminated, UTF-8."""
        if not records:
            return b""
        line = self.line
        return ("\n".join([line(record) for record in records]) + "\n").encode()
