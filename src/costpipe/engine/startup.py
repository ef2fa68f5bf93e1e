"""The one ``costpipe_starting`` line that ``run`` and ``backfill`` log before
their first request: what is running, and with which configuration.

A support question starts with this line, so it names everything that shapes
the result: the versions, the config file, the plugins, every component
instance, the number of budgets and the price table. It names no secret.
"""

from __future__ import annotations

import platform
from pathlib import Path

import structlog

from costpipe import __version__
from costpipe.components import ComponentRegistry
from costpipe.engine.runtime import Runtime

__all__ = ["log_startup", "startup_details"]


def startup_details(
    command: str, config: Path, registry: ComponentRegistry, runtime: Runtime
) -> dict[str, object]:
    """The fields of the ``costpipe_starting`` event."""
    settings = runtime.settings
    plugins = sorted(registry.plugins, key=lambda info: (info.source != "builtin", info.name))
    return {
        "command": command,
        "version": __version__,
        "python": platform.python_version(),
        "config": str(config),
        "plugins": [f"{info.name} {info.version}" for info in plugins],
        "providers": [p.instance for p in runtime.providers],
        "enrichers": [e.instance for e in runtime.enrichers],
        "sinks": [s.instance for s in runtime.sinks],
        "notifiers": sorted({n.instance for n in runtime.notifiers.values()}),
        "budgets": len(settings.budgets),
        "price_table": runtime.prices.version if runtime.prices is not None else None,
        "state_dir": str(settings.pipeline.state_dir),
    }


def log_startup(command: str, config: Path, registry: ComponentRegistry, runtime: Runtime) -> None:
    structlog.get_logger("costpipe").info(
        "costpipe_starting", **startup_details(command, config, registry, runtime)
    )
