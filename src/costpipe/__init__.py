"""costpipe: know what your organisation spends on AI, and hear before a budget breaks."""

from __future__ import annotations

from costpipe.components import (
    Component,
    ComponentConfig,
    ComponentContext,
    Enricher,
    Notifier,
    Provider,
    Sink,
)
from costpipe.config.durations import Duration
from costpipe.errors import (
    AuthError,
    ConfigError,
    CostpipeError,
    MalformedDataError,
    PluginError,
    SinkUnavailableError,
    TransientError,
)
from costpipe.hookspecs import hookimpl
from costpipe.notification import Notification, NotificationKind
from costpipe.providers.base import HttpProvider, HttpProviderConfig, Page, PageError
from costpipe.records import CostRecord, CostSource, Window
from costpipe.version import __version__

__all__ = [
    "AuthError",
    "Component",
    "ComponentConfig",
    "ComponentContext",
    "ConfigError",
    "CostRecord",
    "CostSource",
    "CostpipeError",
    "Duration",
    "Enricher",
    "HttpProvider",
    "HttpProviderConfig",
    "MalformedDataError",
    "Notification",
    "NotificationKind",
    "Notifier",
    "Page",
    "PageError",
    "PluginError",
    "Provider",
    "Sink",
    "SinkUnavailableError",
    "TransientError",
    "Window",
    "__version__",
    "hookimpl",
]
