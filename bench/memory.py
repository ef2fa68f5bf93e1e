"""Memory: peak RSS of ``costpipe backfill`` (a real subprocess) as rows grow.

The simulator runs in its own process (``bench.simserver``, no replay), the
backfill writes to a real influxd; the organisation is fixed and the window
grows, so rows grow while the page size stays the same. A streaming pipeline
keeps the peak flat. The peak is ``VmHWM`` from ``/proc/<pid>/status``
(the high-water mark of the process's own address space since ``exec``),
polled every 0.1 s with ``VmRSS``. Not ``ru_maxrss`` (``getrusage`` or
``wait4``): Linux folds the pre-``exec`` image into it, i.e. the forked copy
of this harness, which holds a million records by then.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import PYTHONPATH, Bench, SimInfo, simulator_process, spread
from costpipe.testing.influxd import InfluxdServer

__all__ = ["backfill_peak", "run"]

#: The simulator's clock is fixed so that rows are the same on every run.
NOW = datetime(2026, 3, 11, 15, tzinfo=UTC)


def write_config(path: Path, info: SimInfo, influx_url: str, database: str) -> None:
    path.write_text(
        f"""
[pipeline]
state_dir = "{path.parent / "state"}"

[[providers.openai]]
name = "sim"
api_key = "${{SIM_OPENAI_KEY}}"
base_url = "{info.openai_base_url}"

[[sinks.influxdb]]
url = "{influx_url}"
database = "{database}"
""",
        encoding="utf-8",
    )


def _status_kib(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) in KiB; (0, 0) once the process is gone."""
    found = {"VmHWM:": 0, "VmRSS:": 0}
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
            for line in fh:
                name = line.split(maxsplit=1)[0] if line.strip() else ""
                if name in found:
                    found[name] = int(line.split()[1])
    except OSError:
        pass
    return found["VmHWM:"], found["VmRSS:"]


def backfill_peak(
    config: Path, info: SimInfo, since: datetime, until: datetime
) -> tuple[float, int, list[float], float]:
    """Run one backfill; return (peak MiB, records, sampled RSS MiB, seconds).

    Blocking: call it in a thread while the loop serves nothing it needs."""
    env = {**os.environ, "SIM_OPENAI_KEY": info.openai_admin_key, "PYTHONPATH": PYTHONPATH}
    command = [
        sys.executable,
        "-m",
        "costpipe",
        "--config",
        str(config),
        "--log-level",
        "error",
        "backfill",
        "--since",
        since.isoformat(),
        "--until",
        until.isoformat(),
    ]
    began = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    samples: list[float] = []
    peak_kib = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak_kib
        tick = 0
        while not done.wait(0.1):
            hwm, rss = _status_kib(process.pid)
            peak_kib = max(peak_kib, hwm)
            tick += 1
            if tick % 5 == 0 and rss:
                samples.append(rss / 1024)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    assert process.stdout is not None
    assert process.stderr is not None
    # Drain the pipes while waiting: the child must never block on a full pipe.
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=lambda s=s, b=b: b.append(s.read()), daemon=True)
        for s, b in ((process.stdout, out), (process.stderr, err))
    ]
    for reader in readers:
        reader.start()
    # Reap only after the poller stopped, so /proc/<pid> (a zombie keeps no
    # status lines) is read while the process lives.
    process.wait()
    done.set()
    poller.join()
    for reader in readers:
        reader.join()
    elapsed = time.perf_counter() - began
    text = b"".join(out).decode()
    if process.returncode != 0:
        raise RuntimeError(f"backfill failed: {text[-2000:]} {b''.join(err).decode()[-2000:]}")
    records = sum(int(n) for n in re.findall(r": ok, (\d+) records", text))
    return peak_kib / 1024, records, samples, elapsed


async def run(
    server: InfluxdServer, *, quick: bool, runs: int, sizes: dict[str, int] | None = None
) -> Bench:
    """*sizes* maps a label to a window in days (fixed organisation)."""
    users, days_1m = (6, 4) if quick else (200, 135)
    sizes = sizes or ({"small": 2, "large": 10} if quick else {"1M": days_1m, "5M": 5 * days_1m})
    # Full sizes take minutes each (the simulator generates 20-40k rows/s), and a
    # peak RSS varies little between runs: one run of each there, and said so.
    repeat = runs if quick else 1
    params = {"simulator_users": users, "window_days": sizes, "runs": repeat}
    bench = Bench("memory", params=params)
    spec: dict[str, Any] = {"seed": 1, "now": NOW.isoformat(), "users": users, "projects": 10}
    spec["api_keys"] = max(5, users // 20)
    with tempfile.TemporaryDirectory() as tmp:
        async with simulator_process(spec) as info:
            for label, days in sizes.items():
                peaks, seconds, rows = [], [], 0
                for run_index in range(repeat):
                    directory = Path(tmp) / f"{label}-{run_index}"
                    directory.mkdir()
                    config = directory / "config.toml"
                    write_config(config, info, server.url, f"mem_{label}_{run_index}")
                    since = NOW - timedelta(days=days)
                    peak, rows, samples, took = await asyncio.to_thread(
                        backfill_peak, config, info, since, NOW
                    )
                    peaks.append(peak)
                    seconds.append(took)
                    bench.params[f"rss_samples_{label}_mib"] = [round(s) for s in samples]
                bench.params[f"rows_{label}"] = rows
                bench.figures[f"peak_rss_{label}"] = spread(peaks, "MiB")
                bench.figures[f"seconds_{label}"] = spread(seconds, "s")
    labels = list(sizes)
    small, large = (bench.figures[f"peak_rss_{x}"]["median"] for x in (labels[0], labels[-1]))
    bench.figures["growth_large_vs_small"] = spread([large / small], "x")
    bench.goal(
        f"backfill peak RSS <= 150 MiB at {labels[-1]} rows",
        large,
        "<= 150 MiB",
        lambda v: v <= 150,
    )
    bench.goal("flat: peak largest / smallest", large / small, "<= 1.15", lambda v: v <= 1.15)
    return bench
