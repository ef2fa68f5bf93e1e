"""The ``costpipe`` command.

Exit codes (the table in ``docs/cli.md``): 2 for a user mistake (a bad
config, a missing credential, an unknown plugin, a bad option), with one clear
line and never a traceback; 1 when the command ran and something failed: a
provider's pass, a point a store refused (``backfill``, ``run --once``), a
notification not delivered (``run --once``), a dead letter not accepted
(``deadletter replay``), a connection (``check --connect``), a test message
(``alerts test``); 0 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

import pluggy
import structlog

from costpipe import (
    __version__,
    cli_alerts,
    cli_deadletter,
    cli_export,
    cli_reconcile,
    cli_reprice,
    demo,
)
from costpipe.config.settings import Settings, config_path, load_config
from costpipe.dashboard import cli as dashboard_cli
from costpipe.engine.progress import ProgressPrinter
from costpipe.errors import ConfigError, CostpipeError, PluginError
from costpipe.files import private_dir
from costpipe.logging import configure_logging
from costpipe.plugins import ComponentRegistry, build_plugin_manager
from costpipe.simulator import cli as simulator_cli

__all__ = ["build_parser", "main"]

EXIT_USAGE = 2

log = structlog.get_logger("costpipe")


def _parse_moment(text: str) -> datetime:
    """A date (``2026-11-01``, UTC midnight) or an ISO-8601 timestamp with offset."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date like 2026-11-01 or a timestamp like 2026-11-01T06:00:00Z, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"timestamp {text!r} needs an offset, e.g. Z or +01:00")
    return moment.astimezone(UTC)


def _common_options(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    """``--config``, ``--log-level`` and ``--log-format``, accepted before the
    sub-command and after it (``costpipe run --config x.toml``). On a
    sub-command they default to "not given", so they never undo the same
    option given before the sub-command."""

    def default(value: str | None) -> str | None:
        return value if top_level else argparse.SUPPRESS

    parser.add_argument(
        "--config",
        default=default(None),
        help="config file (default: $COSTPIPE_CONFIG, else ./config.toml)",
    )
    parser.add_argument(
        "--log-level", default=default("info"), choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--log-format",
        choices=["auto", "json", "console"],
        default=default("auto"),
        help="auto: console on a terminal, JSON lines otherwise",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="costpipe",
        description="Track AI spend by model, user and project; alert before budgets break.",
    )
    parser.add_argument("--version", action="version", version=f"costpipe {__version__}")
    _common_options(parser, top_level=True)
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, top_level=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, parents=[common])

    run = command("run", "run the daemon (pull, store, alert on a schedule)")
    run.add_argument(
        "--once",
        action="store_true",
        help="do one pass and exit (1 if a provider failed, a store refused points"
        " or a notification was not delivered)",
    )

    backfill = command("backfill", "fetch a past date range")
    backfill.add_argument(
        "--since", required=True, type=_parse_moment, help="start (date or timestamp)"
    )
    backfill.add_argument("--until", type=_parse_moment, help="end, exclusive (default: now)")
    backfill.add_argument(
        "--provider", action="append", help="only this provider instance (repeatable)"
    )

    check = command("check", "validate the config and credentials")
    check.add_argument(
        "--connect", action="store_true", help="also contact every provider, store and notifier"
    )

    command("plugins", "list plugins and the components they provide")

    deadletter = command("deadletter", "list or re-send the points a store refused")
    cli_deadletter.add_arguments(deadletter)

    export = command("export", "write stored costs as FOCUS, CSV, JSON lines or Parquet")
    cli_export.add_arguments(export, _parse_moment)

    reprice = command("reprice", "re-estimate stored usage with the current prices")
    cli_reprice.add_arguments(reprice, _parse_moment)

    reconcile = command("reconcile", "billed against estimated money per provider and day")
    cli_reconcile.add_arguments(reconcile, _parse_moment)

    alerts = command("alerts", "list, silence and test alerts")
    cli_alerts.add_arguments(alerts)

    # These modules import only argparse-level code; Panel and the simulator's
    # server load when the command runs.
    simulate = command("simulate", "serve fake OpenAI/Anthropic billing APIs")
    simulator_cli.add_arguments(simulate)
    dashboard = command("dashboard", "serve the web dashboard")
    dashboard_cli.add_arguments(dashboard)
    demo_command = command("demo", "simulator + daemon + dashboard in one command")
    demo.add_arguments(demo_command)
    return parser


@dataclass(frozen=True, slots=True)
class Loaded:
    """A validated configuration with the plugins that define its tables."""

    path: Path
    pm: pluggy.PluginManager
    registry: ComponentRegistry
    settings: Settings


def _load(args: argparse.Namespace) -> Loaded:
    """Plugins first (they define the config tables), then the config, whose
    ``pipeline.plugin_dirs`` may add plugins: read it raw for that."""
    path = config_path(args.config)
    plugin_dirs = _plugin_dirs(path)
    pm, registry = build_plugin_manager(plugin_dirs)
    settings = load_config(path, registry)
    from costpipe.engine.runtime import register_config_secrets

    register_config_secrets(settings)
    return Loaded(path, pm, registry, settings)


def _plugin_dirs(path: Path) -> list[Path]:
    import tomllib

    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return []  # load_config reports the real problem with its path
    dirs = raw.get("pipeline", {}).get("plugin_dirs", []) if isinstance(raw, dict) else []
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise ConfigError("pipeline.plugin_dirs", "expected a list of folder paths")
    return [Path(d) for d in dirs]


def cmd_plugins(args: argparse.Namespace, out: TextIO) -> int:
    path = config_path(args.config)
    plugin_dirs = _plugin_dirs(path) if path.exists() else []
    _pm, registry = build_plugin_manager(plugin_dirs)
    rows = [("PLUGIN", "VERSION", "SOURCE", "COMPONENTS")]
    for info in sorted(registry.plugins, key=lambda i: (i.source != "builtin", i.name)):
        rows.append((info.name, info.version, info.source, ", ".join(info.components) or "-"))
    _table(rows, out)
    return 0


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n")


async def _check_connections(settings: Settings, out: TextIO) -> int:
    from costpipe.engine.runtime import Runtime

    runtime = Runtime.create(settings)
    rows = [("COMPONENT", "STATUS", "DETAIL")]
    failures = 0
    for comp in runtime.components():
        try:
            private_dir(comp.context.state_dir)
            await comp.start()
            try:
                detail = await comp.check_connection()
                rows.append((comp.instance, "ok", detail))
            finally:
                await comp.close()
        except CostpipeError as exc:
            failures += 1
            rows.append((comp.instance, "FAILED", str(exc)))
        except Exception as exc:
            failures += 1
            rows.append((comp.instance, "FAILED", f"unexpected error: {exc!r}"))
    _table(rows, out)
    return 1 if failures else 0


def cmd_check(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    out.write(f"config {settings.source}: ok\n")
    for kind, specs in settings.components.items():
        for spec in specs:
            out.write(f"  {kind[:-1]:<9} {spec.instance}\n")
    out.write(f"  budgets   {len(settings.budgets)}\n")
    if not args.connect:
        return 0
    return asyncio.run(_check_connections(settings, out))


async def _run(args: argparse.Namespace, loaded: Loaded) -> int:
    from costpipe.engine.daemon import Daemon
    from costpipe.engine.health import HealthServer
    from costpipe.engine.metrics import DaemonMetrics
    from costpipe.engine.passes import PassRunner
    from costpipe.engine.reload import ConfigReloader
    from costpipe.engine.startup import log_startup
    from costpipe.engine.wiring import alert_engine_for

    metrics = DaemonMetrics()

    def open_runner(pm: pluggy.PluginManager, settings: Settings) -> PassRunner:
        return PassRunner(settings, pm, alerts=alert_engine_for, metrics=metrics, serving=True)

    def reload_config() -> tuple[pluggy.PluginManager, Settings]:
        again = _load(args)
        return again.pm, again.settings

    settings = loaded.settings
    runner = open_runner(loaded.pm, settings)
    log_startup("run", loaded.path, loaded.registry, runner.runtime)
    reloader = None if args.once else ConfigReloader(reload_config, open_runner, metrics)
    daemon = Daemon(runner, reload=reloader)
    daemon.install_signal_handlers()
    metrics.watch(lambda: daemon.runner)
    health: HealthServer | None = None
    await runner.__aenter__()
    try:
        if settings.health.enabled and not args.once:
            health = HealthServer(
                settings.health.address,
                settings.health.port,
                source=lambda: daemon.runner,
                metrics=metrics,
            )
            try:
                await health.start()
            except OSError as exc:
                health = None
                raise ConfigError(
                    "health",
                    f"cannot listen on {settings.health.address}:{settings.health.port}: "
                    f"{exc.strerror or exc}",
                ) from None
        return await daemon.run(once=args.once)
    finally:
        if health is not None:
            await health.stop()
        await daemon.runner.close()


async def _backfill(args: argparse.Namespace, loaded: Loaded, out: TextIO) -> int:
    from costpipe.engine.daemon import Daemon
    from costpipe.engine.passes import PassRunner
    from costpipe.engine.startup import log_startup

    until = args.until or datetime.now(UTC)
    if until <= args.since:
        raise ConfigError("--until", "must be later than --since")
    only = set(args.provider) if args.provider else None
    printer = ProgressPrinter(out)
    runner = PassRunner(loaded.settings, loaded.pm, only_providers=only, progress=printer.update)
    if not runner.runtime.providers:
        raise ConfigError("--provider", f"no configured provider matches {sorted(only or [])}")
    log_startup("backfill", loaded.path, loaded.registry, runner.runtime)
    Daemon(runner).install_signal_handlers()  # SIGTERM, SIGINT and SIGHUP stop gracefully
    async with runner:
        results = await runner.backfill(args.since, until)
    printer.finish()
    for result in results:
        out.write(
            f"{result.instance}: {result.outcome.value}, {result.records} records"
            + (f" ({result.error})" if result.error else "")
            + "\n"
        )
    refused = runner.report_dead_letters()
    for line in refused:
        out.write(line + "\n")
    return 0 if all(r.healthy for r in results) and not refused else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    fmt = args.log_format
    configure_logging(args.log_level, json=None if fmt == "auto" else fmt == "json")
    out = sys.stdout
    try:
        if args.command == "plugins":
            return cmd_plugins(args, out)
        if args.command == "simulate":
            asyncio.run(simulator_cli.run_from_args(args))
            return 0
        if args.command == "demo":
            return demo.run_from_args(args)
        loaded = _load(args)
        if args.command == "check":
            return cmd_check(args, loaded.settings, out)
        if args.command == "run":
            return asyncio.run(_run(args, loaded))
        if args.command == "backfill":
            return asyncio.run(_backfill(args, loaded, out))
        if args.command == "dashboard":
            return dashboard_cli.run_from_args(args, loaded.settings)
        if args.command == "alerts":
            return cli_alerts.run(args, loaded.settings, out)
        if args.command == "reprice":
            return cli_reprice.run(args, loaded.settings, out)
        if args.command == "reconcile":
            return cli_reconcile.run(args, loaded.settings, out, sys.stderr)
        if args.command == "export":
            return cli_export.run_export(args, loaded.settings)
        if args.command == "deadletter":
            if args.action == "list":
                return cli_deadletter.list_dead_letters(loaded.settings, out)
            return asyncio.run(cli_deadletter.replay_dead_letters(loaded.settings, args.sink, out))
    except (ConfigError, PluginError) as exc:
        sys.stderr.write(f"costpipe: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 0
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE  # pragma: no cover - parser.error exits
