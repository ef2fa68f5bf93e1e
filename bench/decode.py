"""Decode: CPU µs per usage row of the OpenAI page decoder, and whether a
process pool for decoding a large backfill pays on this machine.

The pages are captured once per invocation: hourly OpenAI usage and daily
costs from the ingestion benchmark's simulator organisation (its own process),
14 days (about 100k usage rows) through the real provider, keeping every
response body. Then, with no network and no event loop:

* ``typed_decode``: bytes to the endpoint's msgspec Structs (money as exact
  ``Decimal`` text, strict counts);
* ``page_decoder``: ``decode(page bytes) -> records``, the whole provider
  function: Structs, the rate looked up once per model and tier of a bucket,
  ``CostRecord`` construction and merging by key (text-only rows in C where
  ``_usage_rows`` is built);
* ``page_decoder_python``: the same with every record built by the
  providers' Python functions, for the ratio of the two.

Both are CPU time of this thread (``time.thread_time``) divided by the usage
rows, the two in alternation, a first round dropped (warm caches).

**Process pool** (issue 16.2): the same pages decoded end to end (bytes in,
the records in this process out) in this process against a
``ProcessPoolExecutor`` with one worker per core, the pages submitted at once,
each worker decoding with its own price table and sending its records back
pickled. Wall time of each, in alternation, and this process's CPU for the
pool (what the event loop would still spend: submitting and unpickling).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path

import aiohttp
import structlog

from bench import ingest
from bench.common import Bench, ratio, simulator_process, spread
from bench.openai_parse import _Recorder
from bench.stages import OPENAI_ENDPOINTS, cpu_per_row, encode_cpu_per_row, top_functions
from costpipe.providers import usage_rows as usage_rows_module
from costpipe.providers.bucketed import Scope
from costpipe.providers.openai.decode import decode
from costpipe.providers.planning import UsagePricer
from costpipe.records import CostRecord, Window

__all__ = ["capture_pages", "run"]

Page = tuple[str, bytes]
_WORKER_SCOPE: dict[str, Scope] = {}


def _scope(window: Window) -> Scope:
    return Scope("bench", window, UsagePricer("openai", "bench", None, structlog.get_logger()))


async def capture_pages(users: int, days: int) -> tuple[list[Page], Window]:
    """Every response body of one fetch of *days* through the real provider."""
    window = Window(ingest.NOW - timedelta(days=days), ingest.NOW)
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            simulator_process(ingest.sim_spec(users, 3, 10)) as info,
            aiohttp.ClientSession() as session,
        ):
            provider = ingest.provider_for(info, Path(tmp))
            recorder = _Recorder(info.openai_base_url, info.openai_admin_key, session)
            provider.http = recorder  # type: ignore[assignment]
            async for _batch in provider.fetch(window):
                pass
    pages = [
        (path, body) for (path, _), body in recorder.bodies.items() if path in OPENAI_ENDPOINTS
    ]
    return pages, window


def usage_rows(pages: list[Page]) -> int:
    return sum(
        len(bucket.results or ())
        for path, body in pages
        for bucket in OPENAI_ENDPOINTS[path].decoder.decode(body).data
    )


def _decode_in_worker(window: Window, path: str, body: bytes) -> list[CostRecord]:
    scope = _WORKER_SCOPE.get("scope")
    if scope is None:
        scope = _WORKER_SCOPE["scope"] = _scope(window)
    return list(decode(OPENAI_ENDPOINTS[path], scope, body).records)


def decode_in_process(pages: list[Page], window: Window) -> int:
    scope = _scope(window)
    return sum(len(decode(OPENAI_ENDPOINTS[path], scope, body).records) for path, body in pages)


def decode_in_pool(pool: ProcessPoolExecutor, pages: list[Page], window: Window) -> int:
    futures = [pool.submit(_decode_in_worker, window, path, body) for path, body in pages]
    return sum(len(future.result()) for future in futures)


async def run(*, quick: bool, runs: int) -> Bench:
    users, days = (6, 2) if quick else (200, 14)
    pages, window = await capture_pages(users, days)
    rows = usage_rows(pages)
    bench = Bench("decode", params={"users": users, "days": days, "pages": len(pages)})
    bench.params.update(usage_rows=rows, runs=runs, workers=os.cpu_count())
    return await asyncio.to_thread(_measure, bench, pages, window, rows, runs)


def _measure(bench: Bench, pages: list[Page], window: Window, rows: int, runs: int) -> Bench:
    scope = _scope(window)
    typed: list[float] = []
    whole: list[float] = []
    python: list[float] = []
    # The same endpoints without their TextRows: every record by the Python functions.
    in_python = {
        path: dataclasses.replace(e, text_rows=None) for path, e in OPENAI_ENDPOINTS.items()
    }
    for round_index in range(runs + 1):  # round 0 warms caches and is dropped
        t = cpu_per_row(lambda: [OPENAI_ENDPOINTS[p].decoder.decode(b) for p, b in pages], rows)
        w = cpu_per_row(lambda: [decode(OPENAI_ENDPOINTS[p], scope, b) for p, b in pages], rows)
        py = cpu_per_row(lambda: [decode(in_python[p], scope, b) for p, b in pages], rows)
        if round_index:
            typed.append(t)
            whole.append(w)
            python.append(py)
    bench.figures["typed_decode_cpu"] = spread(typed, "µs/row")
    bench.figures["page_decoder_cpu"] = spread(whole, "µs/row")
    bench.figures["page_decoder_python_cpu"] = spread(python, "µs/row")
    bench.figures["python_vs_page_decoder"] = ratio(python, whole)
    bench.notes.append(
        "page_decoder builds text-only usage rows' records in C (_usage_rows)"
        if usage_rows_module.BUILDER is not None
        else "page_decoder ran in Python: _usage_rows is not built"
    )
    bench.notes.append(
        "page_decoder_python: the same pages with every record built by the providers'"
        " Python functions (the endpoints without TextRows), in alternation"
    )
    # Stages: what the page decoder adds to the typed decoding, then the encoder.
    bench.figures["stage_records_cpu"] = spread(
        [w - t for w, t in zip(whole, typed, strict=True)], "µs/row"
    )
    decoded = [r for p, b in pages for r in decode(OPENAI_ENDPOINTS[p], scope, b).records]
    bench.figures["stage_encode_cpu"] = spread(encode_cpu_per_row(decoded, rows, runs), "µs/row")
    top = top_functions([(OPENAI_ENDPOINTS[p], b) for p, b in pages], scope)
    bench.notes.append("cProfile of decode + encode, most own time: " + "; ".join(top))

    local: list[float] = []
    pooled: list[float] = []
    pooled_own_cpu: list[float] = []
    records = decode_in_process(pages, window)
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        decode_in_pool(pool, pages, window)  # start the workers, warm their caches
        for _ in range(runs):
            began = time.perf_counter()
            decode_in_process(pages, window)
            local.append(time.perf_counter() - began)
            # process_time: the executor unpickles results in a thread of its own.
            began, cpu = time.perf_counter(), time.process_time()
            if decode_in_pool(pool, pages, window) != records:
                raise RuntimeError("the pool decoded a different number of records")
            pooled.append(time.perf_counter() - began)
            pooled_own_cpu.append((time.process_time() - cpu) / rows * 1e6)
    bench.params["records"] = records
    bench.figures["in_process_wall"] = spread([s * 1000 for s in local], "ms")
    bench.figures["process_pool_wall"] = spread([s * 1000 for s in pooled], "ms")
    bench.figures["process_pool_vs_in_process"] = ratio(pooled, local)
    bench.figures["process_pool_main_cpu"] = spread(pooled_own_cpu, "µs/row")
    bench.goal(
        "decode <= 3 µs per usage row (page decoder)",
        bench.figures["page_decoder_cpu"]["median"],
        "<= 3",
        lambda v: v <= 3,
    )
    bench.notes.append(
        "page_decoder is decode(page bytes) -> records (Structs, prices, CostRecords,"
        " merging); typed_decode is its first step alone (bytes -> Structs)"
    )
    bench.notes.append(
        "process pool: the same pages, bytes in and records back in this process;"
        " process_pool_vs_in_process < 1 means the pool is faster end to end;"
        " process_pool_main_cpu is what this process still spends (submit, unpickle)"
    )
    return bench
