"""costpipe's benchmark harness: ``python -m bench [--quick] [--only a,b] [--runs N]``.

Runs the benchmarks side by side in one process tree (a throw-away influxd,
the simulator in a child process, ``costpipe backfill`` subprocesses), writes
``bench/results/latest.json`` and the table between the markers of
``docs/performance.md``. Every figure is the median of several runs with
min..max; every speed figure is a ratio against a baseline measured in the
same invocation. See ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    anomalies,
    budgets,
    concurrency,
    dashboard,
    decode,
    encoder,
    idle,
    ingest,
    memory,
    ollama_proxy,
    queries,
)
from bench.common import ROOT, Bench, loadavg, machine
from bench.report import markdown, replace_between_markers
from costpipe.logging import configure_logging
from costpipe.testing.influxd import InfluxdServer

BENCHMARKS = (
    "encoder",
    "decode",
    "ingestion",
    "memory",
    "idle",
    "concurrency",
    "queries",
    "budgets",
    "dashboard",
    "ollama_proxy",
    "anomalies",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test)")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {BENCHMARKS}"
    )
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (default 3)")
    parser.add_argument(
        "--output", type=Path, default=Path(ROOT) / "bench" / "results" / "latest.json"
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the other benchmarks' sections of an existing --output file",
    )
    parser.add_argument(
        "--docs",
        type=Path,
        default=None,
        help="Markdown file whose table to replace (default docs/performance.md, not with --quick)",
    )
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {sorted(unknown)}; choose from {BENCHMARKS}")
    if args.runs is None:
        args.runs = 2 if args.quick else 3
    if args.docs is None and not args.quick:
        args.docs = Path(ROOT) / "docs" / "performance.md"
    return args


async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "runs": args.runs,
        "machine": machine(),
        "load_before": loadavg(),
        "benchmarks": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        server = InfluxdServer(Path(tmp) / "influxd")
        server.start()
        try:
            steps: dict[str, Callable[[], Awaitable[Bench]]] = {
                "encoder": lambda: asyncio.to_thread(encoder.run, quick=args.quick, runs=args.runs),
                "decode": lambda: decode.run(quick=args.quick, runs=args.runs),
                "ingestion": lambda: ingest.run(server, quick=args.quick, runs=args.runs),
                "memory": lambda: memory.run(server, quick=args.quick, runs=args.runs),
                "idle": lambda: idle.run(server, quick=args.quick, runs=args.runs),
                "concurrency": lambda: concurrency.run(server, quick=args.quick, runs=args.runs),
                "queries": lambda: queries.run(server, quick=args.quick, runs=args.runs),
                "budgets": lambda: budgets.run(server, quick=args.quick, runs=args.runs),
                "dashboard": lambda: dashboard.run(server, quick=args.quick, runs=args.runs),
                "ollama_proxy": lambda: ollama_proxy.run(quick=args.quick, runs=args.runs),
                "anomalies": lambda: anomalies.run(quick=args.quick, runs=args.runs),
            }
            for name in args.only:
                began = time.perf_counter()
                print(f"bench: {name} ...", file=sys.stderr, flush=True)
                bench = await steps[name]()
                section = bench.as_json()
                section["seconds"] = round(time.perf_counter() - began, 1)
                section["load_after"] = loadavg()
                section["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
                result["benchmarks"][name] = section
                print(f"bench: {name} done in {section['seconds']} s", file=sys.stderr, flush=True)
        finally:
            server.stop()
    result["load_after"] = loadavg()
    result["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The benchmarks' own components log (unpriced models, alerts): keep the output to results.
    configure_logging("error", json=False, stream=sys.stderr)
    result = asyncio.run(run_all(args))
    if args.merge and args.output.exists():
        # Sections keep their own finish time and load, so merged results stay honest.
        previous = json.loads(args.output.read_text(encoding="utf-8"))
        result["benchmarks"] = {**previous["benchmarks"], **result["benchmarks"]}
        result["benchmarks"] = {
            name: result["benchmarks"][name] for name in BENCHMARKS if name in result["benchmarks"]
        }
        result["merged_from"] = [*previous.get("merged_from", []), previous["finished"]]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    table = markdown(result)
    if args.docs is not None:
        replace_between_markers(args.docs, table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
