"""Shared pieces of the benchmark harness: statistics, the machine, child processes."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Bench", "SimInfo", "machine", "simulator_process", "spread"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: What subprocesses import: this tree's source before any installed copy, so a
#: bench run from a second clone measures that clone, not the editable install.
PYTHONPATH = os.pathsep.join((os.path.join(ROOT, "src"), ROOT))


def spread(values: Sequence[float], unit: str) -> dict[str, Any]:
    """Median and min..max of several runs (every figure in the results has this shape)."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": list(values),
        "unit": unit,
    }


def ratio(num: Sequence[float], den: Sequence[float]) -> dict[str, Any]:
    """Per-run ratios of two methods measured in alternation (run i against run i)."""
    return spread([a / b for a, b in zip(num, den, strict=True)], "x")


@dataclass
class Bench:
    """What one benchmark section returns: its figures, goals and notes."""

    name: str
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)
    goals: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def goal(self, name: str, value: float, target: str, met: Callable[[float], bool]) -> None:
        self.goals[name] = {"value": value, "target": target, "met": bool(met(value))}

    def as_json(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "figures": self.figures,
            "goals": self.goals,
            "notes": self.notes,
        }


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), ""
            )
    except OSError:
        pass
    try:
        influxd = subprocess.run(
            ["influxd", "version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except OSError:
        influxd = "not found"
    mem_kib = 0
    with open("/proc/meminfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "influxd": influxd,
    }


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@dataclass(frozen=True)
class SimInfo:
    openai_base_url: str
    anthropic_base_url: str
    openai_admin_key: str
    anthropic_admin_key: str


@asynccontextmanager
async def simulator_process(spec: dict[str, Any]) -> AsyncIterator[SimInfo]:
    """Run ``bench.simserver`` as a child process (so its CPU is not ours) for the block."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.simserver",
        json.dumps(spec),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if not line:
            raise RuntimeError("bench.simserver exited before serving")
        yield SimInfo(**json.loads(line))
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
