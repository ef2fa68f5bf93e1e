"""A wire-faithful fake of the OpenAI and Anthropic admin billing/usage APIs.

Used by costpipe's tests, demo and benchmarks; see ``docs/simulator.md``.
"""

from __future__ import annotations

from costpipe.simulator.options import FaultOptions, SimulatorOptions
from costpipe.simulator.server import Simulator, run_simulator
from costpipe.simulator.truth import Totals

__all__ = ["FaultOptions", "Simulator", "SimulatorOptions", "Totals", "run_simulator"]
