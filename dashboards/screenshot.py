"""Regenerate ``docs/img/dashboard.png``: the dashboard over simulator data.

Usage: ``python dashboards/screenshot.py [--out docs/img/dashboard.png] [--seed 1]``.

The data arrives the way a user's does: the in-process billing-API simulator
(:mod:`costpipe.simulator`, clock fixed at :data:`NOW`) serves the OpenAI and
Anthropic admin APIs, a configuration parsed by :func:`costpipe.config.settings.parse_config`
points both providers at it, and :meth:`costpipe.engine.passes.PassRunner.backfill` writes
a SQLite store (and ``status.json``) in a temporary state directory. The
dashboard is then served over that store, exactly as ``costpipe dashboard``
opens it, with its clock at :data:`NOW`, and captured by Debian's Chromium
(``/usr/bin/chromium``) headless through Playwright; never run
``playwright install``. The same seed gives the same picture.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import expect, sync_playwright

from costpipe.config.settings import Settings, parse_config
from costpipe.dashboard.server import BackgroundDashboard, DashboardServer
from costpipe.engine.passes import PassRunner
from costpipe.engine.runtime import register_config_secrets
from costpipe.plugins import build_plugin_manager
from costpipe.simulator import Simulator, SimulatorOptions

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]
#: The simulator's "now" and the dashboard's: a Wednesday afternoon in Berlin.
NOW = datetime(2026, 11, 18, 14, 20, tzinfo=UTC)
#: The daemon's last pass, a few minutes before the page is looked at.
LAST_PASS = NOW - timedelta(minutes=4)
#: Enough history for "month to date" and its previous period (October to the 18th).
SINCE = datetime(2026, 9, 30, tzinfo=UTC)
#: Teams owning the simulator's projects (OpenAI) and workspaces (Anthropic), in order.
TEAMS = ("search", "customer-care", "research", "data-platform")


def config_document(sim: Simulator, state_dir: Path) -> dict[str, Any]:
    """The configuration a finance team might run, as a parsed TOML document."""
    # Project and workspace IDs are derived from the seed; read them from the
    # simulator's ground truth rather than hard-coding one seed's values.
    projects: dict[str, str] = {}
    for provider in ("openai", "anthropic"):
        owned = sorted(p for p in sim.truth(provider, SINCE, NOW, by="project") if p)
        for index, project in enumerate(owned):
            projects[project] = TEAMS[index % len(TEAMS)]
    return {
        "pipeline": {
            "timezone": "Europe/Berlin",
            "state_dir": str(state_dir),
            "lookback": "6h",
            "chunk": "7d",
        },
        "providers": {
            "openai": [
                {"name": "prod", "api_key": sim.openai_admin_key, "base_url": sim.openai_base_url}
            ],
            "anthropic": [
                {
                    "name": "prod",
                    "api_key": sim.anthropic_admin_key,
                    "base_url": sim.anthropic_base_url,
                }
            ],
        },
        "sinks": {"sqlite": [{"name": "costs", "path": str(state_dir / "costs.sqlite")}]},
        "enrichers": {"teams": [{"name": "owners", "default": "unassigned", "projects": projects}]},
        "budgets": [
            {
                "name": "All AI, monthly",
                "amount_usd": 8000,
                "period": "month",
                "thresholds": [50, 80, 100],
                "forecast": True,
            },
            {
                "name": "Research team, weekly",
                "amount_usd": 400,
                "period": "week",
                "cost_basis": "estimated",
                "filters": {"team": ["research"]},
                "thresholds": [80, 100],
                "forecast": True,
            },
        ],
        "health": {"enabled": False},
    }


async def ingest(state_dir: Path, seed: int) -> Settings:
    """Backfill the simulator's history into a SQLite store under *state_dir*."""
    sim = Simulator(SimulatorOptions(seed=seed, now=NOW))
    await sim.start()
    try:
        pm, registry = build_plugin_manager()
        settings = parse_config(config_document(sim, state_dir), registry)
        register_config_secrets(settings)
        # The daemon's clock is the last pass's instant: status.json records it,
        # and the page shows how long ago that was.
        async with PassRunner(settings, pm, clock=lambda: LAST_PASS) as daemon:
            results = await daemon.backfill(SINCE, LAST_PASS)
        failed = [r for r in results if not r.healthy]
        if failed:
            raise SystemExit(f"backfill failed: {failed}")
        return settings
    finally:
        await sim.stop()


def capture(settings: Settings, out: Path) -> None:
    """Serve the dashboard over the store in *settings* and screenshot one view."""
    server = DashboardServer(settings, port=0, clock=lambda: NOW)
    with BackgroundDashboard(server) as port, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1440})
        page.goto(f"http://127.0.0.1:{port}/")
        range_line = page.get_by_test_id("range")
        expect(range_line).to_have_attribute("data-generation", "1", timeout=60_000)
        # A finance view: this month, by model, estimated (shows the unpriced models).
        page.locator("select", has=page.locator("option", has_text="Month to date")).select_option(
            label="Month to date"
        )
        page.locator("select", has=page.locator("option", has_text="Project")).select_option(
            label="Model"
        )
        page.get_by_role("button", name="Estimated").click()
        expect(range_line).to_have_attribute("data-generation", "4", timeout=60_000)
        page.wait_for_selector("canvas")
        page.wait_for_timeout(1500)  # let Bokeh finish laying out the plots
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/img/dashboard.png"))
    parser.add_argument("--seed", type=int, default=1, help="simulator seed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = asyncio.run(ingest(Path(tmp), args.seed))
        capture(settings, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
