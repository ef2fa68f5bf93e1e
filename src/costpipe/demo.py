"""``costpipe demo``: the whole product on one machine, with nothing to set up.

One event loop runs the billing-API simulator, the daemon (a backfill of a
few days, then a pass every minute) writing into an embedded SQLite store (or
InfluxDB with ``--influx URL``), budgets tight enough to fire, and the
dashboard. Ctrl-C stops everything and exits 0. No root, no database server.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog

from costpipe.config.settings import Settings, parse_config
from costpipe.engine.progress import ProgressPrinter
from costpipe.engine.runtime import register_config_secrets
from costpipe.plugins import build_plugin_manager

__all__ = ["add_arguments", "demo_config", "run_from_args"]

log = structlog.get_logger("costpipe")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=5006, help="dashboard port (0: any free port)")
    parser.add_argument("--address", default="127.0.0.1", help="dashboard bind address")
    parser.add_argument("--days", type=int, default=7, help="days to backfill (default 7)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".costpipe-demo"),
        help="where the demo keeps its store and state (default .costpipe-demo)",
    )
    parser.add_argument(
        "--influx", metavar="URL", help="write to this InfluxDB (1.x API) instead of SQLite"
    )
    parser.add_argument("--seed", type=int, default=1, help="simulator seed")
    parser.add_argument("--interval", default="1m", help="daemon schedule (default 1m)")
    parser.add_argument(
        "--no-dashboard", action="store_true", help="run without serving the dashboard"
    )


def demo_config(
    base_url: str,
    openai_key: str,
    anthropic_key: str,
    state_dir: Path,
    *,
    influx: str | None = None,
    interval: str = "1m",
    monthly_budget: Decimal = Decimal(500),
) -> dict[str, Any]:
    """The configuration the demo runs with, as a parsed TOML document."""
    sink: dict[str, Any] = (
        {"influxdb": [{"name": "demo", "url": influx, "database": "costpipe_demo"}]}
        if influx
        else {"sqlite": [{"name": "demo", "path": str(state_dir / "costs.sqlite")}]}
    )
    return {
        "pipeline": {
            "interval": interval,
            "lookback": "6h",
            "timezone": "UTC",
            "state_dir": str(state_dir),
            "chunk": "1d",
        },
        "providers": {
            "openai": [{"name": "acme", "api_key": openai_key, "base_url": f"{base_url}/v1"}],
            "anthropic": [{"name": "acme", "api_key": anthropic_key, "base_url": base_url}],
        },
        "sinks": sink,
        "enrichers": {
            "teams": [{"name": "demo", "default": "platform"}],
        },
        "budgets": [
            {
                "name": "demo-monthly",
                "amount_usd": str(monthly_budget),
                "period": "month",
                "cost_basis": "estimated",
                "thresholds": [50, 80, 100],
                "forecast": True,
            },
            {
                "name": "demo-daily-per-user",
                "amount_usd": 5,
                "period": "day",
                "cost_basis": "estimated",
                "group_by": "user_id",
                "filters": {"provider": ["openai"]},
                "thresholds": [100],
            },
        ],
        "alerts": {"stale_after": "30m"},
        "health": {"enabled": False},
    }


async def _serve(args: argparse.Namespace) -> int:
    from costpipe.engine.daemon import Daemon
    from costpipe.engine.passes import PassRunner
    from costpipe.engine.wiring import alert_engine_for
    from costpipe.simulator import Simulator, SimulatorOptions

    simulator = Simulator(SimulatorOptions(seed=args.seed))
    base_url = await simulator.start()
    print(f"simulated OpenAI and Anthropic billing APIs on {base_url}", flush=True)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    # Size the monthly budget from the month's spend so far, so that its 50 % and
    # 80 % thresholds fire on the first pass whatever the day of the month.
    now = datetime.now(UTC)
    since = (now - timedelta(days=args.days)).replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = max(since, now.replace(day=1, hour=0, minute=0, second=0, microsecond=0))
    spent = sum(
        (
            totals.cost_usd
            for provider in ("openai", "anthropic")
            for totals in simulator.truth(provider, month_start, now).values()
        ),
        Decimal(0),
    )
    budget = max(Decimal(1), (spent * Decimal("1.1")).quantize(Decimal(1)))
    print(f"demo budget: ${budget} this month (spend so far ${spent:.2f})", flush=True)
    pm, registry = build_plugin_manager()
    document = demo_config(
        base_url,
        simulator.openai_admin_key,
        simulator.anthropic_admin_key,
        args.state_dir,
        influx=args.influx,
        interval=args.interval,
        monthly_budget=budget,
    )
    settings: Settings = parse_config(document, registry)
    register_config_secrets(settings)

    runner = PassRunner(
        settings, pm, alerts=alert_engine_for, progress=ProgressPrinter(sys.stdout).update
    )
    daemon = Daemon(runner)
    stop = daemon.stop_requested
    daemon.install_signal_handlers()

    dashboard: Any = None
    try:
        async with runner:
            until = datetime.now(UTC)
            print(f"backfilling {since:%Y-%m-%d} .. now", flush=True)
            await runner.backfill(since, until)
            if stop.is_set():
                return 0
            if args.no_dashboard or importlib.util.find_spec("panel") is None:
                if not args.no_dashboard:
                    print("dashboard skipped: pip install 'costpipe[dashboard]'", flush=True)
            else:
                from costpipe.dashboard.server import DashboardServer

                dashboard = DashboardServer(settings, args.address, args.port)
                port = await dashboard.start()
                # The Bokeh server installs its own SIGINT handler (which stops the
                # loop abruptly); take Ctrl-C back so that everything stops cleanly.
                daemon.install_signal_handlers()
                print(f"dashboard: http://{args.address}:{port}/", flush=True)
            print("daemon running; Ctrl-C stops everything", flush=True)
            await daemon.run()
    finally:
        if dashboard is not None:
            await dashboard.stop()
        await simulator.stop()
    print("demo stopped", flush=True)
    return 0


def run_from_args(args: argparse.Namespace) -> int:
    return asyncio.run(_serve(args))
