"""``costpipe export``: stored costs as a file other tools read.

``--format focus`` writes FOCUS cost-and-usage rows as CSV (``--columns focus``
puts them in JSON lines or Parquet instead); ``csv``, ``jsonl`` and ``parquet``
write costpipe's own columns. Rows stream from the store a chunk at a time
(:mod:`costpipe.export.run`), to ``-o FILE`` or stdout. A file is written under
a temporary name beside it and renamed only when the export is complete and
adds up to the store's total, so a failed export never leaves a file that
looks whole.

Exit codes (``docs/cli.md``): 2 for a bad option (unknown dimension, an hourly
export from InfluxDB, a missing optional package, no readable store), 1 when the
store failed or the file does not add up to the store, 0 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from costpipe.components import Sink
from costpipe.config.settings import Settings
from costpipe.engine.runtime import build_component, store_specs
from costpipe.errors import ConfigError, CostpipeError
from costpipe.export.focus_schema import FOCUS_VERSIONS
from costpipe.export.progress import ExportProgress
from costpipe.export.run import ExportMismatch, ExportPlan, ExportSummary, export, shaper
from costpipe.export.writers import FORMATS, MissingDependency, open_writer, require_pyarrow
from costpipe.pricing.prices import PriceTable
from costpipe.query.api import Basis, CostQuery

__all__ = ["add_arguments", "run_export"]

_PERIODS = {"day": timedelta(days=1), "hour": timedelta(hours=1)}


def add_arguments(parser: argparse.ArgumentParser, moment: Callable[[str], datetime]) -> None:
    """The options of ``costpipe export``; *moment* parses ``--since``/``--until``."""
    parser.add_argument(
        "--format",
        choices=["focus", *FORMATS],
        default="focus",
        help="focus: FOCUS rows as CSV; csv, jsonl, parquet: costpipe's columns (default focus)",
    )
    parser.add_argument(
        "--columns",
        choices=["costpipe", "focus"],
        default=None,
        help="column set (default: focus for --format focus, else costpipe)",
    )
    parser.add_argument(
        "--focus-version", choices=FOCUS_VERSIONS, default=FOCUS_VERSIONS[0], help="FOCUS names"
    )
    parser.add_argument(
        "--basis", choices=[b.value for b in Basis], default=Basis.BILLED.value, help="money"
    )
    parser.add_argument("--since", required=True, type=moment, help="start (date or timestamp)")
    parser.add_argument("--until", type=moment, help="end, exclusive (default: now)")
    parser.add_argument(
        "--group-by",
        action="append",
        metavar="DIM[,DIM]",
        help="sum per these dimensions or enricher tags only (default: every one)",
    )
    parser.add_argument(
        "--granularity", choices=sorted(_PERIODS), default="day", help="row period (UTC)"
    )
    parser.add_argument("--store", help="sink instance to read (default: as the dashboard)")
    parser.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    parser.add_argument("--chunk-rows", type=int, default=5000, help=argparse.SUPPRESS)


def _group_by(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


@contextlib.contextmanager
def _destination(path: Path | None) -> Iterator[BinaryIO]:
    """stdout, or a private temporary file renamed to *path* on success only."""
    if path is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    if not path.parent.is_dir():
        raise ConfigError("--output", f"folder {path.parent} does not exist")
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


async def _open_sink(settings: Settings, name: str | None) -> Sink[Any]:
    specs = store_specs(settings)
    if name is not None:
        # An instance (sqlite.main), its name (main) or a kind with one instance (sqlite).
        specs = [s for s in settings.sinks if name in (s.instance, *s.instance.split(".", 1))]
        known = ", ".join(s.instance for s in settings.sinks) or "none"
        if len(specs) != 1:
            what = "no configured sink" if not specs else "more than one sink matches"
            raise ConfigError("--store", f"{what} {name!r} (sinks: {known})")
    for spec in specs:
        sink = build_component(settings, spec)
        assert isinstance(sink, Sink)
        sink.context.state_dir.mkdir(parents=True, exist_ok=True)
        await sink.start()
        if sink.reader() is not None:
            return sink
        await sink.close()
    raise ConfigError("sinks", "no configured sink can be read; export needs one")


async def _export(args: argparse.Namespace, settings: Settings, err: TextIO) -> ExportSummary:
    until = args.until or datetime.now(UTC)
    if until <= args.since:
        raise ConfigError("--until", "must be later than --since")
    columns_name = args.columns or ("focus" if args.format == "focus" else "costpipe")
    fmt = "csv" if args.format == "focus" else args.format
    prices = PriceTable.bundled().with_overrides(settings.prices)
    columns, shape = shaper(columns_name, args.focus_version, prices)
    if fmt == "parquet":
        try:
            require_pyarrow()
        except MissingDependency as exc:
            raise ConfigError("--format", str(exc)) from None
    query = CostQuery(args.since, until, Basis(args.basis))
    plan = ExportPlan(query, _group_by(args.group_by), _PERIODS[args.granularity], args.chunk_rows)
    sink = await _open_sink(settings, args.store)
    try:
        reader = sink.reader()
        assert reader is not None
        with _destination(args.output) as out:
            progress = ExportProgress(err, query.start, query.end)
            return await export(
                reader, plan, shape, lambda: open_writer(fmt, out, columns), progress
            )
    finally:
        await sink.close()


def run_export(args: argparse.Namespace, settings: Settings, err: TextIO | None = None) -> int:
    """Run ``costpipe export``; the summary goes to stderr (stdout may be the file)."""
    err = err or sys.stderr
    try:
        summary = asyncio.run(_export(args, settings, err))
    except ValueError as exc:
        # An unknown dimension, an hourly export from InfluxDB: the command line.
        raise ConfigError("export", str(exc)) from None
    except (ExportMismatch, CostpipeError) as exc:
        if isinstance(exc, ConfigError):
            raise
        err.write(f"costpipe: export failed: {exc}\n")
        return 1
    err.write(
        f"exported {summary.rows} rows ({summary.records} stored groups), "
        f"{summary.total} USD on the {args.basis} basis, equal to the store's total\n"
    )
    return 0
