"""Every hook in costpipe.hookspecs, exercised for real.

Discovery hooks go through :func:`costpipe.plugins.build_plugin_manager` and the
config parser; life-cycle hooks through :class:`costpipe.engine.passes.PassRunner`
entering and exiting. ``tests/sdk/test_hooks_documented.py`` requires one
``test_hook_<name>`` per hook.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from structlog.testing import capture_logs

from costpipe import hookimpl
from costpipe.components import ComponentConfig, Enricher
from costpipe.config.settings import Settings, parse_config
from costpipe.engine.passes import PassRunner
from costpipe.errors import PluginError
from costpipe.plugins import ComponentRegistry, build_plugin_manager
from costpipe.records import CostRecord
from costpipe.testing import CapturingNotifier, MemorySink, StaticProvider

EVENTS: list[str] = []


class AcmeProvider(StaticProvider):
    name: ClassVar[str] = "acme"


class LabelConfig(ComponentConfig):
    label: str = "acme"


class LabelEnricher(Enricher[LabelConfig]):
    name: ClassVar[str] = "label"
    config_model = LabelConfig

    async def enrich(self, records: Sequence[CostRecord]) -> Sequence[CostRecord]:
        return [r.with_tags({"label": self.config.label}) for r in records]


class RecordingSink(MemorySink):
    """Notes in EVENTS when the core starts and closes it."""

    name: ClassVar[str] = "recording"

    async def start(self) -> None:
        EVENTS.append(f"start {self.instance}")

    async def close(self) -> None:
        EVENTS.append(f"close {self.instance}")


class EchoNotifier(CapturingNotifier):
    name: ClassVar[str] = "echo"


class AcmePlugin:
    __name__ = "acme-plugin"

    @hookimpl
    def register_providers(self) -> list[type[Any]]:
        return [AcmeProvider]

    @hookimpl
    def register_enrichers(self) -> list[type[Any]]:
        return [LabelEnricher]

    @hookimpl
    def register_sinks(self) -> list[type[Any]]:
        return [RecordingSink]

    @hookimpl
    def register_notifiers(self) -> list[type[Any]]:
        return [EchoNotifier]


def build(*plugins: object) -> tuple[Any, ComponentRegistry]:
    return build_plugin_manager(builtins=(), entry_points=False, extra=[AcmePlugin(), *plugins])


def settings_for(registry: ComponentRegistry, tmp_path: Path, extra: str = "") -> Settings:
    text = f"""
    [pipeline]
    state_dir = "{tmp_path / "state"}"
    [[providers.acme]]
    name = "one"
    [[sinks.recording]]
    name = "store"
    {extra}
    """
    return parse_config(tomllib.loads(text), registry, env={})


def test_hook_register_providers(tmp_path: Path) -> None:
    """A registered provider class becomes a config table and is credited to its plugin."""
    _pm, registry = build()
    assert registry.get("providers", "acme") is AcmeProvider
    [spec] = settings_for(registry, tmp_path).providers
    assert (spec.cls, spec.instance) == (AcmeProvider, "acme.one")
    info = next(p for p in registry.plugins if p.name == "acme-plugin")
    assert "providers.acme" in info.components


def test_hook_register_providers_rejects_a_duplicate_name() -> None:
    class Twin:
        __name__ = "twin-plugin"

        @hookimpl
        def register_providers(self) -> list[type[Any]]:
            return [AcmeProvider]

    with pytest.raises(PluginError, match=r"providers.acme is provided twice"):
        build(Twin())


async def test_hook_register_enrichers(tmp_path: Path) -> None:
    """A registered enricher is configured from TOML and tags what the sinks store."""
    pm, registry = build()
    settings = settings_for(registry, tmp_path, '[[enrichers.label]]\nlabel = "blue"')
    [spec] = settings.enrichers
    assert (spec.cls, spec.instance) == (LabelEnricher, "label.0")
    async with PassRunner(settings, pm) as daemon:
        await daemon.backfill(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 3, tzinfo=UTC))
        [sink] = daemon.runtime.sinks
        assert isinstance(sink, RecordingSink)
        stored = list(sink.records.values())
    # Nine fetched rows, and the backfill's allocation of their bill (one
    # allocated row each: the static provider reports no usage to split over).
    assert 9 == sum(r.basis != "allocated" for r in stored)
    assert 9 == sum(r.basis == "allocated" for r in stored)
    assert {("label", "blue")} == {tag for r in stored for tag in r.tags}


def test_hook_register_enrichers_builtin_uses_the_same_hook() -> None:
    """The built-in teams enricher registers through register_enrichers too."""
    pm, registry = build_plugin_manager(builtins=("costpipe.enrichers.teams",), entry_points=False)
    impls = [i.plugin_name for i in pm.hook.register_enrichers.get_hookimpls()]
    assert impls == ["costpipe.enrichers.teams"]
    assert registry.names("enrichers") == ["teams"]


def test_hook_register_sinks(tmp_path: Path) -> None:
    _pm, registry = build()
    [spec] = settings_for(registry, tmp_path).sinks
    assert (spec.cls, spec.instance) == (RecordingSink, "recording.store")


def test_hook_register_sinks_rejects_a_non_sink() -> None:
    class Wrong:
        __name__ = "wrong-plugin"

        @hookimpl
        def register_sinks(self) -> list[type[Any]]:
            return [AcmeProvider]

    with pytest.raises(
        PluginError, match=r"'wrong-plugin': register_sinks returned .* not a subclass of Sink"
    ):
        build(Wrong())


def test_hook_register_notifiers(tmp_path: Path) -> None:
    """A registered notifier can be named by a budget's notify list."""
    _pm, registry = build()
    settings = settings_for(
        registry,
        tmp_path,
        '[[notifiers.echo]]\nname = "ops"\n'
        '[[budgets]]\nname = "b"\namount_usd = 10\nnotify = ["ops"]',
    )
    [spec] = settings.notifiers
    assert (spec.cls, spec.instance) == (EchoNotifier, "echo.ops")
    assert settings.budgets[0].notify == ["ops"]


class LifecyclePlugin:
    """Records when the core calls it; one sync and one async implementation."""

    __name__ = "lifecycle-plugin"

    @hookimpl
    async def costpipe_startup(self, settings: Settings) -> None:
        EVENTS.append(f"startup {settings.sinks[0].instance}")

    @hookimpl
    def costpipe_shutdown(self) -> None:  # a subset of the spec's arguments is fine
        EVENTS.append("shutdown")


@pytest.fixture(autouse=True)
def _clear_events() -> None:
    EVENTS.clear()


async def test_hook_costpipe_startup(tmp_path: Path) -> None:
    """Called once, awaited, after every component started and before any pass."""
    pm, registry = build(LifecyclePlugin())
    daemon = PassRunner(settings_for(registry, tmp_path), pm)
    assert EVENTS == []
    async with daemon:
        assert EVENTS == ["start recording.store", "startup recording.store"]
    assert EVENTS.count("startup recording.store") == 1


async def test_hook_costpipe_startup_failure_is_logged_not_fatal(tmp_path: Path) -> None:
    class Broken:
        __name__ = "broken-plugin"

        @hookimpl
        def costpipe_startup(self) -> None:
            raise RuntimeError("boom")

    pm, registry = build(Broken(), LifecyclePlugin())
    with capture_logs() as logs:
        async with PassRunner(settings_for(registry, tmp_path), pm) as daemon:
            results = await daemon.scheduled_pass()
    assert [r.instance for r in results] == ["acme.one"]
    assert "startup recording.store" in EVENTS
    failed = [e for e in logs if e["event"] == "startup_hook_failed"]
    assert len(failed) == 1
    assert failed[0]["plugin"] == "broken-plugin"
    assert "boom" in failed[0]["error"]


async def test_hook_costpipe_shutdown(tmp_path: Path) -> None:
    """Called once when the daemon exits, before the components close."""
    pm, registry = build(LifecyclePlugin())
    async with PassRunner(settings_for(registry, tmp_path), pm):
        pass
    assert EVENTS == [
        "start recording.store",
        "startup recording.store",
        "shutdown",
        "close recording.store",
    ]


async def test_hook_costpipe_shutdown_runs_after_an_error(tmp_path: Path) -> None:
    pm, registry = build(LifecyclePlugin())
    with pytest.raises(KeyError):
        async with PassRunner(settings_for(registry, tmp_path), pm):
            raise KeyError("stop")
    assert EVENTS[-2:] == ["shutdown", "close recording.store"]


async def test_hook_costpipe_shutdown_failure_skips_nothing(tmp_path: Path) -> None:
    """A raising shutdown hook is logged; the other hooks run and components close."""

    class Broken:
        __name__ = "broken-plugin"

        @hookimpl
        async def costpipe_shutdown(self) -> None:
            raise RuntimeError("boom")

    pm, registry = build(LifecyclePlugin(), Broken())
    with capture_logs() as logs:
        async with PassRunner(settings_for(registry, tmp_path), pm):
            pass
    assert EVENTS[-2:] == ["shutdown", "close recording.store"]
    assert [e["plugin"] for e in logs if e["event"] == "shutdown_hook_failed"] == ["broken-plugin"]
