"""`costpipe demo` says which budget alerts fire, on the figures the alerts use.

Once the demo printed the month's *billed* spend (the simulator's invoice)
while its budget counted *estimated* money, and claimed that the 50 % and
80 % thresholds fire when only 50 % did. The real command runs here; what it
prints is checked against the alerts its engine logs before the daemon's
first scheduled pass.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CENT = Decimal("0.01")


def run_demo(tmp_path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The demo's console lines and its `Alert triggered` events, up to "daemon running"."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "costpipe",
            "--log-format",
            "json",
            "demo",
            "--days",
            "3",
            "--no-dashboard",
            "--state-dir",
            str(tmp_path / "demo"),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    printed: list[str] = []
    alerts: list[dict[str, str]] = []
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("{"):
                event = json.loads(line)
                if event.get("event") == "Alert triggered":
                    alerts.append(event)
                continue
            printed.append(line.rstrip("\n"))
            if line.startswith("daemon running"):
                break
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    assert 0 == process.returncode, "\n".join(printed) + rest
    assert any(line.startswith("daemon running") for line in printed), printed
    return printed, alerts


def money(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def test_demo_prints_the_figures_and_the_alerts_its_budgets_send(tmp_path: Path) -> None:
    printed, alerts = run_demo(tmp_path)
    text = "\n".join(printed)
    monthly = re.search(
        r"^budget demo-monthly: \$([\d,.]+) of \$([\d,.]+) estimated this month \(([\d.]+) %\)$",
        text,
        re.MULTILINE,
    )
    assert monthly is not None, text
    spend, budget, percent = money(monthly[1]), money(monthly[2]), Decimal(monthly[3])
    assert (spend * 100 / budget).quantize(Decimal("0.1")) == percent

    monthly_alerts = [a for a in alerts if a["rule"] == "demo-monthly"]
    thresholds = [a for a in monthly_alerts if a["kind"] == "threshold"]
    for alert in monthly_alerts:
        # The alert's figures are the printed ones: same basis, same moment.
        assert spend == Decimal(alert["spend"]).quantize(CENT)
        assert budget == Decimal(alert["budget"])
    crossing = re.search(r"^  crosses ([\d %and]+): alert at (\d+) %$", text, re.MULTILINE)
    if crossing is None:
        assert [] == thresholds, text
    else:
        assert [int(crossing[2])] == [int(a["threshold"]) for a in thresholds], text
    if spend >= Decimal("0.10"):
        # Sized at 90 % of the month so far: 50 % and 80 % are passed, 100 % is not.
        assert "  crosses 50 % and 80 %: alert at 80 %" in printed, text
    forecast_printed = any(line.startswith("  forecast $") for line in printed)
    assert forecast_printed == any(a["kind"] == "forecast" for a in monthly_alerts), text

    users = re.search(r"^budget demo-daily-per-user: \$5 per OpenAI user a day; (.*)$", text, re.M)
    assert users is not None, text
    per_user = [a for a in alerts if a["rule"] == "demo-daily-per-user"]
    # User names are provider data (the simulator's include spaces, quotes and
    # ", "), so the line is checked against the alerts rather than split apart.
    if users[1] == "nobody over it today":
        assert [] == per_user, text
    else:
        listed = users[1].removeprefix("over it today: ")
        expected = ", ".join(
            f"{a['group']} ${Decimal(a['spend']).quantize(CENT):.2f}"
            for a in sorted(per_user, key=lambda a: str(a["group"]))
        )
        assert expected == listed, text
    assert len(alerts) == len(monthly_alerts) + len(per_user)
