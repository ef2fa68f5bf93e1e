"""Where costpipe's CPU per point goes, stage by stage, on captured pages.

Used by the ``decode`` section: the same OpenAI pages (bytes) go through the
stages of the ingestion path that run in costpipe's thread, each timed apart
as CPU of this thread per usage row (a first round dropped):

* ``typed_decode``: bytes to msgspec Structs;
* ``records``: the rest of the page decoder (rates, ``CostRecord``s, merging),
  i.e. the page decoder minus the typed decoding;
* ``encode``: the records to line-protocol request bodies in batches of 5,000
  (``LineEncoder``, warm series cache, as the InfluxDB sink does);

the ingestion section's CPU per point minus these is the HTTP post, the event
loop and the pipeline. ``cProfile`` over decoding and encoding every page
gives the functions with the most own time (a profile, with its overhead:
read the shares, not the absolute times).
"""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Callable, Sequence
from typing import Any

from costpipe.providers.bucketed import Endpoint, Scope
from costpipe.providers.openai.decode import COSTS, ENDPOINTS, decode
from costpipe.records import CostRecord
from costpipe.sinks.influxdb.encoder import LineEncoder

__all__ = ["OPENAI_ENDPOINTS", "encode_cpu_per_row", "top_functions"]

BATCH = 5000
#: The OpenAI provider's endpoints (usage and costs) by request path.
OPENAI_ENDPOINTS: dict[str, Endpoint[Any]] = {e.path: e for e in (COSTS, *ENDPOINTS.values())}


def encode_cpu_per_row(records: list[CostRecord], rows: int, runs: int) -> list[float]:
    """CPU µs per usage row of encoding *records* (warm cache), one per run."""
    encoder = LineEncoder()
    values: list[float] = []
    for round_index in range(runs + 1):
        began = time.thread_time()
        for i in range(0, len(records), BATCH):
            encoder.encode(records[i : i + BATCH])
        if round_index:
            values.append((time.thread_time() - began) / rows * 1e6)
    return values


def top_functions(
    pages: Sequence[tuple[Endpoint[Any], bytes]], scope: Scope, count: int = 8
) -> list[str]:
    """The *count* functions with the most own time over decoding and encoding
    every page, as 'share% function (file:line)'."""
    encoder = LineEncoder()

    def work() -> None:
        for endpoint, body in pages:
            records = list(decode(endpoint, scope, body).records)
            for i in range(0, len(records), BATCH):
                encoder.encode(records[i : i + BATCH])

    work()  # warm caches, as a running daemon has them
    profiler = cProfile.Profile()
    profiler.runcall(work)
    stats = pstats.Stats(profiler)
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in table.values()) or 1.0
    ranked = sorted(table.items(), key=lambda item: item[1][2], reverse=True)[:count]
    return [f"{entry[2] / total:.0%} {_name(where)}" for where, entry in ranked]


def _name(where: tuple[str, int, str]) -> str:
    filename, line, function = where
    if filename == "~":
        return function  # a builtin, e.g. <method 'decode' of 'msgspec.json.Decoder' objects>
    short = filename.split("/src/", 1)[-1].split("site-packages/", 1)[-1]
    return f"{function} ({short}:{line})"


def cpu_per_row(step: Callable[[], object], rows: int) -> float:
    began = time.thread_time()
    step()
    return (time.thread_time() - began) / rows * 1e6
