"""Base classes of the four component kinds and their call guarantees.

A plugin contributes component *classes* through the hooks in
:mod:`costpipe.hookspecs`; the core instantiates one object per config table
(``[[providers.openai]]`` twice gives two instances) and drives them:

* A **provider** turns a time window into batches of :class:`CostRecord`.
* An **enricher** adds tags to batches (team, cost centre...).
* A **sink** stores batches, acknowledging only once they are safe.
* A **notifier** delivers alerts.

Each class names its config table with ``name`` and describes its options
with a pydantic model in ``config_model``; unknown keys are errors.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import structlog
from pydantic import BaseModel, ConfigDict, Field

from costpipe.records import CostRecord, Window

if TYPE_CHECKING:
    from costpipe.notification import Notification
    from costpipe.pricing.prices import PriceTable
    from costpipe.query.api import CostReader

__all__ = [
    "KINDS",
    "Component",
    "ComponentConfig",
    "ComponentContext",
    "ComponentRegistry",
    "Enricher",
    "Notifier",
    "Provider",
    "Sink",
]


class ComponentConfig(BaseModel):
    """Base of every component's config model: strict, immutable.

    ``name`` is optional in TOML; without it an instance is called
    ``<kind name>.<index>`` (``openai.0``). Names must be unique per kind.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(
        default=None,
        description="Instance name (default: the table's index); unique per kind, used in "
        "logs, alerts and `notify` lists.",
    )


ConfigT = TypeVar("ConfigT", bound=ComponentConfig)


@dataclass(slots=True)
class ComponentContext:
    """What the core hands every component instance."""

    instance: str
    """Unique instance name, e.g. ``openai.prod``; use it in logs and state."""
    state_dir: Path
    """A directory private to this instance, created by the core."""
    timezone: str = "UTC"
    """``pipeline.timezone``: for calendar periods and display only."""
    request_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(8))
    """Shared bound on HTTP requests in flight across all providers."""
    dashboard_url: str | None = None
    prices: PriceTable | None = None
    """The price table (bundled, plus `[[prices]]` overrides) for estimating cost."""
    log: Any = None
    secret_env: dict[str, str] = field(default_factory=dict)
    """Secret config key -> environment variable it came from (``ComponentSpec.env_vars``),
    so that a refused credential's message can name the variable to fix."""
    serving: bool = False
    """True inside ``costpipe run`` only: a component that listens for traffic (the
    Ollama metering proxy) opens its socket then, so ``check``, ``backfill`` and
    ``demo`` never compete with the daemon for its port."""

    def __post_init__(self) -> None:
        if self.log is None:
            self.log = structlog.get_logger("costpipe").bind(component=self.instance)


class Component(abc.ABC, Generic[ConfigT]):
    """Common life cycle: ``__init__`` (no IO), :meth:`start`, use, :meth:`close`.

    The core calls :meth:`start` once inside the running event loop before any
    other coroutine, and :meth:`close` once at shutdown, even after an error.
    """

    name: ClassVar[str]
    """The config table name: ``[[providers.<name>]]``."""
    config_model: ClassVar[type[ComponentConfig]] = ComponentConfig
    #: Config keys holding secrets: checked for presence before the first request.
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: ConfigT, context: ComponentContext) -> None:
        self.config = config
        self.context = context
        self.log = context.log

    @property
    def instance(self) -> str:
        return self.context.instance

    async def start(self) -> None:
        """Open sessions and connections. Runs inside the event loop."""

    async def close(self) -> None:
        """Release everything :meth:`start` opened. Must not raise."""

    async def check_connection(self) -> str:
        """Make one cheap, read-only request and return what was checked.

        Used by ``costpipe check --connect``. Raise a costpipe error on failure.
        """
        return "no connection check"


class Provider(Component[ConfigT]):
    """Fetches usage and billing rows.

    :meth:`fetch` is called by one task at a time per instance; different
    instances run concurrently. It must be *re-runnable*: fetching a window
    twice yields the same record keys (later revisions may change figures).

    **The window.** A :class:`~costpipe.records.Window` is half-open,
    ``[window.start, window.end)``, like every time range in costpipe. A bucket
    belongs to the window in which it *ends*: ``fetch`` yields exactly the
    complete buckets with ``window.start < bucket.end <= window.end``. So
    consecutive windows ``[a, b)`` and ``[b, c)`` yield every bucket exactly
    once, whatever their alignment; for a window aligned to the bucket width
    these are the buckets inside ``[start, end)``; for an unaligned one, the
    first bucket may start before ``window.start``. A bucket that has not
    ended yet is left for a later pass. :class:`~costpipe.testing.ProviderContract`
    checks this with windows cut inside a bucket. Raise
    :class:`~costpipe.errors.AuthError` for refused credentials,
    :class:`~costpipe.errors.TransientError` when retries are exhausted, and
    report malformed pages with :meth:`set_aside` instead of raising, so that
    the rest of the window is still fetched.
    """

    #: Finest bucket this provider reports; windows are aligned to it.
    bucket: ClassVar[str] = "1h"

    def __init__(self, config: ConfigT, context: ComponentContext) -> None:
        super().__init__(config, context)
        self.pages_fetched = 0
        self.pages_set_aside = 0
        self.retries = 0

    @abc.abstractmethod
    def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        """Yield batches of the records of the buckets that end in the window
        (``window.start < bucket.end <= window.end``; see the class docs)."""

    def checkpointed(self, moment: datetime) -> None:
        """Called by the core after this instance's checkpoint advanced to *moment*:
        the buckets that end at or before it are stored in every sink. A provider
        that keeps its own copy of the data (a journal) may drop them. Must not
        raise or block; the default does nothing."""

    def set_aside(self, url: str, reason: str) -> None:
        """Log a page that could not be parsed; the run goes on without it."""
        self.pages_set_aside += 1
        self.log.error("page_set_aside", provider=self.instance, url=url, reason=reason)


class Enricher(Component[ConfigT]):
    """Adds tags to records. Called once per batch, never concurrently for one
    instance; must return a batch of the same records (same keys), possibly
    re-tagged. An exception fails the batch's provider run, not the daemon."""

    @abc.abstractmethod
    async def enrich(self, records: Sequence[CostRecord]) -> Sequence[CostRecord]:
        """Return *records* with extra tags."""


class Sink(Component[ConfigT]):
    """Stores records.

    :meth:`write` may be called concurrently from several provider tasks. It
    returns only once the batch is durable (or raises): the core advances a
    provider's checkpoint only after every sink returned. Writing a record
    whose key is already stored replaces it; totals never double. Raise
    :class:`~costpipe.errors.SinkUnavailableError` when the store cannot be
    reached: the core spools the batch to disk and replays it later.
    """

    @abc.abstractmethod
    async def write(self, records: Sequence[CostRecord]) -> None:
        """Store *records* durably (upsert by key)."""

    async def flush(self) -> None:
        """Finish every write in flight. Called before shutdown."""

    def reader(self) -> CostReader | None:
        """The query layer over this store, or ``None`` if it cannot be read."""
        return None


class Notifier(Component[ConfigT]):
    """Delivers notifications. :meth:`send` returns once the message was accepted
    by the remote end and raises otherwise; the outbox retries. ``notification.id``
    is stable across retries: pass it on as an idempotency key where possible."""

    @abc.abstractmethod
    async def send(self, notification: Notification) -> None:
        """Deliver one notification."""


#: The config section of each component kind and the base class its plugins extend.
KINDS: dict[str, type[Component[Any]]] = {
    "providers": Provider,
    "enrichers": Enricher,
    "sinks": Sink,
    "notifiers": Notifier,
}


@dataclass(slots=True)
class ComponentRegistry:
    """Component classes by kind and name, plus who contributed them (built by
    :func:`costpipe.plugins.build_plugin_manager`; the config loader reads it)."""

    classes: dict[str, dict[str, type[Component[Any]]]]
    plugins: list[PluginInfo]

    def get(self, kind: str, name: str) -> type[Component[Any]] | None:
        return self.classes.get(kind, {}).get(name)

    def names(self, kind: str) -> list[str]:
        return sorted(self.classes.get(kind, {}))


@dataclass(slots=True)
class PluginInfo:
    """One registered plugin: its name, version, where it came from, what it adds."""

    name: str
    version: str
    source: str
    components: list[str] = field(default_factory=list)
