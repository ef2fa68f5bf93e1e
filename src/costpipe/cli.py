"""The ``costpipe`` command.

User mistakes (a bad config, a missing credential, an unknown plugin) print
one clear line and exit 2, never a traceback. ``run --once`` and
``backfill`` exit 1 when a provider failed, 0 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

import structlog

from costpipe import __version__, demo
from costpipe.config.settings import Settings, config_path, load_config
from costpipe.dashboard import cli as dashboard_cli
from costpipe.engine.progress import ProgressPrinter
from costpipe.errors import ConfigError, CostpipeError, PluginError
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="costpipe",
        description="Track AI spend by model, user and project; alert before budgets break.",
    )
    parser.add_argument("--version", action="version", version=f"costpipe {__version__}")
    parser.add_argument(
        "--config",
        help="config file (default: $COSTPIPE_CONFIG, else ./config.toml)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument(
        "--log-format",
        choices=["auto", "json", "console"],
        default="auto",
        help="auto: console on a terminal, JSON lines otherwise",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the daemon (pull, store, alert on a schedule)")
    run.add_argument(
        "--once", action="store_true", help="do one pass and exit (1 if a provider failed)"
    )

    backfill = commands.add_parser("backfill", help="fetch a past date range")
    backfill.add_argument(
        "--since", required=True, type=_parse_moment, help="start (date or timestamp)"
    )
    backfill.add_argument("--until", type=_parse_moment, help="end, exclusive (default: now)")
    backfill.add_argument(
        "--provider", action="append", help="only this provider instance (repeatable)"
    )

    check = commands.add_parser("check", help="validate the config and credentials")
    check.add_argument(
        "--connect", action="store_true", help="also contact every provider, store and notifier"
    )

    commands.add_parser("plugins", help="list plugins and the components they provide")

    # These modules import only argparse-level code; Panel and the simulator's
    # server load when the command runs.
    simulate = commands.add_parser("simulate", help="serve fake OpenAI/Anthropic billing APIs")
    simulator_cli.add_arguments(simulate)
    dashboard = commands.add_parser("dashboard", help="serve the web dashboard")
    dashboard_cli.add_arguments(dashboard)
    demo_command = commands.add_parser("demo", help="simulator + daemon + dashboard in one command")
    demo.add_arguments(demo_command)
    return parser


def _load(args: argparse.Namespace) -> tuple[Any, ComponentRegistry, Settings]:
    """Plugins first (they define the config tables), then the config, whose
    ``pipeline.plugin_dirs`` may add plugins: read it raw for that."""
    path = config_path(args.config)
    plugin_dirs = _plugin_dirs(path)
    pm, registry = build_plugin_manager(plugin_dirs)
    settings = load_config(path, registry)
    from costpipe.engine.runtime import register_config_secrets

    register_config_secrets(settings)
    return pm, registry, settings


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
            comp.context.state_dir.mkdir(parents=True, exist_ok=True)
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


async def _run(args: argparse.Namespace, pm: Any, settings: Settings) -> int:
    from costpipe.engine.daemon import Daemon
    from costpipe.engine.health import HealthServer

    daemon = Daemon(settings, pm)
    daemon.install_signal_handlers()
    async with daemon:
        if settings.health.enabled and not args.once:
            daemon.health = HealthServer(daemon, settings.health.address, settings.health.port)
            await daemon.health.start()
        return await daemon.run_forever(once=args.once)


async def _backfill(args: argparse.Namespace, pm: Any, settings: Settings, out: TextIO) -> int:
    from costpipe.engine.daemon import Daemon

    until = args.until or datetime.now(UTC)
    if until <= args.since:
        raise ConfigError("--until", "must be later than --since")
    only = set(args.provider) if args.provider else None
    printer = ProgressPrinter(out)
    daemon = Daemon(settings, pm, only_providers=only, progress=printer.update)
    if not daemon.runtime.providers:
        raise ConfigError("--provider", f"no configured provider matches {sorted(only or [])}")
    daemon.install_signal_handlers()
    async with daemon:
        results = await daemon.backfill(args.since, until)
    printer.finish()
    for result in results:
        out.write(
            f"{result.instance}: {result.outcome.value}, {result.records} records"
            + (f" ({result.error})" if result.error else "")
            + "\n"
        )
    return 0 if all(r.healthy for r in results) else 1


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
        pm, _registry, settings = _load(args)
        if args.command == "check":
            return cmd_check(args, settings, out)
        if args.command == "run":
            return asyncio.run(_run(args, pm, settings))
        if args.command == "backfill":
            return asyncio.run(_backfill(args, pm, settings, out))
        if args.command == "dashboard":
            return dashboard_cli.run_from_args(args, settings)
    except (ConfigError, PluginError) as exc:
        sys.stderr.write(f"costpipe: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 0
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE  # pragma: no cover - parser.error exits
