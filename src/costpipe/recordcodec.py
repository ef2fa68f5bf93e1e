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

from costpipe.records import TOKEN_FIELDS, CostRecord, CostSource

__all__ = ["decode_lines", "encode_lines", "record_from_json", "record_to_json"]

_TEXT_FIELDS = ("provider", "account", "model", "user_id", "project_id", "api_key_id", "line_item")
_MICROSECOND = timedelta(microseconds=1)


def record_to_json(record: CostRecord) -> dict[str, Any]:
    data: dict[str, Any] = {
        "start": record.start.isoformat(),
        "width_us": record.width // _MICROSECOND,
        "cost_source": record.cost_source.value,
        "cost_usd": str(record.cost_usd),
    }
    for name in _TEXT_FIELDS:
        data[name] = getattr(record, name)
    for name in TOKEN_FIELDS:
        data[name] = getattr(record, name)
    data["tags"] = dict(record.tags)
    return data


def record_from_json(data: Mapping[str, Any]) -> CostRecord:
    return CostRecord(
        start=datetime.fromisoformat(data["start"]),
        width=timedelta(microseconds=int(data["width_us"])),
        provider=str(data["provider"]),
        account=str(data["account"]),
        cost_source=CostSource(data["cost_source"]),
        cost_usd=Decimal(data["cost_usd"]),
        model=str(data.get("model", "")),
        user_id=str(data.get("user_id", "")),
        project_id=str(data.get("project_id", "")),
        api_key_id=str(data.get("api_key_id", "")),
        line_item=str(data.get("line_item", "")),
        uncached_input_tokens=int(data.get("uncached_input_tokens", 0)),
        cached_input_tokens=int(data.get("cached_input_tokens", 0)),
        cache_write_tokens=int(data.get("cache_write_tokens", 0)),
        output_tokens=int(data.get("output_tokens", 0)),
        requests=int(data.get("requests", 0)),
        tags=tuple((str(k), str(v)) for k, v in data.get("tags", {}).items()),
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
