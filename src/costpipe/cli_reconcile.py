"""``costpipe reconcile``: billed against estimated money, per provider and UTC day.

``--by project|model|line_item`` splits each day by that dimension;
``--format table|csv|json``; ``--tolerance`` (percent, default ``[alerts]
drift_tolerance``, else 5) flags the cells whose drift is beyond it
(:mod:`costpipe.allocation.reconcile` defines the drift). Figures come from the
store the dashboard reads, through the query layer. Provider data in the cells
is text: CSV cells are neutralised against spreadsheet formulas, table cells
have control characters replaced.

Exit codes (``docs/cli.md``): 0 when the figures were printed (flagged cells
included: they are the report), 1 when the store failed, 2 for a bad option.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TextIO

from costpipe.allocation.reconcile import BY, DriftRow, reconcile
from costpipe.cli_allocation import open_reader
from costpipe.config.settings import Settings
from costpipe.errors import ConfigError, CostpipeError
from costpipe.query.csvsafe import neutralise_row

__all__ = ["COLUMNS", "add_arguments", "run"]

DEFAULT_TOLERANCE = Decimal(5)
COLUMNS = ("provider", "day", "group", "billed_usd", "estimated_usd", "difference_usd",
           "drift_percent", "flagged")  # fmt: skip
_MAX_CELL = 80


def _percent(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"expected a percentage like 5, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"expected a percentage like 5, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser, moment: Callable[[str], datetime]) -> None:
    parser.add_argument("--since", required=True, type=moment, help="start (date or timestamp)")
    parser.add_argument("--until", type=moment, help="end, exclusive (default: now)")
    parser.add_argument("--by", choices=sorted(BY), help="split each day by this dimension")
    parser.add_argument(
        "--format", choices=["table", "csv", "json"], default="table", help="output format"
    )
    parser.add_argument(
        "--tolerance", type=_percent, help="flag drifts beyond this percent (default: [alerts])"
    )


def _cells(row: DriftRow, tolerance: Decimal) -> list[str]:
    drift = row.drift_percent
    return [
        row.provider,
        row.day.isoformat(),
        row.group,
        str(row.billed),
        str(row.estimated),
        str(row.difference),
        "" if drift is None else str(drift),
        "yes" if row.flagged(tolerance) else "",
    ]


def _printable(text: str) -> str:
    shown = "".join(c if c.isprintable() else "?" for c in text)
    return shown if len(shown) <= _MAX_CELL else shown[: _MAX_CELL - 1] + "…"


def render(rows: Sequence[DriftRow], fmt: str, tolerance: Decimal, out: TextIO) -> None:
    """Write *rows* to *out* as a table, CSV or JSON."""
    if fmt == "json":
        data: list[dict[str, object]] = []
        for row in rows:
            item: dict[str, object] = dict(zip(COLUMNS, _cells(row, tolerance), strict=True))
            item["drift_percent"] = None if row.drift_percent is None else item["drift_percent"]
            item["flagged"] = row.flagged(tolerance)
            data.append(item)
        json.dump(data, out, ensure_ascii=False, indent=1)
        out.write("\n")
        return
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(neutralise_row(_cells(row, tolerance)))
        return
    table = [list(COLUMNS)] + [[_printable(c) for c in _cells(r, tolerance)] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    for line in table:
        out.write("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        out.write("\n")
    flagged = sum(r.flagged(tolerance) for r in rows)
    out.write(f"{len(rows)} rows, {flagged} beyond {tolerance} %\n")


async def _reconcile(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    until = args.until or datetime.now(UTC)
    if until <= args.since:
        raise ConfigError("--until", "must be later than --since")
    tolerance = args.tolerance
    if tolerance is None:
        tolerance = settings.alerts.drift_tolerance or DEFAULT_TOLERANCE
    async with open_reader(settings) as reader:
        rows = await reconcile(reader, args.since, until, args.by)
    render(rows, args.format, tolerance, out)
    return 0


def run(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    try:
        return asyncio.run(_reconcile(args, settings, out))
    except CostpipeError as exc:
        if isinstance(exc, ConfigError):
            raise
        err.write(f"costpipe: reconcile failed: {exc}\n")
        return 1
