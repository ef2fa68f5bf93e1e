"""SIGHUP: read the configuration again and carry on with it, or with the old one.

The new file is validated completely (plugins, TOML, every key, every
``${VAR}``) and its components are created and started before anything of the
running configuration is closed. If any step fails, the error is logged with
the reason and the daemon keeps running on the configuration it had. Two
settings cannot change without a restart, and a reload that changes them is
refused: ``pipeline.state_dir`` (the spools, checkpoints and alert state live
there) and ``[health]`` (the listening socket).
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy
import structlog

from costpipe.config.settings import Settings
from costpipe.engine.metrics import DaemonMetrics
from costpipe.engine.passes import PassRunner
from costpipe.errors import ConfigError, CostpipeError

__all__ = ["ConfigReloader"]

log = structlog.get_logger("costpipe")

_KEPT = "still running on the previous configuration"


def _restart_needed(old: Settings, new: Settings) -> str | None:
    if old.pipeline.state_dir != new.pipeline.state_dir:
        return "pipeline.state_dir changed"
    if old.health != new.health:
        return "[health] changed"
    return None


class ConfigReloader:
    """A :data:`costpipe.engine.daemon.Reload` function.

    *load* reads and validates the configuration file (raising
    :class:`~costpipe.errors.ConfigError` or :class:`~costpipe.errors.PluginError`);
    *open_runner* builds the runner of a validated configuration (no IO).
    """

    def __init__(
        self,
        load: Callable[[], tuple[pluggy.PluginManager, Settings]],
        open_runner: Callable[[pluggy.PluginManager, Settings], PassRunner],
        metrics: DaemonMetrics,
    ) -> None:
        self.load = load
        self.open_runner = open_runner
        self.metrics = metrics

    async def __call__(self, current: PassRunner) -> PassRunner | None:
        try:
            pm, settings = self.load()
            problem = _restart_needed(current.settings, settings)
            if problem is not None:
                raise ConfigError("", f"{problem}: restart costpipe to apply it")
            runner = self.open_runner(pm, settings)
        except CostpipeError as exc:
            self._refuse(str(exc))
            return None
        except Exception as exc:  # a plugin's constructor: the old config keeps running
            self._refuse(f"unexpected error: {exc!r}")
            return None
        try:
            await runner.__aenter__()
        except Exception as exc:  # the runner closed what it had started
            self._refuse(f"a component failed to start: {exc}")
            return None
        await current.close()
        self.metrics.config_reloads.labels("ok").inc()
        log.info(
            "config_reloaded",
            config=str(settings.source),
            providers=[p.instance for p in runner.providers],
            sinks=[s.instance for s in runner.runtime.sinks],
            budgets=len(settings.budgets),
        )
        return runner

    def _refuse(self, reason: str) -> None:
        self.metrics.config_reloads.labels("failed").inc()
        log.error("config_reload_failed", error=reason, action=_KEPT)
