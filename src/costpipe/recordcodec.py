"""Lossless JSON for :class:`~costpipe.records.CostRecord` (spool and dead letters).

Money is a decimal string, time an ISO 8601 UTC string, the bucket width an
integer number of microseconds: ``record_from_json(record_to_json(r)) == r``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from costpipe.records import TEXT_DIMENSIONS, TOKEN_FIELDS, CostRecord, CostSource, PriceSource

__all__ = ["decode_lines", "encode_lines", "record_from_json", "record_to_json"]

_MICROSECOND = timedelta(microseconds=1)


def record_to_json(record: CostRecord) -> dict[str, Any]:
    data: dict[str, Any] = {
        "start": record.start.isoformat(),
        "width_us": record.width // _MICROSECOND,
        "cost_source": record.cost_source.value,
        "cost_usd": str(record.cost_usd),
    }
    for name in TEXT_DIMENSIONS:
        data[name] = getattr(record, name)
    for name in TOKEN_FIELDS:
        data[name] = getattr(record, name)
    data["tags"] = dict(record.tags)
    if record.price_source:
        data["price_source"] = record.price_source
    return data


def record_from_json(data: Mapping[str, Any]) -> CostRecord:
    # provider and account are required; a dimension added later reads as "" from
    # files written before it existed.
    fields: dict[str, Any] = {name: str(data.get(name, "")) for name in TEXT_DIMENSIONS}
    fields["provider"], fields["account"] = str(data["provider"]), str(data["account"])
    fields.update((name, int(data.get(name, 0))) for name in TOKEN_FIELDS)
    return CostRecord(
        start=datetime.fromisoformat(data["start"]),
        width=timedelta(microseconds=int(data["width_us"])),
        cost_source=CostSource(data["cost_source"]),
        cost_usd=Decimal(data["cost_usd"]),
        tags=tuple((str(k), str(v)) for k, v in data.get("tags", {}).items()),
        price_source=PriceSource(str(data.get("price_source", ""))),
        **fields,
    )


def encode_lines(records: Iterable[CostRecord]) -> bytes:
    """JSON lines, one record per line, UTF-8."""
    return b"".join(
        json.dumps(record_to_json(r), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        for r in records
    )


def decode_lines(data: bytes) -> Iterator[CostRecord]:
    for line in data.splitlines():
        if line.strip():
            yield record_from_json(json.loads(line))
