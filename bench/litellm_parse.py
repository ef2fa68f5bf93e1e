"""µs per spend-log row of the LiteLLM provider's parsing path, without the network.

    python -m bench.litellm_parse capture   # once: simulator pages -> PAGES (pickle of bytes)
    python -m bench.litellm_parse [N]       # N runs (default 7): median µs/row, min..max

``capture`` walks 14 days of ``/spend/logs/v2`` (the simulator's LiteLLM
proxy, 100-row pages, 24-hour pieces) through the real provider and keeps
every response body. A run replays them through ``LiteLLMProvider.fetch``
with a stand-in HTTP client that serves the stored bytes, both as
``get_bytes`` (the typed decoder) and as ``get_json`` (``json.loads`` with
``parse_float=Decimal``, what :class:`~costpipe.providers.base.HttpClient`
does for the hand-written readers), so the same script measures the provider
before and after issue 16.1: point ``PYTHONPATH`` at an older tree's ``src``.
The figure covers JSON decoding, paging, row reading, de-duplication, hourly
aggregation and ``CostRecord`` construction, per input row, as wall time and as
this process's CPU time (which a loaded machine disturbs less). ``decode``
alone (bytes to typed rows) is reported beside it when the tree has it.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from costpipe.components import ComponentContext
from costpipe.logging import configure_logging
from costpipe.providers.base import Page, Timer
from costpipe.providers.litellm import LiteLLMConfig, LiteLLMProvider
from costpipe.records import Window

PAGES = Path(tempfile.gettempdir()) / "costpipe_litellm_pages.pickle"
NOW = datetime(2026, 3, 11, 15, 30, tzinfo=UTC)
WINDOW = Window(NOW.replace(minute=0) - timedelta(days=14), NOW)
Key = tuple[str, tuple[tuple[str, str], ...]]


class _Raw:
    """What ``HttpClient.get_bytes`` returns (``RawPage``), without importing it:
    older trees have no such class."""

    def __init__(self, url: str, body: bytes) -> None:
        self.url = url
        self.body = body


class _Replayer:
    """Serves stored bodies by (path, params): raw, or decoded as ``get_json`` does."""

    def __init__(self, bodies: dict[Key, bytes], base_url: str = "http://replay") -> None:
        self.base_url = base_url
        self.bodies = bodies
        self.timer = Timer()

    def endpoint(self, path: str) -> str:
        return self.base_url + path

    async def get_bytes(self, path: str, params: Sequence[tuple[str, str]] = ()) -> _Raw:
        return _Raw(self.base_url + path, self.bodies[(path, tuple(params))])

    async def get_json(self, path: str, params: Sequence[tuple[str, str]] = ()) -> Page:
        body = self.bodies[(path, tuple(params))]
        return Page(self.base_url + path, json.loads(body.decode("utf-8"), parse_float=Decimal))


class _Recorder(_Replayer):
    """Forwards to the real client and keeps every body."""

    def __init__(self, client: Any) -> None:
        super().__init__({}, client.base_url)
        self._client = client

    async def get_bytes(self, path: str, params: Sequence[tuple[str, str]] = ()) -> _Raw:
        raw = await self._client.get_bytes(path, params)
        self.bodies[(path, tuple(params))] = raw.body
        return _Raw(raw.url, raw.body)


def provider(base_url: str, key: str, tmp: str) -> LiteLLMProvider:
    config = LiteLLMConfig(api_key=SecretStr(key), base_url=base_url, page_size=100)
    context = ComponentContext("litellm.bench", Path(tmp) / "state")
    return LiteLLMProvider(config, context, clock=lambda: NOW)


async def capture() -> None:
    from costpipe.simulator import SimulatorOptions, run_simulator

    with tempfile.TemporaryDirectory() as tmp:
        async with run_simulator(SimulatorOptions(seed=3, now=NOW)) as sim:
            made = provider(sim.litellm_base_url, sim.litellm.master_key, tmp)
            client = made.http
            await client.start()
            recorder = _Recorder(client)
            made.http = recorder  # type: ignore[assignment]
            records = 0
            try:
                async for batch in made.fetch(WINDOW):
                    records += len(batch)
            finally:
                await client.close()
    PAGES.write_bytes(pickle.dumps(recorder.bodies))
    print(f"captured {len(recorder.bodies)} pages, {records} records -> {PAGES}")


def rows_in(bodies: dict[Key, bytes]) -> int:
    return sum(len(json.loads(body)["data"]) for body in bodies.values())


async def one_run(bodies: dict[Key, bytes]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, records) of one replayed fetch."""
    with tempfile.TemporaryDirectory() as tmp:
        made = provider("http://replay", "sk-unused", tmp)
        made.http = _Replayer(bodies)  # type: ignore[assignment]
        records = 0
        began, cpu = time.perf_counter(), time.process_time()
        async for batch in made.fetch(WINDOW):
            records += len(batch)
        return time.perf_counter() - began, time.process_time() - cpu, records


def decode_only(bodies: dict[Key, bytes]) -> float | None:
    """CPU seconds to decode every stored page (None before the typed decoder)."""
    try:
        from costpipe.providers.litellm.decode import decode
    except ImportError:
        return None
    began = time.process_time()
    for body in bodies.values():
        decode(body)
    return time.process_time() - began


def _line(label: str, seconds: Sequence[float], rows: int) -> str:
    per_row = [s / rows * 1e6 for s in seconds]
    return (
        f"{label} µs/row median {statistics.median(per_row):.2f} "
        f"(min {min(per_row):.2f}, max {max(per_row):.2f}, runs {len(per_row)})"
    )


def main(argv: list[str]) -> int:
    configure_logging("error", json=False, stream=sys.stderr)
    if argv[:1] == ["capture"]:
        asyncio.run(capture())
        return 0
    runs = int(argv[0]) if argv else 7
    bodies: dict[Key, bytes] = pickle.loads(PAGES.read_bytes())
    rows = rows_in(bodies)
    asyncio.run(one_run(bodies))  # warm caches (imports, the Struct decoders)
    results = [asyncio.run(one_run(bodies)) for _ in range(runs)]
    print(f"{len(bodies)} pages, {rows} rows -> {results[0][2]} records")
    print(_line("fetch path, wall", [wall for wall, _, _ in results], rows))
    print(_line("fetch path, CPU", [cpu for _, cpu, _ in results], rows))
    decoded = [decode_only(bodies) for _ in range(runs)]
    if decoded[0] is not None:
        print(_line("decode alone, CPU", [s for s in decoded if s is not None], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
