"""Session-wide fixtures shared by every test area."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from costpipe.testing.influxd import InfluxdNotFound, InfluxdServer, find_influxd


def influxd_or_skip() -> str:
    """Path of influxd; a missing influxd fails the test in CI and skips it elsewhere."""
    try:
        return find_influxd()
    except InfluxdNotFound as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{exc} (required in CI)")
        pytest.skip(str(exc))


def chromium_or_skip() -> str:
    """Path of a Chromium to drive headless (Debian's by default, ``COSTPIPE_CHROMIUM``
    to choose another); missing fails the test in CI and skips it elsewhere."""
    candidates = (
        os.environ.get("COSTPIPE_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    )
    for candidate in candidates:
        if candidate and os.path.exists(candidate):
            return candidate
    message = "no Chromium found (apt-get install chromium, or set COSTPIPE_CHROMIUM)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (required in CI)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxdServer]:
    """A throw-away influxd on free loopback ports for the whole session.

    Tests share it: give each test its own database. Tests that stop the server
    must start their own :class:`InfluxdServer` instead.
    """
    server = InfluxdServer(Path(tmp_path_factory.mktemp("influxd")), influxd_or_skip())
    server.start()
    yield server
    server.stop()
