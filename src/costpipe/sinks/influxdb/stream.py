"""Stored points of InfluxDB, summed per UTC day and streamed in chunks.

``costpipe export`` reads through :func:`stream_records` (the reader's
``stream_records``). InfluxDB sums per day and per group (``GROUP BY time(1d),
<tags>``) and answers in chunks (``chunked=true``: one JSON document per line,
at most ``chunk`` values each), which are parsed one line at a time, so memory
stays flat however many points the range holds.

The bucket width is not stored in InfluxDB (``docs/storage.md``), so only whole
UTC days can be exported from it: an hourly export would show a daily bucket
(OpenAI's costs) as its first hour. Unpriced rows are read by a statement of
their own (``unpriced`` is a boolean field, which InfluxQL cannot group by).
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
from costpipe.records import DIMENSIONS, TOKEN_FIELDS, CostRecord, CostSource
from costpipe.redaction import redact_url
from costpipe.sinks.influxdb.encoder import FIELDS

__all__ = ["stream_records"]

_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RESERVED = frozenset({*DIMENSIONS, *FIELDS, "time"})
_SUMS = ", ".join(f'sum("{f}") AS "{f}"' for f in ("cost_nanos", *TOKEN_FIELDS))


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
    enricher tag when None), ``chunk`` values at a time."""
    if period != _DAY:
        raise ValueError(
            "InfluxDB does not store the bucket width, so it exports whole UTC days only "
            "(--granularity day); use the SQLite store for hourly rows"
        )
    wheres = await reader._wheres(query)
    if wheres is None:
        return
    wanted = None if by is None else list(dict.fromkeys(by))
    keys = ["*"] if wanted is None else [await reader._dimension(n) for n in wanted]
    names = {} if wanted is None else {k.strip('"'): n for k, n in zip(keys, wanted, strict=True)}
    if wanted is not None:
        keys.append('"cost_source"')
    http = reader._http()
    group = f" GROUP BY time(1d), {', '.join(keys)} fill(none)"
    for where in wheres:
        for unpriced in (False, True):
            statement = (
                f"SELECT {_SUMS} FROM {http.measurement} WHERE {where} "
                f'AND "unpriced" = {"true" if unpriced else "false"}{group}'
            )
            batch: list[CostRecord] = []
            async for series in _chunked(http, statement, chunk):
                batch.extend(_records(series, names, unpriced))
                if len(batch) >= chunk:
                    yield batch
                    batch = []
            if batch:
                yield batch


def _records(
    series: Mapping[str, Any], names: Mapping[str, str], unpriced: bool
) -> list[CostRecord]:
    tags: Mapping[str, str] = series.get("tags") or {}
    dims: dict[str, str] = {}
    extra: dict[str, str] = {}
    for key, value in tags.items():
        if key == "cost_source" or not value:
            continue
        name = names.get(key, key if key in QUERYABLE_DIMENSIONS else _tag_name(key))
        (dims if name in QUERYABLE_DIMENSIONS else extra)[name] = value
    source = CostSource.UNPRICED if unpriced else CostSource(tags.get("cost_source", ""))
    columns: list[str] = series["columns"]
    records = []
    for row in series["values"]:
        values = dict(zip(columns, row, strict=True))
        built: dict[str, Any] = {k: v for k, v in dims.items() if k not in ("provider", "account")}
        built.update({f: int(values.get(f) or 0) for f in TOKEN_FIELDS})
        records.append(
            CostRecord(
                start=_EPOCH + timedelta(microseconds=int(values["time"]) // 1000),
                width=_DAY,
                cost_source=source,
                cost_usd=Decimal(int(values["cost_nanos"] or 0)).scaleb(-9),
                provider=dims.get("provider", ""),
                account=dims.get("account", ""),
                tags=tuple(extra.items()),
                **built,
            )
        )
    return records


async def _chunked(http: InfluxHTTP, statement: str, chunk: int) -> AsyncIterator[dict[str, Any]]:
    """The series of one statement as InfluxDB streams them (``chunked=true``)."""
    params = {
        "db": http.database,
        "epoch": "ns",
        "q": statement,
        "chunked": "true",
        "chunk_size": str(chunk),
    }
    try:
        async with http.session.get(f"{http.url}/query", params=params) as response:
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
