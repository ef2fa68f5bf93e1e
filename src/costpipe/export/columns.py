"""Typed columns of an export and costpipe's own column set.

Every writer (:mod:`costpipe.export.writers`) reads a row as a tuple in the
order of its :class:`Column` list and renders each cell by the column's
:class:`Kind`. costpipe's own columns are derived from :mod:`costpipe.records`
(:data:`~costpipe.records.TEXT_DIMENSIONS`, :data:`~costpipe.records.TOKEN_FIELDS`),
so a counter or dimension added to the record appears here without an edit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from costpipe.records import TEXT_DIMENSIONS, TOKEN_FIELDS, CostRecord

__all__ = ["COSTPIPE_COLUMNS", "Cell", "Column", "Kind", "costpipe_row", "tags_json"]

#: One cell: text, an exact decimal, an integer, a UTC instant or null.
Cell = str | Decimal | int | datetime | None


class Kind(StrEnum):
    STRING = "string"
    """Text from a provider or a fixed label (CSV-neutralised)."""
    DECIMAL = "decimal"
    """Exact money or quantity (a Decimal, never a float)."""
    INTEGER = "integer"
    DATETIME = "datetime"
    """A UTC instant, written ``2026-11-01T00:00:00Z``."""
    JSON = "json"
    """A JSON object as text (FOCUS ``Tags``)."""


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind
    nullable: bool = False


def tags_json(tags: Sequence[tuple[str, str]]) -> str:
    """A JSON object of string keys and values, keys sorted."""
    return json.dumps(dict(sorted(tags)), ensure_ascii=False, separators=(",", ":"))


#: costpipe's own columns: the period, the dimensions, the money and every counter.
COSTPIPE_COLUMNS: tuple[Column, ...] = (
    Column("period_start", Kind.DATETIME),
    Column("period_end", Kind.DATETIME),
    *(Column(name, Kind.STRING) for name in TEXT_DIMENSIONS),
    Column("cost_source", Kind.STRING),
    Column("cost_usd", Kind.DECIMAL),
    # The price data of an estimate (docs/pricing.md): how to audit the figure.
    Column("price_source", Kind.STRING),
    *(Column(name, Kind.INTEGER) for name in TOKEN_FIELDS),
    Column("tags", Kind.JSON),
)


def costpipe_row(record: CostRecord) -> tuple[Cell, ...]:
    """One record in :data:`COSTPIPE_COLUMNS` order."""
    return (
        record.start,
        record.end,
        *(getattr(record, name) for name in TEXT_DIMENSIONS),
        record.cost_source.value,
        record.cost_usd,
        record.price_source,
        *(getattr(record, name) for name in TOKEN_FIELDS),
        tags_json(record.tags),
    )
