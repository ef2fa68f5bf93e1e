"""The dashboard as a ``panel serve`` script, for development and custom deployments.

    COSTPIPE_CONFIG=config.toml panel serve dashboards/costpipe_dashboard.py \\
        --address 127.0.0.1 --port 5006 --allow-websocket-origin=127.0.0.1:5006

Everything lives in the installed package (:mod:`costpipe.dashboard`), which is
what ``costpipe dashboard`` serves from a wheel; this file only reads the
config and builds one page per session. The store is opened once per process
(on the server's loop, on first use) and shared by every session.
"""

from __future__ import annotations

import asyncio

import panel as pn

from costpipe.config.settings import Settings, config_path, load_config
from costpipe.dashboard.app import Dashboard, DashboardOptions
from costpipe.dashboard.server import ReaderHandle, open_reader
from costpipe.plugins import build_plugin_manager
from costpipe.query.api import CostReader

_CACHE_KEY = "costpipe-reader"


def _settings() -> Settings:
    path = config_path(None)
    # A first pass without plugin folders reads pipeline.plugin_dirs, as the CLI does.
    _pm, registry = build_plugin_manager()
    plugin_dirs = load_config(path, registry).pipeline.plugin_dirs
    if plugin_dirs:
        _pm, registry = build_plugin_manager(plugin_dirs)
    return load_config(path, registry)


SETTINGS: Settings = pn.state.as_cached("costpipe-settings", _settings)


async def _reader() -> CostReader:
    # as_cached is not async-aware: keep one task per process and share it.
    task: asyncio.Task[ReaderHandle] | None = pn.state.cache.get(_CACHE_KEY)
    if task is None:
        task = asyncio.ensure_future(open_reader(SETTINGS))
        pn.state.cache[_CACHE_KEY] = task
    return (await task).reader


Dashboard(_reader, DashboardOptions.from_settings(SETTINGS)).page().servable()
