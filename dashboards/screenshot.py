"""Regenerate ``docs/img/dashboard.png``: the dashboard over realistic sample spend.

Usage: ``python dashboards/screenshot.py [--out docs/img/dashboard.png]``.
Drives Debian's Chromium (``/usr/bin/chromium``) headless through Playwright;
never run ``playwright install``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from costpipe.config import (
    AlertSettings,
    BudgetConfig,
    DashboardSettings,
    HealthSettings,
    PipelineSettings,
    Settings,
)
from costpipe.dashboard.sample import sample_records
from costpipe.dashboard.server import BackgroundDashboard, DashboardServer, ReaderHandle
from costpipe.testing.memory import MemorySink

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]
NOW = datetime(2026, 11, 18, 14, 20, tzinfo=UTC)


def demo_settings(state_dir: Path, timezone: str = "Europe/Berlin") -> Settings:
    """Settings with two budgets, as a finance team might configure them."""
    return Settings(
        pipeline=PipelineSettings(timezone=timezone, state_dir=state_dir),
        components={},
        budgets=[
            BudgetConfig(name="All AI, monthly", amount_usd=9000, period="month"),
            BudgetConfig(
                name="Research team, weekly",
                amount_usd=450,
                period="week",
                cost_basis="estimated",
                filters={"project_id": ["proj_research"]},
            ),
        ],
        alerts=AlertSettings(),
        health=HealthSettings(),
        dashboard=DashboardSettings(),
    )


def write_status(state_dir: Path, now: datetime) -> None:
    status = {
        "providers": {
            "openai.prod": {
                "last_success": (now - timedelta(minutes=6)).isoformat(),
                "last_error": None,
            },
            "anthropic.prod": {
                "last_success": (now - timedelta(minutes=21)).isoformat(),
                "last_error": None,
            },
        }
    }
    (state_dir / "status.json").write_text(json.dumps(status))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/img/dashboard.png"))
    args = parser.parse_args()
    sink = MemorySink.create("memory.demo")
    sink.add(*sample_records(NOW, days=70, streams_per_hour=20))

    async def opener() -> ReaderHandle:
        return ReaderHandle(sink.reader())

    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp)
        write_status(state_dir, NOW)
        server = DashboardServer(demo_settings(state_dir), port=0, opener=opener, clock=lambda: NOW)
        with BackgroundDashboard(server) as port, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1320})
            page.goto(f"http://127.0.0.1:{port}/")
            range_line = page.get_by_test_id("range")
            expect(range_line).to_have_attribute("data-generation", "1", timeout=60_000)
            # A finance view: this month, by model, usage-based (shows the unpriced banner).
            page.locator(
                "select", has=page.locator("option", has_text="Month to date")
            ).select_option(label="Month to date")
            page.locator("select", has=page.locator("option", has_text="Project")).select_option(
                label="Model"
            )
            page.get_by_role("button", name="Estimated").click()
            expect(range_line).to_have_attribute("data-generation", "4", timeout=60_000)
            page.wait_for_selector("canvas")
            page.wait_for_timeout(1500)  # let Bokeh finish laying out the plots
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
