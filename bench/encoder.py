"""Encoder and record: µs per point of the line-protocol encoder, µs per record built.

The points are ``storage_bench.make_records`` (3,000 series). costpipe's
encoder is timed from records to the request body with a warm series cache
(as in a running daemon): ``LineEncoder.encode``, which runs in C where the
accelerator is built (``hatch_build.py``), and the Python encoder beside it;
aioinflux from pre-built dicts to its body
(``aioinflux.serialization.serialize(list_of_dicts)``, what ``client.write``
calls), in batches of 5,000. Dict building is not timed: it favours aioinflux.

Record construction: ``CostRecord(...)`` by keyword, as a provider builds a
page (the records kept in a list, the garbage collector on), against the
type it replaced (``bench.legacy_record.LegacyRecord``, a frozen slotted
dataclass with the same fields and checks), alternated run by run.

Times are the CPU time of the timing thread (``time.thread_time``): on a shared
2-core machine, wall time also counts the time other processes hold the core.
The profile figures time pieces of the per-point work separately (with the
call overhead of a public function each); they do not add up to the total.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from bench.common import Bench, ratio, spread
from bench.ingest import as_dict
from bench.legacy_record import LegacyRecord
from bench.storage_bench import make_records
from costpipe.records import CostRecord
from costpipe.sinks.influxdb.encoder import SPEEDUPS, LineEncoder, cost_texts

__all__ = ["run"]

BATCH = 5000
Row = tuple[Any, ...]


def time_costpipe(records: list[CostRecord], encoder: LineEncoder) -> float:
    began = time.thread_time()
    for i in range(0, len(records), BATCH):
        encoder.encode(records[i : i + BATCH])
    return (time.thread_time() - began) / len(records) * 1e6


def time_python(records: list[CostRecord], encoder: LineEncoder) -> float:
    """The Python encoder (what runs where the C accelerator is not built)."""
    began = time.thread_time()
    for i in range(0, len(records), BATCH):
        ("\n".join(encoder.lines(records[i : i + BATCH])) + "\n").encode()
    return (time.thread_time() - began) / len(records) * 1e6


def time_aioinflux(dicts: list[dict[str, Any]]) -> float:
    from aioinflux.serialization import serialize

    began = time.thread_time()
    for i in range(0, len(dicts), BATCH):
        serialize(dicts[i : i + BATCH])
    return (time.thread_time() - began) / len(dicts) * 1e6


def time_construction(kind: Callable[..., object], rows: list[Row]) -> float:
    """µs per record of building *rows* by keyword and keeping them, GC on."""
    gc.collect()
    began = time.thread_time()
    built = [
        kind(
            start=start,
            width=width,
            provider=provider,
            account=account,
            cost_source=source,
            cost_usd=cost,
            model=model,
            user_id=user,
            project_id=project,
            api_key_id=key,
            line_item=item,
            uncached_input_tokens=uncached,
            cached_input_tokens=cached,
            cache_write_tokens=written,
            output_tokens=output,
            requests=requests,
        )
        for (start, width, provider, account, source, cost, model, user, project, key, item,
             uncached, cached, written, output, requests) in rows
    ]  # fmt: skip
    elapsed = time.thread_time() - began
    del built
    return elapsed / len(rows) * 1e6


def as_row(record: CostRecord) -> Row:
    # Fresh strings per row, as a JSON decoder gives them (no shared, pre-hashed objects).
    return (
        record.start,
        record.width,
        "".join(record.provider),
        "".join(record.account),
        record.cost_source,
        record.cost_usd,
        *("".join(getattr(record, name)) for name in ("model", "user_id", "project_id")),
        "".join(record.api_key_id),
        "".join(record.line_item),
        record.uncached_input_tokens,
        record.cached_input_tokens,
        record.cache_write_tokens,
        record.output_tokens,
        record.requests,
    )


def profile(records: list[CostRecord], encoder: LineEncoder) -> dict[str, float]:
    """µs per point of the pieces of the encoder's per-point work, timed apart."""
    pieces: dict[str, float] = {}
    began = time.thread_time()
    for record in records:
        encoder.series(record)
    pieces["series_lookup"] = time.thread_time() - began
    began = time.thread_time()
    for record in records:
        cost_texts(record.cost_usd)
    pieces["money_fields"] = time.thread_time() - began
    lines = encoder.lines(records)
    began = time.thread_time()
    for i in range(0, len(lines), BATCH):
        ("\n".join(lines[i : i + BATCH]) + "\n").encode()
    pieces["join_and_utf8"] = time.thread_time() - began
    return {name: seconds / len(records) * 1e6 for name, seconds in pieces.items()}


def run(*, quick: bool, runs: int) -> Bench:
    points = 20_000 if quick else 200_000
    records = make_records(points, 3000)
    rows = [as_row(r) for r in records[: points // 2]]
    ours_built, theirs_built = [], []
    for _ in range(runs):
        ours_built.append(time_construction(CostRecord, rows))
        theirs_built.append(time_construction(LegacyRecord, rows))
    del rows
    dicts = [as_dict(r) for r in records]
    encoder = LineEncoder()
    encoder.encode(records[:BATCH])  # warm the series cache as a running daemon would
    ours, python, theirs = [], [], []
    pieces: dict[str, list[float]] = {}
    for _ in range(runs):
        ours.append(time_costpipe(records, encoder))
        python.append(time_python(records, encoder))
        theirs.append(time_aioinflux(dicts))
        for name, value in profile(records[: points // 4], encoder).items():
            pieces.setdefault(name, []).append(value)
    bench = Bench("encoder", params={"points": points, "series": 3000, "runs": runs})
    bench.figures["costpipe_lineprotocol"] = spread(ours, "µs/point")
    bench.figures["costpipe_lineprotocol_python"] = spread(python, "µs/point")
    bench.figures["python_vs_c"] = ratio(python, ours)
    bench.figures["aioinflux_serialize"] = spread(theirs, "µs/point")
    bench.figures["aioinflux_vs_costpipe"] = ratio(theirs, ours)
    for name, values in pieces.items():
        bench.figures[f"profile_{name}"] = spread(values, "µs/point")
    bench.figures["record_construction"] = spread(ours_built, "µs/record")
    bench.figures["record_construction_dataclass"] = spread(theirs_built, "µs/record")
    bench.figures["dataclass_vs_record"] = ratio(theirs_built, ours_built)
    bench.goal(
        "line protocol <= 1 µs per point (warm)",
        bench.figures["costpipe_lineprotocol"]["median"],
        "<= 1.0",
        lambda v: v <= 1.0,
    )
    bench.notes.append(
        "costpipe_lineprotocol is LineEncoder.encode: "
        + (
            "the C accelerator (_speedups)"
            if SPEEDUPS
            else "Python (the C accelerator is not built)"
        )
        + "; costpipe_lineprotocol_python joins LineEncoder.lines (the Python encoder); "
        "the profile_* pieces are the Python encoder's"
    )
    bench.notes.append("cold series cache (first sight of every series) is not included")
    bench.notes.append("CPU time of the timing thread (time.thread_time), not wall time")
    bench.notes.append(
        f"record_construction: {points // 2} records by keyword, kept in a list, GC on; "
        "the dataclass is the record type before issue 16 (bench/legacy_record.py)"
    )
    return bench
