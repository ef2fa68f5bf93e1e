"""Encoder: µs per point of ``costpipe.sinks.influxdb.encoder`` against aioinflux's serializer.

The points are ``storage_bench.make_records`` (3,000 series). costpipe's
encoder is timed from records to the request body with a warm series cache
(as in a running daemon); aioinflux from pre-built dicts to its body
(``aioinflux.serialization.serialize(list_of_dicts)``, what ``client.write``
calls), in batches of 5,000. Dict building is not timed: it favours aioinflux.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import Bench, ratio, spread
from bench.ingest import as_dict
from bench.storage_bench import make_records
from costpipe.records import CostRecord
from costpipe.sinks.influxdb.encoder import LineEncoder

__all__ = ["run"]

BATCH = 5000


def time_costpipe(records: list[CostRecord], encoder: LineEncoder) -> float:
    began = time.perf_counter()
    for i in range(0, len(records), BATCH):
        encoder.encode(records[i : i + BATCH])
    return (time.perf_counter() - began) / len(records) * 1e6


def time_aioinflux(dicts: list[dict[str, Any]]) -> float:
    from aioinflux.serialization import serialize

    began = time.perf_counter()
    for i in range(0, len(dicts), BATCH):
        serialize(dicts[i : i + BATCH])
    return (time.perf_counter() - began) / len(dicts) * 1e6


def run(*, quick: bool, runs: int) -> Bench:
    points = 20_000 if quick else 200_000
    records = make_records(points, 3000)
    dicts = [as_dict(r) for r in records]
    encoder = LineEncoder()
    encoder.encode(records[:BATCH])  # warm the series cache as a running daemon would
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(time_costpipe(records, encoder))
        theirs.append(time_aioinflux(dicts))
    bench = Bench("encoder", params={"points": points, "series": 3000, "runs": runs})
    bench.figures["costpipe_lineprotocol"] = spread(ours, "µs/point")
    bench.figures["aioinflux_serialize"] = spread(theirs, "µs/point")
    bench.figures["aioinflux_vs_costpipe"] = ratio(theirs, ours)
    bench.notes.append("cold series cache (first sight of every series) is not included")
    return bench
