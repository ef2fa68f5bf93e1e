"""The whole costpipe plugin API on one page.

Hooks are grouped by life cycle. ``register_*`` hooks are called once while
the plugin manager is built, before the configuration is read, and return
component classes. Lifecycle hooks may be plain functions or ``async def``;
the core awaits whatever they return. Implementations may accept any subset
of a spec's arguments, so specs can gain arguments without breaking plugins.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from costpipe.components import Enricher, Notifier, Provider, Sink
    from costpipe.config.settings import Settings

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("costpipe")
hookimpl = pluggy.HookimplMarker("costpipe")


# -- discovery: called once when the plugin manager is built ---------------------


@hookspec
def register_providers() -> Iterable[type[Provider[Any]]]:
    """Return the provider classes this plugin contributes.

    Each class's ``name`` becomes a config table ``[[providers.<name>]]``.
    Two classes of one kind with one name are an error naming both plugins.
    """


@hookspec
def register_enrichers() -> Iterable[type[Enricher[Any]]]:
    """Return the enricher classes this plugin contributes (``[[enrichers.<name>]]``)."""


@hookspec
def register_sinks() -> Iterable[type[Sink[Any]]]:
    """Return the sink classes this plugin contributes (``[[sinks.<name>]]``)."""


@hookspec
def register_notifiers() -> Iterable[type[Notifier[Any]]]:
    """Return the notifier classes this plugin contributes (``[[notifiers.<name>]]``)."""


# -- life cycle: called by `costpipe run` and `costpipe backfill` ----------------


@hookspec
def costpipe_startup(settings: Settings) -> Any:
    """Called once after the configuration is loaded and every component has
    started, before the first pass. May be a coroutine function. An exception
    is logged with the plugin's name and does not stop the daemon."""


@hookspec
def costpipe_shutdown(settings: Settings) -> Any:
    """Called once when the daemon stops (also after SIGTERM), before
    components close. May be a coroutine function. Must not raise."""
