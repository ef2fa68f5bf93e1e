"""Instructions per usage row of the page decoder, trees side by side.

This VM's cores change speed about twofold from run to run (see
``docs/performance.md``), which drowns a 10% change of a decoder in CPU-time
noise; the number of instructions a pass executes does not depend on the host.
``python -m bench.instructions TREE [TREE ...]`` captures the ``decode``
section's pages once (hourly OpenAI usage and daily costs, 14 days, 200 users:
the ingestion simulator through the real provider), then for each tree (a
checkout whose C modules are built, as ``pip install -e`` leaves them) counts
the instructions of *passes* warm decoding passes over every page and of none
under callgrind, and prints the difference per usage row, with the ratio to
the first tree. Needs ``valgrind``; about three minutes per tree.
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.decode import capture_pages, usage_rows

__all__ = ["collected", "main"]

# Runs inside the tree measured: only what every tree of issue 16 has.
_CHILD = """
import pickle, sys
from costpipe.providers.bucketed import Scope
from costpipe.providers.openai.decode import COSTS, ENDPOINTS, decode
from costpipe.providers.planning import UsagePricer
from costpipe.records import Window
import structlog
pages, start, end = pickle.loads(open(sys.argv[1], "rb").read())
by_path = {e.path: e for e in (COSTS, *ENDPOINTS.values())}
scope = Scope("bench", Window(start, end), UsagePricer("openai", "bench", None, structlog.get_logger()))
for _ in range(1 + int(sys.argv[2])):  # the first pass warms the caches
    for path, body in pages:
        decode(by_path[path], scope, body)
"""


def collected(stderr: str) -> int:
    """The instruction count of callgrind's summary line (``Collected : N``)."""
    found = re.search(r"Collected\s*:\s*(\d+)", stderr)
    if found is None:
        raise RuntimeError(f"no callgrind summary in: {stderr[-500:]}")
    return int(found.group(1))


def _instructions(tree: Path, pages: Path, passes: int) -> int:
    env = {"PYTHONPATH": str(tree / "src"), "PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"}
    callgrind = ("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null")
    result = subprocess.run(
        [*callgrind, sys.executable, "-c", _CHILD, str(pages), str(passes)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return collected(result.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("trees", nargs="+", type=Path, help="checkouts with their C modules built")
    parser.add_argument("--passes", type=int, default=1, help="decoding passes counted")
    args = parser.parse_args(argv)
    pages, window = asyncio.run(capture_pages(200, 14))
    rows = usage_rows(pages)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pages.pickle"
        path.write_bytes(pickle.dumps((pages, window.start, window.end)))
        first = None
        for tree in args.trees:
            counted = _instructions(tree, path, args.passes) - _instructions(tree, path, 0)
            per_row = counted / args.passes / rows
            first = first or per_row
            print(f"{tree}: {per_row:,.0f} instructions per usage row ({per_row / first:.3f}x)")


if __name__ == "__main__":
    main()
