"""Stored points of InfluxDB read back as records (allocation's input).

One point per record: ``GROUP BY *`` gives every series with its tags, and the
raw fields of each point. InfluxDB keeps no bucket width, so a row read back
is taken as daily when it is billed (the cost APIs are daily) and hourly
otherwise (usage's default bucket); the width is part of the key only in
stores that keep it, and InfluxDB's own identity of a point (its series and
timestamp) does not depend on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from costpipe.query.api import QUERYABLE_DIMENSIONS, CostQuery
from costpipe.records import DIMENSIONS, TOKEN_FIELDS, CostRecord, CostSource, PriceSource
from costpipe.sinks.influxdb.encoder import FIELDS

__all__ = ["stored_rows"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RESERVED = frozenset(DIMENSIONS) | set(FIELDS) | {"time"}
_SELECTED = ", ".join(f'"{f}"' for f in ("cost_nanos", *TOKEN_FIELDS, "unpriced", "price_source"))


class _HTTP(Protocol):
    @property
    def measurement(self) -> str: ...

    async def query(self, statement: str, method: str = "GET") -> list[dict[str, Any]]: ...


class _Reader(Protocol):
    """What this module uses of :class:`~costpipe.sinks.influxdb.reader.InfluxDBReader`."""

    def _http(self) -> Any: ...

    async def _where(self, query: CostQuery, *, basis: bool = True) -> str | None: ...


async def stored_rows(reader: _Reader, query: CostQuery) -> list[CostRecord]:
    """Every point of the query's (stored) basis, range and filters, ordered by key."""
    where = await reader._where(query)
    if where is None:
        return []
    http: _HTTP = reader._http()
    series = await http.query(
        f"SELECT {_SELECTED} FROM {http.measurement} WHERE {where} GROUP BY *"
    )
    records = [record for item in series for record in _records(item)]
    records.sort(key=lambda r: r.key)
    return records


def _records(series: Mapping[str, Any]) -> list[CostRecord]:
    tags: Mapping[str, str] = series.get("tags") or {}
    dims = {name: tags.get(name, "") for name in QUERYABLE_DIMENSIONS}
    extra = {_tag_name(k): v for k, v in tags.items() if k not in DIMENSIONS and v}
    basis = tags.get("cost_source", "")
    width = timedelta(days=1) if basis == "billed" else timedelta(hours=1)
    columns: list[str] = series["columns"]
    records = []
    for row in series["values"]:
        values = dict(zip(columns, row, strict=True))
        if values.get("cost_nanos") is None:
            continue
        source = CostSource.UNPRICED if values.get("unpriced") else CostSource(basis)
        fields: dict[str, Any] = {**dims, **{f: int(values.get(f) or 0) for f in TOKEN_FIELDS}}
        records.append(
            CostRecord(
                start=_EPOCH + timedelta(microseconds=int(values["time"]) // 1000),
                width=width,
                cost_source=source,
                cost_usd=Decimal(int(values["cost_nanos"])).scaleb(-9),
                tags=tuple(extra.items()),
                price_source=PriceSource(str(values.get("price_source") or "")),
                **fields,
            )
        )
    return records


def _tag_name(stored: str) -> str:
    """The enricher tag a stored key holds (``tag_<name>`` for a reserved name)."""
    if stored.startswith("tag_") and stored[4:] in _RESERVED:
        return stored[4:]
    return stored
