"""Allocation from the command line: the store a command reads, opened for one job.

``costpipe reconcile`` reads one store, as the dashboard does (``[dashboard]
store``, else the first readable sink). ``costpipe reprice`` re-allocates the
days it repriced in each store it repriced (``cli_reprice.after_reprice``);
``costpipe backfill`` and the daemon allocate inside their passes
(:meth:`costpipe.engine.passes.PassRunner.allocate`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from costpipe.components import Sink
from costpipe.config.settings import Settings
from costpipe.engine.runtime import build_component, store_specs
from costpipe.errors import ConfigError
from costpipe.query.api import CostReader

__all__ = ["open_reader"]


@asynccontextmanager
async def open_reader(settings: Settings) -> AsyncIterator[CostReader]:
    """The query layer of the store the dashboard reads, started for the block;
    ConfigError when no configured sink can be read."""
    for spec in store_specs(settings):
        sink = build_component(settings, spec)
        assert isinstance(sink, Sink)  # a [[sinks.*]] table builds a sink
        sink.context.state_dir.mkdir(parents=True, exist_ok=True)
        await sink.start()
        try:
            reader = sink.reader()
            if reader is not None:
                yield reader
                return
        finally:
            await sink.close()
    raise ConfigError("sinks", "no configured sink can be read")
