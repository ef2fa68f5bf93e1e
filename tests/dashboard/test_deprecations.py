"""The app uses no API that Panel or Bokeh has deprecated (it must run unchanged
on the next Panel major): built, refreshed and turned into a Bokeh document in a
fresh interpreter where every deprecation warning is an error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BUILD = """
import asyncio
from datetime import UTC, datetime

from costpipe.dashboard.app import Dashboard, DashboardOptions
from costpipe.dashboard.sample import sample_records
from costpipe.dashboard.viewmodel import Selection
from costpipe.query.api import Basis, Granularity
from costpipe.testing.memory import MemorySink

NOW = datetime(2026, 11, 18, 14, 20, tzinfo=UTC)
sink = MemorySink.create()
sink.add(*sample_records(NOW, days=10, streams_per_hour=3))


async def reader():
    return sink.reader()


async def main():
    for initial in (
        Selection(),
        Selection(granularity=Granularity.HOUR, basis=Basis.ESTIMATED, group_by="model"),
    ):
        options = DashboardOptions(timezone="Europe/Berlin", initial=initial)
        dashboard = Dashboard(reader, options, lambda: NOW)
        await dashboard.refresh()
        assert dashboard.view is not None and dashboard.view.total > 0
        dashboard.page().server_doc()
    print("built without deprecations")


asyncio.run(main())
"""


def test_the_app_builds_with_deprecation_warnings_as_errors(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "error::DeprecationWarning",
            "-W",
            "error::PendingDeprecationWarning",
            "-W",
            "error::FutureWarning",
            "-c",
            BUILD,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert 0 == result.returncode, result.stderr[-3000:]
    assert "built without deprecations" in result.stdout
