"""``config.toml`` -> validated settings and component specs.

Every error is a :class:`~costpipe.errors.ConfigError` whose ``path`` names
the TOML location (``providers.openai[0].bucket_width``); a misspelled key or
plugin name gets a "did you mean" hint. ``${VAR}`` in any string is replaced
from the environment (``$${`` writes a literal ``${``); an unset variable is an
error naming the variable and the place that uses it.

The section models live in :mod:`costpipe.config.sections` and
:mod:`costpipe.pricing.config`; they are re-exported here, where callers
have always found them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from costpipe.components import KINDS, Component, ComponentConfig, ComponentRegistry
from costpipe.config.operations import MaintenanceConfig, ReportConfig, parse_operations
from costpipe.config.sections import (
    AlertSettings,
    AnomalyConfig,
    BudgetConfig,
    DashboardSettings,
    HealthSettings,
    PipelineSettings,
)
from costpipe.config.validation import did_you_mean, substitute_env, validate_table
from costpipe.errors import ConfigError
from costpipe.pricing.config import PriceConfig

__all__ = [
    "DEFAULT_CONFIG",
    "AlertSettings",
    "AnomalyConfig",
    "BudgetConfig",
    "ComponentSpec",
    "DashboardSettings",
    "HealthSettings",
    "PipelineSettings",
    "PriceConfig",
    "Settings",
    "config_path",
    "load_config",
    "parse_config",
]

DEFAULT_CONFIG = "config.toml"


@dataclass(slots=True)
class ComponentSpec:
    """One configured component instance, validated but not yet created."""

    kind: str
    name: str
    instance: str
    path: str
    cls: type[Component[Any]]
    config: ComponentConfig
    env_vars: dict[str, str] = field(default_factory=dict)
    """Secret field -> the environment variable it was read from."""


@dataclass(slots=True)
class Settings:
    """Everything `costpipe` needs to run, validated."""

    pipeline: PipelineSettings
    components: dict[str, list[ComponentSpec]]
    budgets: list[BudgetConfig]
    alerts: AlertSettings
    health: HealthSettings
    dashboard: DashboardSettings
    prices: list[PriceConfig] = field(default_factory=list)
    source: Path | None = None
    anomalies: list[AnomalyConfig] = field(default_factory=list)
    maintenance: list[MaintenanceConfig] = field(default_factory=list)
    reports: list[ReportConfig] = field(default_factory=list)

    @property
    def providers(self) -> list[ComponentSpec]:
        return self.components.get("providers", [])

    @property
    def sinks(self) -> list[ComponentSpec]:
        return self.components.get("sinks", [])

    @property
    def enrichers(self) -> list[ComponentSpec]:
        return self.components.get("enrichers", [])

    @property
    def notifiers(self) -> list[ComponentSpec]:
        return self.components.get("notifiers", [])


def config_path(cli_value: str | None, env: Mapping[str, str] | None = None) -> Path:
    """``--config``, else ``$COSTPIPE_CONFIG``, else ``./config.toml``."""
    env = os.environ if env is None else env
    return Path(cli_value or env.get("COSTPIPE_CONFIG") or DEFAULT_CONFIG)


def _components(
    kind: str, tables: Any, registry: ComponentRegistry, env_used: dict[str, str]
) -> list[ComponentSpec]:
    if not isinstance(tables, dict):
        raise ConfigError(kind, f"expected tables like [[{kind}.<name>]]")
    specs: list[ComponentSpec] = []
    seen: dict[str, str] = {}
    for name, entries in tables.items():
        cls = registry.get(kind, name)
        if cls is None:
            known = ", ".join(registry.names(kind)) or "none"
            hint = did_you_mean(str(name), registry.names(kind))
            raise ConfigError(
                f"{kind}.{name}",
                f"no {kind[:-1]} plugin is named {name!r} (installed: {known}){hint}",
            )
        if isinstance(entries, dict):
            raise ConfigError(f"{kind}.{name}", f"write [[{kind}.{name}]] (an array of tables)")
        if not isinstance(entries, list):
            raise ConfigError(f"{kind}.{name}", "expected an array of tables")
        for index, entry in enumerate(entries):
            path = f"{kind}.{name}[{index}]"
            config = validate_table(cls.config_model, entry, path)
            instance = f"{name}.{config.name or index}"
            if instance in seen:
                raise ConfigError(
                    f"{path}.name", f"{instance!r} is already used by {seen[instance]}"
                )
            seen[instance] = path
            env_vars = {
                key.removeprefix(path + "."): var
                for key, var in env_used.items()
                if key.startswith(path + ".")
            }
            for secret in cls.secret_fields:
                raw = getattr(config, secret, None)
                text = raw.get_secret_value() if isinstance(raw, SecretStr) else raw
                if raw is None or (isinstance(text, str) and not text.strip()):
                    hint = f" (from {env_vars[secret]})" if secret in env_vars else ""
                    raise ConfigError(f"{path}.{secret}", f"credential is empty{hint}")
            specs.append(ComponentSpec(kind, name, instance, path, cls, config, env_vars))
    return specs


_TOP_LEVEL = {"pipeline", "budgets", "anomalies", "alerts", "health", "dashboard", "prices", *KINDS}
_TOP_LEVEL |= {"maintenance", "reports"}


def parse_config(
    data: Mapping[str, Any],
    registry: ComponentRegistry,
    env: Mapping[str, str] | None = None,
    source: Path | None = None,
) -> Settings:
    """Validate an already-parsed TOML document."""
    env = os.environ if env is None else env
    for key in data:
        if key not in _TOP_LEVEL:
            raise ConfigError(str(key), "unknown key" + did_you_mean(str(key), _TOP_LEVEL))
    env_used: dict[str, str] = {}
    resolved = substitute_env(dict(data), "", env, env_used)
    pipeline = validate_table(PipelineSettings, resolved.get("pipeline", {}), "pipeline")
    components = {
        kind: _components(kind, resolved.get(kind, {}), registry, env_used) for kind in KINDS
    }
    budgets_raw = resolved.get("budgets", [])
    if not isinstance(budgets_raw, list):
        raise ConfigError("budgets", "write [[budgets]] (an array of tables)")
    budgets = [validate_table(BudgetConfig, b, f"budgets[{i}]") for i, b in enumerate(budgets_raw)]
    alerts = validate_table(AlertSettings, resolved.get("alerts", {}), "alerts")
    health = validate_table(HealthSettings, resolved.get("health", {}), "health")
    dashboard = validate_table(DashboardSettings, resolved.get("dashboard", {}), "dashboard")

    notifier_names = {spec.instance for spec in components["notifiers"]}
    notifier_names |= {spec.instance.split(".", 1)[1] for spec in components["notifiers"]}
    names: set[str] = set()
    for index, budget in enumerate(budgets):
        if budget.name in names:
            raise ConfigError(f"budgets[{index}].name", f"{budget.name!r} is used twice")
        names.add(budget.name)
        for target in budget.notify:
            if target not in notifier_names:
                hint = did_you_mean(target, notifier_names)
                raise ConfigError(
                    f"budgets[{index}].notify", f"no notifier instance is named {target!r}{hint}"
                )
    anomalies = _anomalies(resolved.get("anomalies", []), notifier_names)
    for key in ("unpriced_notify", "stale_notify"):
        for target in getattr(alerts, key):
            if target not in notifier_names:
                raise ConfigError(f"alerts.{key}", f"no notifier instance is named {target!r}")
    sink_names = {s.instance for s in components["sinks"]}
    if dashboard.store is not None and dashboard.store not in sink_names:
        raise ConfigError("dashboard.store", f"no sink instance is named {dashboard.store!r}")
    prices_raw = resolved.get("prices", [])
    if not isinstance(prices_raw, list):
        raise ConfigError("prices", "write [[prices]] (an array of tables)")
    prices = [validate_table(PriceConfig, p, f"prices[{i}]") for i, p in enumerate(prices_raw)]
    maintenance, reports = parse_operations(resolved, notifier_names)
    return Settings(
        pipeline,
        components,
        budgets,
        alerts,
        health,
        dashboard,
        prices,
        source,
        anomalies,
        maintenance,
        reports,
    )


def _anomalies(raw: Any, notifier_names: set[str]) -> list[AnomalyConfig]:
    if not isinstance(raw, list):
        raise ConfigError("anomalies", "write [[anomalies]] (an array of tables)")
    rules = [validate_table(AnomalyConfig, r, f"anomalies[{i}]") for i, r in enumerate(raw)]
    names: set[str] = set()
    for index, rule in enumerate(rules):
        if rule.name in names:
            raise ConfigError(f"anomalies[{index}].name", f"{rule.name!r} is used twice")
        names.add(rule.name)
        for target in rule.notify:
            if target not in notifier_names:
                hint = did_you_mean(target, notifier_names)
                raise ConfigError(
                    f"anomalies[{index}].notify", f"no notifier instance is named {target!r}{hint}"
                )
    return rules


def load_config(
    path: Path, registry: ComponentRegistry, env: Mapping[str, str] | None = None
) -> Settings:
    """Read and validate *path*. Relative paths in ``[pipeline]`` stay relative
    to the working directory, as in Telegraf."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("", f"config file {path} not found") from None
    except OSError as exc:
        raise ConfigError("", f"config file {path} cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("", f"{path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{path} is not valid TOML: {exc}") from None
    except RecursionError:
        # tomllib recurses per nesting level: a hostile file must not crash the CLI.
        raise ConfigError("", f"{path} is not valid TOML: nested too deeply") from None
    return parse_config(data, registry, env, source=path)
