"""Where an ingestion pass's CPU goes: the same pages, part by part, in turn.

The ingestion section's pass overlaps fetching, decoding and writing, so its
CPU per point cannot be split by timing. A *serial pass* repeats what the
pipeline does for each page of the same window (the pipeline's 7-day pieces,
the provider's own plan and decoders, the sink's batch size), one step at a
time, and reads this process's CPU time (``getrusage``) around each step:

* ``fetch``: costpipe's HTTP client (aiohttp, the bounded body read);
* ``typed_decode``: the page's bytes to the endpoint's msgspec Structs alone,
  done once more only to be timed: msgspec's share of decoding;
* ``build``: the page decoder (:func:`~costpipe.providers.openai.decode.decode`)
  minus ``typed_decode``: the records built, priced and merged;
* ``encode``: :class:`~costpipe.sinks.influxdb.encoder.LineEncoder`;
* ``post``: the body POSTed to influxd's ``/write`` with aiohttp, as the raw
  baseline does;
* ``free``: dropping the page's records.

``fetch + typed_decode + encode + post`` (the bench's ``floor``) are the steps
every pass takes whatever builds its records: HTTP both ways (aiohttp),
msgspec's JSON decoding, and the line-protocol encoder (in C, at its own
1 µs goal). ``build + free`` is costpipe's own per-record work; the pass
against the serial sum is what running the steps concurrently adds or saves.
"""

from __future__ import annotations

import dataclasses
import resource
from collections import defaultdict
from datetime import datetime, timedelta

import aiohttp

from bench.stages import OPENAI_ENDPOINTS
from costpipe.engine.pipeline import Pipeline
from costpipe.providers.openai import OpenAIProvider
from costpipe.records import Window
from costpipe.sinks.influxdb.encoder import LineEncoder

__all__ = ["FLOOR", "PARTS", "serial_pass"]

#: Steps of a serial pass, in the order they run for a page.
PARTS = ("fetch", "typed_decode", "build", "encode", "post", "free")
#: The steps every pass takes whatever builds its records.
FLOOR = ("fetch", "typed_decode", "encode", "post")


def _pipeline_piece() -> timedelta:
    """``Pipeline.chunk``'s default: the pass's pieces, hence the same requests."""
    default = next(f.default for f in dataclasses.fields(Pipeline) if f.name == "chunk")
    assert isinstance(default, timedelta)
    return default


PIECE = _pipeline_piece()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def serial_pass(
    provider: OpenAIProvider, now: datetime, window: Window, url: str, database: str, batch: int
) -> tuple[dict[str, float], int]:
    """CPU seconds of each of :data:`PARTS` over one serial pass of *window*
    (planned as at *now*) into *database* (created here), and the points written;
    *provider* is started and closed here."""
    seconds: dict[str, float] = defaultdict(float)
    points = 0
    encoder = LineEncoder()
    await provider.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{url}/query", params={"q": f'CREATE DATABASE "{database}"'}):
                pass
            for piece in window.split(PIECE):
                for path, params, decode in provider.requests(piece, now):
                    cursor: str | None = None
                    while True:
                        query = [*params, ("page", cursor)] if cursor else list(params)
                        began = _cpu()
                        raw = await provider.http.get_bytes(path, query)
                        fetched = _cpu()
                        OPENAI_ENDPOINTS[path].decoder.decode(raw.body)
                        typed = _cpu()
                        page = decode(raw.body)
                        decoded = _cpu()
                        seconds["fetch"] += fetched - began
                        seconds["typed_decode"] += typed - fetched
                        seconds["build"] += decoded - typed - (typed - fetched)
                        del raw
                        records = page.records
                        for start in range(0, len(records), batch):
                            began = _cpu()
                            body = encoder.encode(records[start : start + batch])
                            encoded = _cpu()
                            async with session.post(
                                f"{url}/write", params={"db": database}, data=body
                            ) as response:
                                if response.status != 204:
                                    raise RuntimeError(f"influxd: {await response.text()}")
                            seconds["encode"] += encoded - began
                            seconds["post"] += _cpu() - encoded
                        points += len(records)
                        cursor, more = page.next_page, page.has_more
                        began = _cpu()
                        del page, records
                        seconds["free"] += _cpu() - began
                        if not more:
                            break
    finally:
        await provider.close()
    return dict(seconds), points
