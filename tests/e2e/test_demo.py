"""`costpipe demo`, the README's first command, run as a newcomer would."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from importlib.util import find_spec
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_demo_backfills_alerts_serves_the_dashboard_and_stops_cleanly(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "costpipe",
            "--log-format",
            "console",
            "demo",
            "--days",
            "2",
            "--port",
            "0",
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
    lines: list[str] = []
    url = None
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"dashboard: (http://127\.0\.0\.1:\d+/)", line)
            if found:
                url = found.group(1)
            if url and any("Alert triggered" in x for x in lines):
                break
        output = "".join(lines)
        assert url is not None, output
        assert "Alert triggered" in output, output
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
            assert "costpipe" in response.read().decode().lower()
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0, rest
    assert "demo stopped" in rest
    assert "Traceback" not in output + rest
    assert (tmp_path / "demo" / "costs.sqlite").exists()
    # Local models sit next to the hosted APIs (issue 20).
    with sqlite3.connect(tmp_path / "demo" / "costs.sqlite") as db:
        providers = {row[0] for row in db.execute("SELECT DISTINCT provider FROM costs")}
    assert {"openai", "anthropic", "ollama"} <= providers
    assert "requests through the Ollama metering proxy" in output
    # One cloud provider beside them (issue 21.5), when its extra is installed (CI: `.[test]`);
    # without it the demo says how to add it (tests/e2e/test_readme.py runs that case).
    if find_spec("aiobotocore") is not None:
        assert "Amazon Bedrock billing APIs" in output, output
        with sqlite3.connect(tmp_path / "demo" / "costs.sqlite") as db:
            bases = {
                row[0]
                for row in db.execute("SELECT DISTINCT basis FROM costs WHERE provider = 'bedrock'")
            }
        # Cost Explorer's billed money and CloudWatch's priced token counts.
        assert {"billed", "estimated"} <= bases
    else:
        assert "pip install 'costpipe[bedrock]' adds it" in output, output
