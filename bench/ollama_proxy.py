"""Overhead of the Ollama metering proxy (issue 20.5).

Three processes, as in production: the fake Ollama
(:mod:`costpipe.simulator.ollama_api`), the proxy (a :class:`MeteringProxy`
with its journal, as ``costpipe run`` starts it) and this process as the
client. Each run measures, alternating direct and proxied requests so that
both see the same machine load:

* **latency**: time to first and to last byte of a streamed ``/api/chat`` (12
  NDJSON chunks, no delay between them), p50 and p99, direct and through the
  proxy; the *added* figures are proxied minus direct;
* **rhythm**: the gaps between chunks of a stream the fake spaces by 5 ms,
  direct and proxied (median and p99): a buffering proxy would bunch them;
* **throughput**: 50 concurrent streaming clients for a fixed number of
  requests each, requests per second direct and proxied.

``python -m bench --only ollama_proxy``; alone: ``python -m bench.ollama_proxy``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.common import Bench, spread

__all__ = ["run"]

_CHAT = {"model": "llama3.2", "messages": [{"role": "user", "content": "why is the sky blue"}]}
_TOKEN = "bench-token-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _serve_fake(port: int, delay: float) -> None:
    from costpipe.simulator.ollama_api import run_fake_ollama

    async with run_fake_ollama(chunk_delay=delay, port=port):
        await asyncio.Event().wait()


async def _serve_proxy(port: int, upstream: str, state: str) -> None:
    from costpipe.providers.ollama import Journal, MeteringProxy, OllamaConfig

    config = OllamaConfig.model_validate(
        {
            "upstream": upstream,
            "listen": f"127.0.0.1:{port}",
            "keys": {"bench": {"token": _TOKEN, "user": "bench"}},
        }
    )
    journal = Journal(Path(state), batch_events=config.journal_batch_events, flush_interval=1.0)
    journal.start()
    proxy = MeteringProxy(config, journal)
    await proxy.start()
    await asyncio.Event().wait()


async def _child(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.ollama_proxy", *args, stdout=asyncio.subprocess.DEVNULL
    )


async def _wait_port(port: int) -> None:
    for _ in range(200):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


async def _stream(session: aiohttp.ClientSession, url: str) -> tuple[float, float, list[float]]:
    """(first byte, last byte, gaps between chunks) of one streamed chat, in ms."""
    began = time.perf_counter()
    stamps: list[float] = []
    async with session.post(
        url + "/api/chat", json=_CHAT, headers={"Authorization": f"Bearer {_TOKEN}"}
    ) as response:
        async for _ in response.content.iter_any():
            stamps.append(time.perf_counter())
    ms = [(s - began) * 1000 for s in stamps]
    return ms[0], ms[-1], [b - a for a, b in itertools.pairwise(ms)]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _latency(direct: str, proxied: str, samples: int) -> dict[str, float]:
    found: dict[str, list[float]] = {k: [] for k in ("d1", "dn", "p1", "pn")}
    async with aiohttp.ClientSession() as session:
        for _ in range(20):  # warm both paths' connections
            await _stream(session, direct)
            await _stream(session, proxied)
        for _ in range(samples):
            first, last, _ = await _stream(session, direct)
            found["d1"].append(first)
            found["dn"].append(last)
            first, last, _ = await _stream(session, proxied)
            found["p1"].append(first)
            found["pn"].append(last)
    out = {}
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        out[f"first_byte_{label}_direct"] = _pct(found["d1"], q)
        out[f"first_byte_{label}_proxied"] = _pct(found["p1"], q)
        out[f"last_byte_{label}_direct"] = _pct(found["dn"], q)
        out[f"last_byte_{label}_proxied"] = _pct(found["pn"], q)
    return out


async def _rhythm(direct: str, proxied: str, streams: int) -> dict[str, float]:
    gaps: dict[str, list[float]] = {"direct": [], "proxied": []}
    async with aiohttp.ClientSession() as session:
        for _ in range(streams):
            gaps["direct"] += (await _stream(session, direct))[2]
            gaps["proxied"] += (await _stream(session, proxied))[2]
    return {
        "gap_median_direct": statistics.median(gaps["direct"]),
        "gap_median_proxied": statistics.median(gaps["proxied"]),
        "gap_p99_direct": _pct(gaps["direct"], 0.99),
        "gap_p99_proxied": _pct(gaps["proxied"], 0.99),
    }


async def _throughput(url: str, clients: int, each: int) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def client() -> None:
            for _ in range(each):
                await _stream(session, url)

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return clients * each / (time.perf_counter() - began)


async def run(*, quick: bool = False, runs: int = 3) -> Bench:
    samples, streams, each = (60, 5, 4) if quick else (600, 40, 20)
    bench = Bench("ollama_proxy")
    bench.params = {
        "latency_samples": samples,
        "rhythm_streams": streams,
        "concurrent_clients": 50,
        "requests_per_client": each,
        "stream_chunks": "12-16",
        "rhythm_chunk_delay_ms": 5,
    }
    collected: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as state:
        ports = [_free_port() for _ in range(4)]
        children = [
            await _child("fake", str(ports[0]), "0"),
            await _child("fake", str(ports[1]), "0.005"),
        ]
        try:
            for port in ports[:2]:
                await _wait_port(port)
            children.append(
                await _child("proxy", str(ports[2]), f"http://127.0.0.1:{ports[0]}", state + "/a")
            )
            children.append(
                await _child("proxy", str(ports[3]), f"http://127.0.0.1:{ports[1]}", state + "/b")
            )
            for port in ports[2:]:
                await _wait_port(port)
            fast, slow, fast_proxy, slow_proxy = (f"http://127.0.0.1:{p}" for p in ports)
            for _ in range(runs):
                figures = await _latency(fast, fast_proxy, samples)
                figures |= await _rhythm(slow, slow_proxy, streams)
                figures["throughput_direct"] = await _throughput(fast, 50, each)
                figures["throughput_proxied"] = await _throughput(fast_proxy, 50, each)
                figures["throughput_ratio"] = (
                    figures["throughput_proxied"] / figures["throughput_direct"]
                )
                for name, value in figures.items():
                    collected.setdefault(name, []).append(value)
        finally:
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                await child.wait()
    for name, values in collected.items():
        unit = "req/s" if name.startswith("throughput_") and name != "throughput_ratio" else "ms"
        bench.figures[name] = spread(values, "x" if name == "throughput_ratio" else unit)

    def added(figure: str) -> float:
        """Median over runs of proxied minus direct (each run's pair measured together)."""
        pairs = zip(collected[f"{figure}_proxied"], collected[f"{figure}_direct"], strict=True)
        return statistics.median(p - d for p, d in pairs)

    for edge in ("first_byte", "last_byte"):
        for label in ("p50", "p99"):
            name = f"added latency to {edge.replace('_', ' ')}, {label}"
            if label == "p50":
                bench.goal(name, added(f"{edge}_{label}"), "< 1 ms", lambda v: v < 1.0)
            else:
                bench.goal(name, added(f"{edge}_{label}"), "reported", lambda v: True)
    rhythm = added("gap_median")
    bench.goal("chunk gap change (median, 5 ms chunks)", rhythm, "< 0.5 ms", lambda v: abs(v) < 0.5)
    bench.notes.append(
        "fake Ollama, proxy and client in three processes on one machine; added = proxied - "
        "direct of the same percentile, requests alternating"
    )
    return bench


def main(argv: list[str]) -> int:
    if argv and argv[0] == "fake":
        asyncio.run(_serve_fake(int(argv[1]), float(argv[2])))
        return 0
    if argv and argv[0] == "proxy":
        asyncio.run(_serve_proxy(int(argv[1]), argv[2], argv[3]))
        return 0
    from costpipe.logging import configure_logging

    configure_logging("error", json=False, stream=sys.stderr)
    bench = asyncio.run(run(quick="--quick" in argv, runs=1 if "--quick" in argv else 3))
    for name, stat in bench.figures.items():
        print(
            f"{name:28} {stat['median']:10.3f} {stat['unit']}  ({stat['min']:.3f}..{stat['max']:.3f})"
        )
    for name, goal in bench.goals.items():
        print(f"goal {name}: {goal['value']:.3f} (target {goal['target']}) met={goal['met']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
