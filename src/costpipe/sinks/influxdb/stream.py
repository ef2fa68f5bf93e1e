"""Stored points of InfluxDB, summed per UTC day and streamed in chunks.

``costpipe export`` reads through :func:`stream_records` (the reader's
``stream_records``). The points are read as InfluxDB stores them
(``SELECT *``, answered in chunks with ``chunked=true``: one JSON document
per line, at most ``chunk`` points each, parsed one line at a time) and summed
per UTC day and group here, one day at a time: a raw query answers in time
order, so a day's groups are complete, and written out, when the first point of
the next day arrives. Memory is bounded by the groups of one day, not by the
range. InfluxDB 1.x could sum per day itself (``GROUP BY time(1d), *``), but
summing the record's twenty fields that way took 33 s for 20,000 points where
reading them took 3.8 s (influxd 1.6.7, ``docs/export.md``).

The bucket width is not stored in InfluxDB (``docs/storage.md``), so only whole
UTC days can be exported from it: an hourly export would show a daily bucket
(OpenAI's costs) as its first hour. For the ``best`` basis each of the
reader's slices is read in turn; a group whose day spans two slices is written
as two rows (their sum is the day's money).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import aiohttp

from costpipe.errors import CostpipeError, SinkUnavailableError
from costpipe.query.api import QUERYABLE_DIMENSIONS, CostQuery
from costpipe.records import DIMENSIONS, TOKEN_FIELDS, CostRecord, CostSource, PriceSource
from costpipe.redaction import redact_url
from costpipe.sinks.influxdb.encoder import FIELDS

__all__ = ["stream_records"]

_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RESERVED = frozenset({*DIMENSIONS, *FIELDS, "time"})
_DAY_NS = 86_400 * 10**9
#: Columns of ``SELECT *`` that are fields (every other column but time is a tag).
_FIELD_COLUMNS = frozenset({*FIELDS, "time"})


class InfluxHTTP(Protocol):
    """What this module uses of :class:`~costpipe.sinks.influxdb.reader.InfluxHTTP`."""

    session: aiohttp.ClientSession
    url: str
    database: str

    @property
    def measurement(self) -> str: ...


class InfluxDBReader(Protocol):
    """What this module uses of :class:`~costpipe.sinks.influxdb.reader.InfluxDBReader`
    (which imports this module, so it is not imported back)."""

    def _http(self) -> InfluxHTTP: ...

    async def _wheres(self, query: CostQuery) -> list[str] | None: ...

    async def _dimension(self, name: str) -> str: ...


def _tag_name(stored: str) -> str:
    """The enricher tag a stored tag key holds (the encoder writes ``tag_<name>``
    for a name that is a built-in tag or a field)."""
    if stored.startswith("tag_") and stored[4:] in _RESERVED:
        return stored[4:]
    return stored


async def stream_records(
    reader: InfluxDBReader,
    query: CostQuery,
    by: Sequence[str] | None = None,
    period: timedelta = timedelta(days=1),
    chunk: int = 5000,
) -> AsyncIterator[list[CostRecord]]:
    """Records of *query* summed per UTC day and per *by* (every dimension and
    enricher tag when None), about ``chunk`` at a time."""
    if period != _DAY:
        raise ValueError(
            "InfluxDB does not store the bucket width, so it exports whole UTC days only "
            "(--granularity day); use the SQLite store for hourly rows"
        )
    wheres = await reader._wheres(query)
    if wheres is None:
        return
    wanted: dict[str, str] | None = None
    if by is not None:
        wanted = {}
        for name in dict.fromkeys(by):
            wanted[(await reader._dimension(name)).strip('"')] = name
    http = reader._http()
    for where in wheres:
        days = _DayFolder(wanted)
        async for series in _chunked(
            http, f"SELECT * FROM {http.measurement} WHERE {where}", chunk
        ):
            done = days.add(series)
            for start in range(0, len(done), chunk):
                yield done[start : start + chunk]
        rest = days.flush()
        for start in range(0, len(rest), chunk):
            yield rest[start : start + chunk]


class _DayFolder:
    """Sums time-ordered points per UTC day and group; hands a day's records
    over when the next day begins."""

    def __init__(self, wanted: Mapping[str, str] | None) -> None:
        self.wanted = wanted
        self.day = -1
        self.groups: dict[tuple[bool, str, tuple[tuple[str, str], ...]], list[int]] = {}

    def add(self, series: Mapping[str, Any]) -> list[CostRecord]:
        columns: list[str] = series["columns"]
        tags = [(i, c) for i, c in enumerate(columns) if c not in _FIELD_COLUMNS]
        if self.wanted is not None:
            tags = [(i, c) for i, c in tags if c in self.wanted or c == "cost_source"]
        at = {c: i for i, c in enumerate(columns)}
        money, unpriced, prices = at["cost_nanos"], at.get("unpriced"), at.get("price_source")
        counters = [at.get(f) for f in TOKEN_FIELDS]
        done: list[CostRecord] = []
        for row in series["values"]:
            day = int(row[0]) // _DAY_NS
            if day != self.day:
                done.extend(self.flush())
                self.day = day
            priced = not (unpriced is not None and row[unpriced])
            # Rows priced from different data stay apart, as SQLite's stream keeps them.
            source = str(row[prices] or "") if prices is not None else ""
            key = (priced, source, tuple((c, str(row[i] or "")) for i, c in tags))
            sums = self.groups.get(key)
            if sums is None:
                sums = self.groups[key] = [0] * (1 + len(counters))
            sums[0] += int(row[money] or 0)
            for slot, index in enumerate(counters, start=1):
                if index is not None:
                    sums[slot] += int(row[index] or 0)
        return done

    def flush(self) -> list[CostRecord]:
        start = _EPOCH + self.day * _DAY
        records = [self._record(start, key, sums) for key, sums in self.groups.items()]
        self.groups = {}
        return records

    def _record(
        self, start: datetime, key: tuple[bool, str, tuple[tuple[str, str], ...]], sums: list[int]
    ) -> CostRecord:
        priced, price_source, pairs = key
        dims: dict[str, Any] = {}
        extra: dict[str, str] = {}
        source = "estimated"
        for column, value in pairs:
            if column == "cost_source":
                source = value
                continue
            if not value:
                continue
            name = self.wanted[column] if self.wanted else _tag_name(column)
            (dims if name in QUERYABLE_DIMENSIONS else extra)[name] = value
        dims.update(zip(TOKEN_FIELDS, sums[1:], strict=True))
        return CostRecord(
            start=start,
            width=_DAY,
            cost_source=CostSource(source) if priced else CostSource.UNPRICED,
            cost_usd=Decimal(sums[0]).scaleb(-9),
            provider=dims.pop("provider", ""),
            account=dims.pop("account", ""),
            tags=tuple(extra.items()),
            price_source=PriceSource(price_source),
            **dims,
        )


async def _chunked(http: InfluxHTTP, statement: str, chunk: int) -> AsyncIterator[dict[str, Any]]:
    """The series of one statement as InfluxDB streams them (``chunked=true``)."""
    params = {
        "db": http.database,
        "epoch": "ns",
        "q": statement,
        "chunked": "true",
        "chunk_size": str(chunk),
    }
    # The session's timeout bounds one request; an export of millions of rows is
    # one long answer, so the wait for each piece is bounded instead, and more
    # generously: before its first piece influxd opens every series of the range
    # (over 30 s for 30,000 series on a loaded machine).
    limit = http.session.timeout.total
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=limit, sock_read=None if limit is None else 10 * limit
    )
    try:
        async with http.session.get(
            f"{http.url}/query", params=params, timeout=timeout
        ) as response:
            if response.status >= 500:
                raise SinkUnavailableError(f"InfluxDB query answered {response.status}")
            pending = b""
            async for piece in response.content.iter_chunked(1 << 16):
                pending += piece
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    for series in _series_of(line, statement):
                        yield series
            for series in _series_of(pending, statement):
                yield series
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise SinkUnavailableError(
            f"InfluxDB at {redact_url(http.url)}: {type(exc).__name__}: {exc}"
        ) from None


def _series_of(line: bytes, statement: str) -> list[dict[str, Any]]:
    if not line.strip():
        return []
    payload = json.loads(line)
    if not isinstance(payload, dict):
        raise CostpipeError(f"InfluxDB answered {payload!r}")
    if "error" in payload:
        raise CostpipeError(f"InfluxDB refused {statement!r}: {payload['error']}")
    found: list[dict[str, Any]] = []
    for result in payload.get("results") or []:
        if "error" in result:
            if str(result["error"]).startswith("database not found"):
                continue
            raise CostpipeError(f"InfluxDB refused {statement!r}: {result['error']}")
        found.extend(result.get("series") or [])
    return found
