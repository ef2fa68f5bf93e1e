"""``config.toml`` -> validated settings and component specs.

Every error is a :class:`~costpipe.errors.ConfigError` whose ``path`` names
the TOML location (``providers.openai[0].bucket_width``). ``${VAR}`` in any
string is replaced from the environment (``$${`` writes a literal ``${``); an
unset variable is an error naming the variable and the place that uses it.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from costpipe.components import Component, ComponentConfig
from costpipe.config.durations import Duration
from costpipe.errors import ConfigError
from costpipe.plugins import KINDS, ComponentRegistry

__all__ = [
    "DEFAULT_CONFIG",
    "AlertSettings",
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
_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PipelineSettings(_Strict):
    """``[pipeline]``: schedule, windows, state and limits."""

    interval: Duration = Field(
        default=timedelta(minutes=15), description="Schedule of `costpipe run`."
    )
    lookback: Duration = Field(
        default=timedelta(hours=48),
        description="Trailing window re-fetched on every pass (late and revised billing data).",
    )
    timezone: str = Field(
        default="UTC", description="IANA zone for calendar days, weeks and months."
    )
    state_dir: Path = Field(
        default=Path(".costpipe"), description="Checkpoints, alert state and spool."
    )
    plugin_dirs: list[Path] = Field(
        default_factory=list, description="Folders whose *.py files are loaded as plugins."
    )
    max_concurrent_requests: int = Field(
        default=8, ge=1, le=256, description="HTTP requests in flight across all providers."
    )
    chunk: Duration = Field(
        default=timedelta(days=7),
        description="Backfills are fetched and checkpointed in pieces of this length.",
    )
    spool_max_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=1024,
        description="Upper bound of the on-disk spool used while a store is down.",
    )
    shutdown_timeout: Duration = Field(
        default=timedelta(seconds=8),
        description="How long a graceful stop may take before in-flight work is abandoned.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}") from None
        return value


class BudgetConfig(_Strict):
    """``[[budgets]]``: one spending rule."""

    name: str = Field(description="Unique rule name, shown in alerts.")
    amount_usd: Decimal = Field(gt=0, description="Budget per period, in USD (exact decimal).")
    period: Literal["day", "week", "month"] = Field(
        default="month", description="Calendar period in `pipeline.timezone`."
    )
    week_start: Literal[
        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"
    ] = Field(default="monday", description="First day of a `week` period.")
    filters: dict[str, list[str]] = Field(
        default_factory=dict, description="Dimension -> allowed values (AND across keys)."
    )
    group_by: str | None = Field(
        default=None, description="One alert state per value of this dimension."
    )
    thresholds: list[int] = Field(
        default_factory=lambda: [80, 100], description="Percentages of the budget that notify."
    )
    cost_basis: Literal["billed", "estimated"] = Field(
        default="billed", description="Provider-billed money or usage-based estimates."
    )
    forecast: bool = Field(
        default=False, description="Also alert when the period-end projection crosses 100 %."
    )
    notify: list[str] = Field(default_factory=list, description="Notifier instance names.")
    repeat_interval: Duration | None = Field(
        default=None, description="Re-notify while still over a threshold."
    )
    send_resolved: bool = Field(
        default=True, description="Notify when spend falls back under a threshold."
    )
    send_reset: bool = Field(default=False, description="Notify when a new period starts.")

    @field_validator("thresholds")
    @classmethod
    def _positive_thresholds(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("at least one threshold is needed")
        if any(t <= 0 for t in value):
            raise ValueError("thresholds are positive percentages")
        return sorted(set(value))


class PriceConfig(_Strict):
    """``[[prices]]``: add or override a model's price (USD per million tokens)."""

    provider: str = Field(description="Provider kind, e.g. `openai`, `anthropic`.")
    model: str = Field(description="Model name as the provider reports it (dated snapshot).")
    input: Decimal = Field(ge=0, description="Uncached input, USD per million tokens.")
    output: Decimal = Field(ge=0, description="Output, USD per million tokens.")
    cached_input: Decimal | None = Field(
        default=None, ge=0, description="Cache reads; defaults to the input price."
    )
    cache_write: Decimal | None = Field(
        default=None, ge=0, description="Cache writes (5 minutes); defaults to the input price."
    )
    cache_write_1h: Decimal | None = Field(
        default=None, ge=0, description="1-hour cache writes; defaults to `cache_write`."
    )
    effective_from: date | None = Field(
        default=None, description="First UTC day this price applies (default: always)."
    )


class AlertSettings(_Strict):
    """``[alerts]``: alerts that are not budgets."""

    unpriced_notify: list[str] = Field(
        default_factory=list, description="Notifiers told when a model without a price is used."
    )
    stale_after: Duration | None = Field(
        default=None, description="Alert when a provider has had no successful pass this long."
    )
    stale_notify: list[str] = Field(
        default_factory=list, description="Notifiers for stale sources."
    )
    max_attempts: int = Field(default=5, ge=1, description="Delivery attempts per pass.")


class HealthSettings(_Strict):
    """``[health]``: the /healthz and /metrics endpoint of `costpipe run`."""

    enabled: bool = Field(default=True, description="Serve /healthz and /metrics.")
    address: str = Field(default="127.0.0.1", description="Bind address (loopback by default).")
    port: int = Field(default=9464, ge=0, le=65535, description="TCP port; 0 picks a free one.")


class DashboardSettings(_Strict):
    """``[dashboard]``: the Panel web app."""

    url: str | None = Field(default=None, description="Public URL, linked from alerts.")
    address: str = Field(default="127.0.0.1", description="Bind address.")
    port: int = Field(default=5006, ge=0, le=65535, description="TCP port.")
    basic_auth: SecretStr | None = Field(
        default=None, description='"user:password" required to open the dashboard.'
    )
    store: str | None = Field(
        default=None, description="Sink instance to read from (default: the first readable)."
    )


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


def _loc_to_path(prefix: str, loc: tuple[int | str, ...]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def _raise_validation(prefix: str, exc: ValidationError) -> None:
    first = exc.errors()[0]
    loc = tuple(first["loc"])
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    message = message.removeprefix("Value error, ")
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    raise ConfigError(_loc_to_path(prefix, loc), message)


def _substitute(value: Any, path: str, env: Mapping[str, str], used: dict[str, str]) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            var = match.group(1)
            if var is None:
                return "${"
            if var not in env:
                raise ConfigError(path, f"environment variable {var} is not set")
            used[path] = var
            return env[var]

        return _ENV_REF.sub(replace, value)
    if isinstance(value, dict):
        return {
            k: _substitute(v, f"{path}.{k}" if path else k, env, used) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_substitute(v, f"{path}[{i}]", env, used) for i, v in enumerate(value)]
    return value


def _validate(model: type[BaseModel], data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a table, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        _raise_validation(path, exc)
        raise  # unreachable: _raise_validation always raises


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
            raise ConfigError(
                f"{kind}.{name}", f"no {kind[:-1]} plugin is named {name!r} (installed: {known})"
            )
        if isinstance(entries, dict):
            raise ConfigError(f"{kind}.{name}", f"write [[{kind}.{name}]] (an array of tables)")
        if not isinstance(entries, list):
            raise ConfigError(f"{kind}.{name}", "expected an array of tables")
        for index, entry in enumerate(entries):
            path = f"{kind}.{name}[{index}]"
            config = _validate(cls.config_model, entry, path)
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


_TOP_LEVEL = {"pipeline", "budgets", "alerts", "health", "dashboard", "prices", *KINDS}


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
            raise ConfigError(str(key), "unknown key")
    env_used: dict[str, str] = {}
    resolved = _substitute(dict(data), "", env, env_used)
    pipeline = _validate(PipelineSettings, resolved.get("pipeline", {}), "pipeline")
    components = {
        kind: _components(kind, resolved.get(kind, {}), registry, env_used) for kind in KINDS
    }
    budgets_raw = resolved.get("budgets", [])
    if not isinstance(budgets_raw, list):
        raise ConfigError("budgets", "write [[budgets]] (an array of tables)")
    budgets = [_validate(BudgetConfig, b, f"budgets[{i}]") for i, b in enumerate(budgets_raw)]
    alerts = _validate(AlertSettings, resolved.get("alerts", {}), "alerts")
    health = _validate(HealthSettings, resolved.get("health", {}), "health")
    dashboard = _validate(DashboardSettings, resolved.get("dashboard", {}), "dashboard")

    notifier_names = {spec.instance for spec in components["notifiers"]}
    notifier_names |= {spec.instance.split(".", 1)[1] for spec in components["notifiers"]}
    names: set[str] = set()
    for index, budget in enumerate(budgets):
        if budget.name in names:
            raise ConfigError(f"budgets[{index}].name", f"{budget.name!r} is used twice")
        names.add(budget.name)
        for target in budget.notify:
            if target not in notifier_names:
                raise ConfigError(
                    f"budgets[{index}].notify",
                    f"no notifier instance is named {target!r}",
                )
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
    prices = [_validate(PriceConfig, p, f"prices[{i}]") for i, p in enumerate(prices_raw)]
    return Settings(pipeline, components, budgets, alerts, health, dashboard, prices, source)


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
