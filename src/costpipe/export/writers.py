"""File formats of an export: CSV, JSON lines and Parquet, written a chunk at a time.

Every writer takes rows as tuples in its :class:`~costpipe.export.columns.Column`
order and never holds more than the chunk it is given. Money and quantities
stay exact: CSV and JSON lines write the decimal's own digits (never a float),
Parquet a ``decimal128(38, 18)``. CSV text cells go through
:func:`~costpipe.query.csvsafe.neutralise`, so a spreadsheet runs no formula a
provider's model or user name might hold; JSON and Parquet carry text as is.

pyarrow is an optional extra (``pip install 'costpipe[export]'``); without it
:func:`open_writer` raises :class:`MissingDependency` with that line.
"""

from __future__ import annotations

import csv
import functools
import importlib
import io
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, BinaryIO, Protocol

import msgspec

from costpipe.export.columns import Cell, Column, Kind
from costpipe.query.csvsafe import neutralise

__all__ = ["FORMATS", "MissingDependency", "RowWriter", "open_writer", "require_pyarrow"]

FORMATS = ("csv", "jsonl", "parquet")
_SCALE = Decimal("1e-18")


class MissingDependency(RuntimeError):
    """An optional package the chosen format needs is not installed."""


class RowWriter(Protocol):
    def write(self, rows: Sequence[tuple[Cell, ...]]) -> None: ...

    def close(self) -> None:
        """Finish the file (footer, flush); the binary stream stays open."""
        ...


@functools.lru_cache(maxsize=4096)
def _instant(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decimal(value: Decimal) -> str:
    """The exact digits, always with a decimal point (``51504.0``), so a reader
    that infers column types sees a decimal column, never an integer one."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0")
    else:
        text += "."
    text = text + "0" if text.endswith(".") else text
    return "0.0" if text == "-0.0" else text


def _text(cell: Cell, kind: Kind) -> str:
    """The text of one cell as CSV and JSON lines write it."""
    if cell is None:
        return ""
    if isinstance(cell, datetime):
        return _instant(cell)
    if isinstance(cell, Decimal):
        return _decimal(cell)
    return str(cell)


def _csv_cell(kind: Kind) -> Callable[[Cell], str]:
    """How a CSV writer renders a cell of *kind* (text cells neutralised)."""
    if kind in (Kind.STRING, Kind.JSON):
        return lambda cell: "" if cell is None else neutralise(str(cell))
    return lambda cell: _text(cell, kind)


class CsvWriter:
    def __init__(self, out: BinaryIO, columns: Sequence[Column]) -> None:
        self._text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        self._csv = csv.writer(self._text, lineterminator="\n")
        self._cells = [_csv_cell(c.kind) for c in columns]
        self._csv.writerow([c.name for c in columns])

    def write(self, rows: Sequence[tuple[Cell, ...]]) -> None:
        cells = self._cells
        self._csv.writerows(
            [render(cell) for render, cell in zip(cells, row, strict=True)] for row in rows
        )

    def close(self) -> None:
        self._text.flush()
        self._text.detach()


class JsonLinesWriter:
    """One JSON object per line; decimals as JSON numbers with their exact digits."""

    def __init__(self, out: BinaryIO, columns: Sequence[Column]) -> None:
        self._out = out
        self._columns = list(columns)
        self._encoder = msgspec.json.Encoder(decimal_format="number")

    def write(self, rows: Sequence[tuple[Cell, ...]]) -> None:
        lines = bytearray()
        for row in rows:
            item: dict[str, object] = {}
            for column, cell in zip(self._columns, row, strict=True):
                if column.kind is Kind.JSON and isinstance(cell, str):
                    item[column.name] = msgspec.Raw(cell.encode())
                elif isinstance(cell, datetime):
                    item[column.name] = _instant(cell)
                elif isinstance(cell, Decimal):
                    item[column.name] = Decimal(_decimal(cell))
                else:
                    item[column.name] = cell
            lines += self._encoder.encode(item)
            lines += b"\n"
        self._out.write(bytes(lines))

    def close(self) -> None:
        self._out.flush()


def require_pyarrow() -> tuple[Any, Any]:
    """``pyarrow`` and ``pyarrow.parquet``, or :class:`MissingDependency` saying how to get them."""
    try:
        return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise MissingDependency(
            "--format parquet needs pyarrow: pip install 'costpipe[export]'"
        ) from None


class ParquetWriter:
    """One row group per chunk, typed columns (timestamps in UTC, exact decimals)."""

    def __init__(self, out: BinaryIO, columns: Sequence[Column]) -> None:
        self._pa, parquet = require_pyarrow()
        pa = self._pa
        types = {
            Kind.STRING: pa.string(),
            Kind.JSON: pa.string(),
            Kind.DECIMAL: pa.decimal128(38, 18),
            Kind.INTEGER: pa.int64(),
            Kind.DATETIME: pa.timestamp("us", tz="UTC"),
        }
        self._columns = list(columns)
        self._schema = pa.schema(
            [pa.field(c.name, types[c.kind], nullable=c.nullable) for c in columns]
        )
        self._writer = parquet.ParquetWriter(out, self._schema, compression="zstd")

    def write(self, rows: Sequence[tuple[Cell, ...]]) -> None:
        if not rows:
            return
        arrays = []
        for index, column in enumerate(self._columns):
            values = [row[index] for row in rows]
            if column.kind is Kind.DECIMAL:
                values = [None if v is None else Decimal(v).quantize(_SCALE) for v in values]  # type: ignore[arg-type]
            arrays.append(values)
        self._writer.write_table(
            self._pa.Table.from_arrays(
                [self._pa.array(v, type=f.type) for v, f in zip(arrays, self._schema, strict=True)],
                schema=self._schema,
            )
        )

    def close(self) -> None:
        self._writer.close()


def open_writer(fmt: str, out: BinaryIO, columns: Sequence[Column]) -> RowWriter:
    """A writer of *fmt* (one of :data:`FORMATS`) over the binary stream *out*."""
    if fmt == "csv":
        return CsvWriter(out, columns)
    if fmt == "jsonl":
        return JsonLinesWriter(out, columns)
    if fmt == "parquet":
        return ParquetWriter(out, columns)
    raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
