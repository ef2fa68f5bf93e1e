"""``costpipe demo``: the whole product on one machine, with nothing to set up.

One event loop runs the billing-API simulator (with a fake Ollama, whose past
days of local-model traffic go through the real metering proxy first:
:mod:`costpipe.providers.ollama.history`), Amazon Bedrock's fake Cost Explorer and CloudWatch
when the ``bedrock`` extra is installed (:data:`CLOUD_EXTRA`), the daemon (a
backfill of a few days, then a pass every minute) writing into an embedded SQLite store (or
InfluxDB with ``--influx URL``), budgets tight enough to fire, and the
dashboard. Ctrl-C stops everything and exits 0. No root, no database server.

The monthly budget is sized after the backfill from the month's *estimated*
spend in the store (the budget's own basis, read through the query layer as
the alert engine reads it), and the alerts are evaluated right after the
figures are printed, so the console and the alerts show the same money.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_UP, Decimal
from pathlib import Path
from typing import Any

import structlog

from costpipe.alerts.periods import period_at
from costpipe.alerts.rules import BudgetStatus, assess, budget_amount
from costpipe.config.settings import Settings, parse_config
from costpipe.engine.progress import ProgressPrinter
from costpipe.engine.runtime import register_config_secrets
from costpipe.plugins import build_plugin_manager
from costpipe.query.api import Basis, CostQuery, CostReader

__all__ = [
    "CloudAccount",
    "DemoBudgets",
    "add_arguments",
    "demo_config",
    "run_from_args",
    "size_budgets",
]

log = structlog.get_logger("costpipe")

TIMEZONE = "UTC"
#: The demo's monthly budget is sized so that the month's spend so far is this share
#: of it: past the 50 % and 80 % thresholds, short of 100 %.
MONTHLY_FILL = Decimal("0.9")
MONTHLY_THRESHOLDS = (50, 80, 100)
#: The per-user daily budget (OpenAI users; records without a user are left out).
DAILY_PER_USER = Decimal(5)
#: The cloud provider the demo shows next to the direct APIs is Amazon Bedrock: its fake
#: takes static keys in the configuration, where Azure's managed identity and GCP's
#: service-account key need environment variables or a key file. Its SDK is an extra
#: (botocore is large), so the demo shows Bedrock only when that extra is importable.
CLOUD_EXTRA = "aiobotocore"
CLOUD_INSTALL = "pip install 'costpipe[bedrock]'"


@dataclass(frozen=True, slots=True)
class CloudAccount:
    """The simulator's fake AWS account the demo's ``[[providers.bedrock]]`` reads."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str


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
    bedrock: CloudAccount | None = None,
) -> dict[str, Any]:
    """The configuration the demo runs with, as a parsed TOML document."""
    providers: dict[str, list[dict[str, Any]]] = {
        "openai": [{"name": "acme", "api_key": openai_key, "base_url": f"{base_url}/v1"}],
        "anthropic": [{"name": "acme", "api_key": anthropic_key, "base_url": base_url}],
        # Local models: the simulator's fake Ollama behind the metering proxy.
        "ollama": [
            {
                "name": "local",
                "upstream": base_url,
                "gpu_hour_usd": "2.40",
                "identity_header": "X-Demo-User",
            }
        ],
    }
    if bedrock is not None:
        providers["bedrock"] = [
            {
                "name": "acme",
                "endpoint_url": bedrock.endpoint_url,
                "access_key_id": bedrock.access_key_id,
                "secret_access_key": bedrock.secret_access_key,
            }
        ]
    sink: dict[str, Any] = (
        {"influxdb": [{"name": "demo", "url": influx, "database": "costpipe_demo"}]}
        if influx
        else {"sqlite": [{"name": "demo", "path": str(state_dir / "costs.sqlite")}]}
    )
    return {
        "pipeline": {
            "interval": interval,
            "lookback": "6h",
            "timezone": TIMEZONE,
            "state_dir": str(state_dir),
            "chunk": "1d",
        },
        "providers": providers,
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
                "thresholds": list(MONTHLY_THRESHOLDS),
                "forecast": True,
            },
            {
                "name": "demo-daily-per-user",
                "amount_usd": str(DAILY_PER_USER),
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


@dataclass(frozen=True, slots=True)
class DemoBudgets:
    """The demo's budgets, sized from what the backfill stored, and where they stand.

    Figures come from the store through the query layer, on the budgets' own basis
    (``estimated``), exactly as the alert engine reads them right afterwards.
    """

    monthly: BudgetStatus
    users_over: dict[str, Decimal]
    """OpenAI users whose spend today reached :data:`DAILY_PER_USER`."""

    def lines(self) -> list[str]:
        """What the console shows, naming every alert the first evaluation sends."""
        status = self.monthly
        text = [
            f"budget demo-monthly: ${status.spend_usd:.2f} of ${status.budget_usd} "
            f"estimated this month ({status.percent} %)"
        ]
        if status.crossed:
            # One evaluation sends one alert per budget: the highest threshold crossed.
            passed = " and ".join(f"{t} %" for t in status.crossed)
            text.append(f"  crosses {passed}: alert at {status.crossed[-1]} %")
        if status.forecast_breaches and status.forecast is not None:
            text.append(
                f"  forecast ${status.forecast.projected_usd:.2f} by the end of the month: "
                "forecast alert"
            )
        over = ", ".join(f"{user} ${spend:.2f}" for user, spend in sorted(self.users_over.items()))
        text.append(
            f"budget demo-daily-per-user: ${DAILY_PER_USER} per OpenAI user a day; "
            + (f"over it today: {over}" if over else "nobody over it today")
        )
        return text


async def size_budgets(reader: CostReader, now: datetime, timezone: str) -> DemoBudgets:
    """Size the monthly budget from the month's estimated spend in the store."""
    month = period_at("month", now, timezone)
    spend = await reader.total(CostQuery(month.start, month.end, Basis.ESTIMATED))
    amount = max(Decimal("0.01"), (spend / MONTHLY_FILL).quantize(Decimal("0.01"), ROUND_UP))
    monthly = assess("", spend, budget_amount(amount), list(MONTHLY_THRESHOLDS), month, now, True)
    day = period_at("day", now, timezone)
    per_user = await reader.breakdown(
        CostQuery(day.start, day.end, Basis.ESTIMATED, {"provider": ("openai",)}), by="user_id"
    )
    over = {
        row.group: row.cost_usd for row in per_user if row.group and row.cost_usd >= DAILY_PER_USER
    }
    return DemoBudgets(monthly, over)


async def _serve(args: argparse.Namespace) -> int:
    from costpipe.engine.daemon import Daemon
    from costpipe.engine.passes import PassRunner
    from costpipe.engine.wiring import alert_engine_for, readable_store
    from costpipe.simulator import Simulator, SimulatorOptions

    simulator = Simulator(SimulatorOptions(seed=args.seed))
    base_url = await simulator.start()
    bedrock = None
    if importlib.util.find_spec(CLOUD_EXTRA) is not None:
        key = simulator.bedrock.key("FULL")
        bedrock = CloudAccount(
            simulator.bedrock_endpoint_url, key.access_key_id, key.secret_access_key
        )
        print(f"simulated OpenAI, Anthropic and Amazon Bedrock billing APIs on {base_url}")
    else:
        print(f"simulated OpenAI and Anthropic billing APIs on {base_url}")
        print(f"Amazon Bedrock left out (no AWS SDK): {CLOUD_INSTALL} adds it to the demo")
    sys.stdout.flush()
    args.state_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    since = (now - timedelta(days=args.days)).replace(hour=0, minute=0, second=0, microsecond=0)
    pm, registry = build_plugin_manager()
    # Local models: past traffic through the Ollama provider's own proxy, reached
    # through the registry like every built-in (the demo imports no plugin).
    replay = getattr(registry.get("providers", "ollama"), "replay_history", None)
    if replay is not None:
        journal = args.state_dir / "providers" / "ollama.local" / "journal"
        local = await replay(base_url, journal, since, now, args.seed)
        print(f"local models: {local} requests through the Ollama metering proxy", flush=True)

    def settings_for(monthly_budget: Decimal) -> Settings:
        document = demo_config(
            base_url,
            simulator.openai_admin_key,
            simulator.anthropic_admin_key,
            args.state_dir,
            influx=args.influx,
            interval=args.interval,
            monthly_budget=monthly_budget,
            bedrock=bedrock,
        )
        settings = parse_config(document, registry)
        register_config_secrets(settings)
        return settings

    progress = ProgressPrinter(sys.stdout).update
    dashboard: Any = None
    try:
        # First the backfill, without alerts: the monthly budget is sized from
        # what it stored, so that the thresholds it names fire whatever the day.
        backfill = PassRunner(settings_for(Decimal(1)), pm, progress=progress)
        stopper = Daemon(backfill)
        stopper.install_signal_handlers()
        async with backfill:
            print(f"backfilling {since:%Y-%m-%d} .. now", flush=True)
            await backfill.backfill(since, datetime.now(UTC))
            reader = readable_store(backfill.settings, backfill.runtime)
            if stopper.stop_requested.is_set() or reader is None:
                return 0
            budgets = await size_budgets(reader, datetime.now(UTC), TIMEZONE)
        settings = settings_for(budgets.monthly.budget_usd)
        runner = PassRunner(settings, pm, alerts=alert_engine_for, progress=progress)
        daemon = Daemon(runner)
        daemon.install_signal_handlers()
        async with runner:
            for line in budgets.lines():
                print(line, flush=True)
            # The alerts fire now, on the figures just printed (no new data in between).
            await runner.evaluate_alerts()
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
