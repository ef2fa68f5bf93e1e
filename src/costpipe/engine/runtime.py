"""Turn validated settings into started component instances, and back down."""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import BaseModel, SecretStr

from costpipe.components import (
    Component,
    ComponentContext,
    Enricher,
    Notifier,
    Provider,
    Sink,
)
from costpipe.config.settings import ComponentSpec, Settings
from costpipe.engine.spool import Spools
from costpipe.files import private_dir
from costpipe.logging import register_secret

if TYPE_CHECKING:
    from costpipe.pricing.prices import PriceTable

__all__ = ["Runtime", "build_component", "register_config_secrets", "store_specs"]

log = structlog.get_logger("costpipe")


def _secrets_of(model: BaseModel) -> list[str]:
    found: list[str] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            found.extend(_secrets_of(value))
    return found


def register_config_secrets(settings: Settings) -> None:
    """Mask every secret value of the configuration in all later log lines.

    Whole values only (the key, the password, the whole webhook URL where the URL
    is the secret), never fragments: splitting a webhook URL on ``:`` once
    registered ``//127.0.0.1``, and every logged URL read ``http:***:33693/...``.
    """
    for specs in settings.components.values():
        for spec in specs:
            for secret in _secrets_of(spec.config):
                register_secret(secret)
    if settings.dashboard.basic_auth is not None:
        # "user:password": the password is a secret value of its own, the user name is not.
        credentials = settings.dashboard.basic_auth.get_secret_value()
        register_secret(credentials)
        register_secret(credentials.partition(":")[2])


def _price_table(settings: Settings) -> PriceTable | None:
    # Pricing is optional for the core: a build without it still runs billed-only providers.
    try:
        pricing = importlib.import_module("costpipe.pricing.prices")
    except ImportError:
        return None
    table: PriceTable = pricing.PriceTable.bundled().with_overrides(settings.prices)
    return table


def build_component(
    settings: Settings,
    spec: ComponentSpec,
    *,
    request_slots: asyncio.Semaphore | None = None,
    prices: PriceTable | None = None,
    serving: bool = False,
) -> Component[Any]:
    """Create one configured component (no IO) with its context: its private
    directory ``<state_dir>/<kind>/<instance>``, the timezone, the shared request
    bound and the price table."""
    context = ComponentContext(
        instance=spec.instance,
        state_dir=settings.pipeline.state_dir / spec.kind / spec.instance,
        timezone=settings.pipeline.timezone,
        request_slots=request_slots or asyncio.Semaphore(settings.pipeline.max_concurrent_requests),
        dashboard_url=settings.dashboard.url,
        prices=prices,
        secret_env=dict(spec.env_vars),
        serving=serving,
    )
    return spec.cls(spec.config, context)


def store_specs(settings: Settings) -> list[ComponentSpec]:
    """The sinks the query layer may read, in order of preference:
    ``[dashboard] store`` if set, else every sink in config order."""
    wanted = settings.dashboard.store
    return [s for s in settings.sinks if wanted is None or s.instance == wanted]


@dataclass(slots=True)
class Runtime:
    """Every configured component, created and started, plus shared resources:
    the request bound, the price table and the spool in front of each sink."""

    settings: Settings
    providers: list[Provider[Any]] = field(default_factory=list)
    enrichers: list[Enricher[Any]] = field(default_factory=list)
    sinks: list[Sink[Any]] = field(default_factory=list)
    notifiers: dict[str, Notifier[Any]] = field(default_factory=dict)
    prices: PriceTable | None = None
    spools: Spools = field(default_factory=lambda: Spools([]))
    """The sinks as the pipeline writes to them; created by :meth:`start`."""
    started: list[Component[Any]] = field(default_factory=list)

    @property
    def state_dir(self) -> Path:
        return self.settings.pipeline.state_dir

    @classmethod
    def create(
        cls,
        settings: Settings,
        *,
        only_providers: set[str] | None = None,
        serving: bool = False,
    ) -> Runtime:
        """Instantiate components (no IO). ``only_providers`` keeps the providers
        whose instance name (``openai.prod``) or short name (``prod``) is listed;
        ``serving`` (``costpipe run``) lets components listen for traffic."""
        prices = _price_table(settings)
        runtime = cls(settings, prices=prices)
        slots = asyncio.Semaphore(settings.pipeline.max_concurrent_requests)

        def build(spec: ComponentSpec) -> Any:
            return build_component(
                settings, spec, request_slots=slots, prices=prices, serving=serving
            )

        for spec in settings.providers:
            short = spec.instance.split(".", 1)[1]
            if only_providers is not None and not (
                {spec.instance, short, spec.name} & only_providers
            ):
                continue
            runtime.providers.append(build(spec))
        runtime.enrichers = [build(spec) for spec in settings.enrichers]
        runtime.sinks = [build(spec) for spec in settings.sinks]
        short_names: dict[str, list[str]] = {}
        for spec in settings.notifiers:
            runtime.notifiers[spec.instance] = build(spec)
            short_names.setdefault(spec.instance.split(".", 1)[1], []).append(spec.instance)
        for short, instances in short_names.items():
            if len(instances) == 1 and short not in runtime.notifiers:
                runtime.notifiers[short] = runtime.notifiers[instances[0]]
        return runtime

    def components(self) -> list[Component[Any]]:
        unique: dict[int, Component[Any]] = {}
        for comp in [*self.providers, *self.enrichers, *self.sinks, *self.notifiers.values()]:
            unique[id(comp)] = comp
        return list(unique.values())

    async def start(self) -> None:
        """Start every component and open the spools; on a failure, close those
        already started. ``state_dir`` and everything created in it is private
        (0700 directories, 0600 files): it holds spend by user and key."""
        private_dir(self.state_dir)
        pipeline = self.settings.pipeline
        self.spools = Spools.around(self.sinks, self.state_dir / "spool", pipeline.spool_max_bytes)
        for comp in self.components():
            private_dir(comp.context.state_dir)
            try:
                await comp.start()
            except BaseException:
                await self.close()
                raise
            self.started.append(comp)

    async def close(self) -> None:
        """Close started components in reverse order; never raises."""
        while self.started:
            comp = self.started.pop()
            try:
                await comp.close()
            except Exception as exc:  # close() must not raise; log and carry on
                log.error("close_failed", component=comp.instance, error=repr(exc))

    async def flush(self) -> None:
        """Flush every sink within ``pipeline.shutdown_timeout``; never raises."""
        await self.spools.flush(self.settings.pipeline.shutdown_timeout.total_seconds())

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.flush()
        await self.close()
