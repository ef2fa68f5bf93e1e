"""Build the plugin manager explicitly: built-ins, entry points, plugin folders.

Nothing here runs at import time; :func:`build_plugin_manager` is called by the
CLI with the folders named in the config. Built-in components register through
the same hooks as third-party plugins.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import sys
from collections.abc import Awaitable, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pluggy

from costpipe import hookspecs
from costpipe.components import KINDS, ComponentRegistry, PluginInfo
from costpipe.errors import PluginError

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "KINDS",
    "ComponentRegistry",
    "PluginInfo",
    "await_me_maybe",
    "build_plugin_manager",
    "call_each",
]

ENTRY_POINT_GROUP = "costpipe"

#: Modules that ship with costpipe; each is an ordinary plugin.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "costpipe.providers.openai",
    "costpipe.providers.anthropic",
    "costpipe.providers.openrouter",
    "costpipe.providers.litellm",
    "costpipe.providers.ollama",
    "costpipe.providers.bedrock",
    "costpipe.providers.azure_openai",
    "costpipe.providers.gcp_billing",
    "costpipe.enrichers.teams",
    "costpipe.sinks.sqlite.store",
    "costpipe.sinks.influxdb.writer",
    "costpipe.notifiers.email",
    "costpipe.notifiers.webhook",
    "costpipe.notifiers.teams",
    "costpipe.notifiers.pagerduty",
)

T = TypeVar("T")


async def await_me_maybe(value: T | Awaitable[T]) -> T:
    """Await *value* if a hook returned a coroutine (pluggy has no async)."""
    if inspect.isawaitable(value):
        return await value
    return value


async def call_each(hook: Any, **kwargs: Any) -> list[tuple[str, Exception]]:
    """Call every implementation of a life-cycle hook on its own, in pluggy's
    order, awaiting what it returns; return ``(plugin name, error)`` for each
    implementation that raised.

    Unlike ``hook(**kwargs)``, one plugin raising (synchronously or in its
    coroutine) neither stops the others nor leaves their coroutines unawaited.
    Implementations receive the subset of *kwargs* they name, as with pluggy.
    """
    failures: list[tuple[str, Exception]] = []
    for impl in reversed(hook.get_hookimpls()):
        args = [kwargs[name] for name in impl.argnames]
        try:
            await await_me_maybe(impl.function(*args))
        except Exception as exc:
            failures.append((impl.plugin_name, exc))
    return failures


def _module_version(module: ModuleType) -> str:
    top = module.__name__.split(".")[0]
    try:
        return importlib.metadata.version(top)
    except importlib.metadata.PackageNotFoundError:
        return str(getattr(module, "__version__", "unknown"))


def _load_file(path: Path) -> ModuleType:
    module_name = f"costpipe_local_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"plugin file {path}: cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise PluginError(f"plugin file {path} failed to import: {exc!r}") from exc
    return module


def build_plugin_manager(
    plugin_dirs: Sequence[Path] = (),
    *,
    entry_points: bool = True,
    builtins: Sequence[str] = BUILTIN_PLUGINS,
    extra: Iterable[object] = (),
) -> tuple[pluggy.PluginManager, ComponentRegistry]:
    """Return a plugin manager with every plugin registered and checked, and the
    registry of component classes they contribute.

    Raises :class:`PluginError` naming the plugin for an import failure, a
    misspelled hook, or two components of one kind with one name.
    """
    pm = pluggy.PluginManager("costpipe")
    pm.add_hookspecs(hookspecs)
    infos: dict[str, PluginInfo] = {}

    def register(plugin: object, name: str, version: str, source: str) -> None:
        try:
            pm.register(plugin, name=name)
        except ValueError as exc:
            raise PluginError(f"plugin {name!r} ({source}) is registered twice: {exc}") from exc
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {name!r} ({source}): {exc}") from exc
        infos[name] = PluginInfo(name, version, source)

    for dotted in builtins:
        try:
            module = importlib.import_module(dotted)
        except Exception as exc:
            raise PluginError(f"built-in plugin {dotted!r} failed to import: {exc!r}") from exc
        register(module, dotted, _module_version(module), "builtin")

    if entry_points:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                module = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"plugin {ep.name!r} (entry point {ep.value}) failed to import: {exc!r}"
                ) from exc
            version = ep.dist.version if ep.dist is not None else "unknown"
            dist = ep.dist.name if ep.dist is not None else ep.value
            register(module, ep.name, version, f"entry point of {dist}")

    for folder in plugin_dirs:
        if not folder.is_dir():
            raise PluginError(f"plugin folder {folder} does not exist")
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            module = _load_file(path)
            register(module, path.stem, str(getattr(module, "__version__", "local")), str(path))

    for index, plugin in enumerate(extra):
        name = getattr(plugin, "__name__", f"extra-{index}")
        register(plugin, str(name), "test", "in-process")

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {getattr(exc.plugin, '__name__', exc.plugin)!r}: {exc}") from exc

    registry = ComponentRegistry({kind: {} for kind in KINDS}, list(infos.values()))
    owners: dict[tuple[str, str], str] = {}
    for kind, base in KINDS.items():
        hook = getattr(pm.hook, f"register_{kind}")
        for impl in hook.get_hookimpls():
            plugin_name = impl.plugin_name
            try:
                result = impl.function()
            except Exception as exc:
                raise PluginError(
                    f"plugin {plugin_name!r}: register_{kind} raised {exc!r}"
                ) from exc
            for cls in result or ():
                if not (isinstance(cls, type) and issubclass(cls, base)):
                    raise PluginError(
                        f"plugin {plugin_name!r}: register_{kind} returned {cls!r}, "
                        f"not a subclass of {base.__name__}"
                    )
                comp_name = getattr(cls, "name", None)
                if not isinstance(comp_name, str) or not comp_name:
                    raise PluginError(f"plugin {plugin_name!r}: {cls.__name__} has no name")
                previous = owners.get((kind, comp_name))
                if previous is not None:
                    raise PluginError(
                        f"{kind}.{comp_name} is provided twice: by plugin {previous!r} "
                        f"and by plugin {plugin_name!r}"
                    )
                owners[(kind, comp_name)] = plugin_name
                registry.classes[kind][comp_name] = cls
                infos[plugin_name].components.append(f"{kind}.{comp_name}")
    return pm, registry
