"""The billing-API simulator in its own process, for the benchmarks.

    python -m bench.simserver '{"seed": 1, "now": "2026-03-11T15:00:00+00:00", "users": 200,
                                "latency_ms": 50, "replay": true}'

Prints one JSON line (base URLs and admin keys), then serves until its stdin
closes. With ``"replay": true`` a caching proxy stands in front of the
simulator: the first request for a URL is answered by the simulator, every
later one from the stored bytes. The ingestion benchmark uses it so that the
second and later runs measure costpipe and InfluxDB, not the simulator, whose
page generation (20-40k rows/s) is slower than the write path it feeds.
``"replay_latency_ms": n`` makes the proxy answer every request n ms late (the
concurrency benchmark: pre-rendered pages with a provider's latency, so the
simulator's page generation is not what is measured); ``GET /_replay/misses``
counts the requests the cache could not answer.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import fields
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web

from costpipe.simulator import FaultOptions, SimulatorOptions, run_simulator

__all__ = ["options_from_json"]


def options_from_json(spec: dict[str, Any]) -> SimulatorOptions:
    fault_names = {f.name for f in fields(FaultOptions)}
    faults = FaultOptions(**{k: v for k, v in spec.items() if k in fault_names})
    own = ("replay", "replay_latency_ms", "now")
    org = {k: v for k, v in spec.items() if k not in fault_names and k not in own}
    return SimulatorOptions(now=datetime.fromisoformat(spec["now"]), faults=faults, **org)


async def _replay_proxy(upstream: str, latency_ms: float = 0) -> tuple[web.AppRunner, str]:
    cache: dict[str, tuple[int, bytes, str]] = {}
    misses = [0]
    session = aiohttp.ClientSession()

    async def handle(request: web.Request) -> web.Response:
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        hit = cache.get(request.path_qs)
        if hit is None:
            misses[0] += 1
            headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
            async with session.get(upstream + request.path_qs, headers=headers) as response:
                body = await response.read()
                hit = (response.status, body, response.content_type)
            if hit[0] == 200:
                cache[request.path_qs] = hit
        status, body, content_type = hit
        return web.Response(status=status, body=body, content_type=content_type)

    async def count_misses(_: web.Request) -> web.Response:
        return web.json_response({"misses": misses[0]})

    app = web.Application(client_max_size=1 << 30)
    app.router.add_get("/_replay/misses", count_misses)
    app.router.add_get("/{tail:.*}", handle)

    async def close_session(_: web.Application) -> None:
        await session.close()

    app.on_cleanup.append(close_session)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def main(spec: dict[str, Any]) -> None:
    async with run_simulator(options_from_json(spec)) as sim:
        base = sim.base_url
        runner = None
        if spec.get("replay"):
            runner, base = await _replay_proxy(sim.base_url, spec.get("replay_latency_ms", 0))
        info = {
            "openai_base_url": base + "/v1",
            "anthropic_base_url": base,
            "openai_admin_key": sim.openai_admin_key,
            "anthropic_admin_key": sim.anthropic_admin_key,
        }
        print(json.dumps(info), flush=True)
        # Serve until the parent closes our stdin (or dies).
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        if runner is not None:
            await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
