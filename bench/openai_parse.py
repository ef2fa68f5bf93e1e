"""µs per usage row of the OpenAI provider's parsing path, without the network.

    python -m bench.openai_parse capture   # once: simulator pages -> PAGES (pickle of bytes)
    python -m bench.openai_parse [N]       # N runs (default 5): median µs/record, wall and CPU
    python -m bench.openai_parse stages [N]  # CPU µs/row of JSON, typed decoding, page decoder

``capture`` fetches 14 days (hourly, 200 users, the ingestion benchmark's
simulator) through the real provider and keeps every response body. A run
replays them through ``OpenAIProvider.fetch`` with a stand-in HTTP client that
hands the stored bytes over as :meth:`~costpipe.providers.base.HttpClient.get_bytes`
does, so the figure covers the typed decoding, pagination, pricing,
``CostRecord`` construction and de-duplication: everything the provider costs
per row on the event loop. The first run warms caches (price table, imports)
and is not counted.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from bench import ingest
from bench.common import simulator_process
from bench.stages import OPENAI_ENDPOINTS
from costpipe.logging import configure_logging
from costpipe.providers.base import Timer
from costpipe.providers.bucketed import Endpoint, Scope
from costpipe.providers.http import RawPage
from costpipe.providers.openai.decode import decode
from costpipe.providers.planning import UsagePricer
from costpipe.records import Window

PAGES = Path(tempfile.gettempdir()) / "costpipe_openai_pages.pickle"
WINDOW = Window(ingest.NOW - timedelta(days=14), ingest.NOW)
Key = tuple[str, tuple[tuple[str, str], ...]]
_QUIET = structlog.get_logger("bench")


class _Recorder:
    """Fetches from the simulator and keeps each body by (path, params)."""

    def __init__(self, base_url: str, key: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url
        self._key = key
        self._session = session
        self.bodies: dict[Key, bytes] = {}
        self.timer = Timer()

    def endpoint(self, path: str) -> str:
        return self.base_url + path

    async def get_bytes(self, path: str, params: Sequence[tuple[str, str]] = ()) -> RawPage:
        headers = {"Authorization": f"Bearer {self._key}"}
        url = self.base_url + path
        async with self._session.get(url, params=list(params), headers=headers) as response:
            response.raise_for_status()
            body = await response.read()
        self.bodies[(path, tuple(params))] = body
        return RawPage(url, body)


class _Replayer:
    """Serves stored bodies, undecoded, as ``HttpClient.get_bytes`` does."""

    def __init__(self, bodies: dict[Key, bytes]) -> None:
        self.base_url = "http://replay/v1"
        self._bodies = bodies
        self.timer = Timer()

    def endpoint(self, path: str) -> str:
        return self.base_url + path

    async def get_bytes(self, path: str, params: Sequence[tuple[str, str]] = ()) -> RawPage:
        return RawPage(self.base_url + path, self._bodies[(path, tuple(params))])


async def capture() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            simulator_process(ingest.sim_spec(200, 3, 10)) as info,
            aiohttp.ClientSession() as session,
        ):
            provider = ingest.provider_for(info, Path(tmp))
            recorder = _Recorder(info.openai_base_url, info.openai_admin_key, session)
            provider.http = recorder  # type: ignore[assignment]
            rows = 0
            async for batch in provider.fetch(WINDOW):
                rows += len(batch)
    PAGES.write_bytes(pickle.dumps(recorder.bodies))
    print(f"captured {len(recorder.bodies)} pages, {rows} records -> {PAGES}")


async def one_run(bodies: dict[Key, bytes]) -> tuple[float, float, int]:
    """``(wall seconds, CPU seconds, records)`` of one fetch of every stored page."""
    with tempfile.TemporaryDirectory() as tmp:
        info: Any = type("Info", (), {"openai_admin_key": "sk-admin-x", "openai_base_url": "x"})
        provider = ingest.provider_for(info, Path(tmp))
        provider.http = _Replayer(bodies)  # type: ignore[assignment]
        rows = 0
        began, cpu = time.perf_counter(), time.process_time()
        async for batch in provider.fetch(WINDOW):
            rows += len(batch)
        return time.perf_counter() - began, time.process_time() - cpu, rows


def stages(bodies: dict[Key, bytes], runs: int) -> None:
    """CPU µs per usage row of each step, in alternation: the JSON decoding the
    hand-written readers started from, the typed decoding alone (bytes to
    Structs), and the whole page decoder (Structs, records, prices, merging)."""
    scope = Scope("bench", WINDOW, UsagePricer("openai", "bench", None, _QUIET))
    pages = [
        (OPENAI_ENDPOINTS[path], body)
        for (path, _), body in bodies.items()
        if path in OPENAI_ENDPOINTS
    ]
    rows = sum(len(b.results or ()) for e, body in pages for b in e.decoder.decode(body).data)
    steps: dict[str, Callable[[Endpoint[Any], bytes], object]] = {
        "json.loads(parse_float=Decimal)": lambda e, body: json.loads(body, parse_float=Decimal),
        "typed decode (bytes -> Structs)": lambda e, body: e.decoder.decode(body),
        "page decoder (-> merged records)": lambda e, body: decode(e, scope, body),
    }
    figures: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(runs + 1):  # the first round warms caches and is dropped below
        for name, step in steps.items():
            began = time.process_time()
            for endpoint, body in pages:
                step(endpoint, body)
            figures[name].append((time.process_time() - began) / rows * 1e6)
    print(f"{rows} usage rows in {len(pages)} pages, CPU µs per row, {runs} runs:")
    for name, values in figures.items():
        values = values[1:]
        print(
            f"  {name:34} median {statistics.median(values):6.2f} "
            f"(min {min(values):.2f}, max {max(values):.2f})"
        )


def main(argv: list[str]) -> int:
    configure_logging("error", json=False, stream=sys.stderr)
    if argv[:1] == ["capture"]:
        asyncio.run(capture())
        return 0
    bodies: dict[Key, bytes] = pickle.loads(PAGES.read_bytes())
    if argv[:1] == ["stages"]:
        stages(bodies, int(argv[1]) if len(argv) > 1 else 5)
        return 0
    runs = int(argv[0]) if argv else 5
    asyncio.run(one_run(bodies))  # warm caches (price table, imports)
    results = [asyncio.run(one_run(bodies)) for _ in range(runs)]
    rows = results[0][2]
    for what, index in (("wall", 0), ("CPU", 1)):
        per_row = [result[index] / rows * 1e6 for result in results]
        print(
            f"{rows} records, {what} µs/record median {statistics.median(per_row):.2f} "
            f"(min {min(per_row):.2f}, max {max(per_row):.2f}, runs {runs})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
