"""µs per usage row of the OpenAI provider's parsing path, without the network.

    python -m bench.openai_parse capture   # once: simulator pages -> PAGES (pickle of bytes)
    python -m bench.openai_parse [N]       # N runs (default 5): median µs/row

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
import pickle
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from bench import ingest
from bench.common import simulator_process
from costpipe.logging import configure_logging
from costpipe.providers.base import Timer
from costpipe.providers.http import RawPage
from costpipe.records import Window

PAGES = Path(tempfile.gettempdir()) / "costpipe_openai_pages.pickle"
WINDOW = Window(ingest.NOW - timedelta(days=14), ingest.NOW)
Key = tuple[str, tuple[tuple[str, str], ...]]


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


async def one_run(bodies: dict[Key, bytes]) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        info: Any = type("Info", (), {"openai_admin_key": "sk-admin-x", "openai_base_url": "x"})
        provider = ingest.provider_for(info, Path(tmp))
        provider.http = _Replayer(bodies)  # type: ignore[assignment]
        rows = 0
        began = time.perf_counter()
        async for batch in provider.fetch(WINDOW):
            rows += len(batch)
        return time.perf_counter() - began, rows


def main(argv: list[str]) -> int:
    configure_logging("error", json=False, stream=sys.stderr)
    if argv[:1] == ["capture"]:
        asyncio.run(capture())
        return 0
    runs = int(argv[0]) if argv else 5
    bodies: dict[Key, bytes] = pickle.loads(PAGES.read_bytes())
    asyncio.run(one_run(bodies))  # warm caches (price table, imports)
    results = [asyncio.run(one_run(bodies)) for _ in range(runs)]
    rows = results[0][1]
    per_row = [seconds / rows * 1e6 for seconds, _ in results]
    print(
        f"{rows} records, µs/record median {statistics.median(per_row):.2f} "
        f"(min {min(per_row):.2f}, max {max(per_row):.2f}, runs {runs})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
