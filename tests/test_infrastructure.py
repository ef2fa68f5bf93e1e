"""The shared fixtures of tests/conftest.py and the tier markers of tests/tiers.py
do what the suite relies on."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from hypothesis import settings as hypothesis_settings

from tests import tiers
from tests.conftest import MakeSettings, StartSimulator, hypothesis_profile
from tests.processes import CliProcesses

NOW = datetime(2026, 3, 11, 15, 30, 17, tzinfo=UTC)


def test_free_port_refuses_connections(free_port: int, request: pytest.FixtureRequest) -> None:
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", free_port))
    assert request.node.get_closest_marker("slow") is None


async def test_start_simulator_serves_each_simulator_on_its_own_port(
    start_simulator: StartSimulator,
) -> None:
    first = await start_simulator(seed=3, now=NOW, users=1, projects=1)
    second = await start_simulator(seed=4, now=NOW, users=1, projects=1)
    assert first.openai_base_url != second.openai_base_url
    start = int((NOW - timedelta(days=1)).timestamp())
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{first.openai_base_url}/organization/costs",
            params={"start_time": str(start)},
            headers={"Authorization": f"Bearer {first.openai_admin_key}"},
        ) as response,
    ):
        assert response.status == 200
        assert (await response.json())["object"] == "page"


def test_make_settings_from_toml_with_environment(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    settings = make_settings(
        """
        [pipeline]
        interval = "5m"
        [[providers.openai]]
        name = "prod"
        api_key = "${OPENAI_ADMIN_KEY}"
        """,
        env={"OPENAI_ADMIN_KEY": "sk-admin-0a1b2c"},
    )
    assert settings.pipeline.interval == timedelta(minutes=5)
    assert settings.pipeline.state_dir == tmp_path / "state"
    [spec] = settings.providers
    assert (spec.instance, spec.env_vars) == ("openai.prod", {"api_key": "OPENAI_ADMIN_KEY"})


async def test_costpipe_cli_kills_a_daemon_past_its_deadline(
    costpipe_cli: CliProcesses, tmp_path: Path, free_port: int, request: pytest.FixtureRequest
) -> None:
    """``costpipe run`` never ends on its own; ``run(limit=...)`` must not wait for it."""
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[pipeline]
interval = "1h"
state_dir = "{tmp_path / "state"}"
[health]
enabled = false
[[providers.openai]]
api_key = "sk-admin-0a1b2c"
base_url = "http://127.0.0.1:{free_port}/v1"
max_retries = 0
[[sinks.sqlite]]
path = "{tmp_path / "costs.sqlite"}"
""",
        encoding="utf-8",
    )
    # The daemon never exits on its own: returning at all proves the deadline held.
    with pytest.raises(AssertionError, match=r"still running after 3s; killed"):
        await costpipe_cli.run(config, "run", limit=3)
    assert request.node.get_closest_marker("slow") is not None


def test_hypothesis_profile_follows_the_environment_and_the_tier(
    request: pytest.FixtureRequest,
) -> None:
    """``CI`` set: derandomized (the same examples every run); the fast tier
    (slow tests left out): fewer random examples; else the default count."""
    assert "ci" == hypothesis_profile({"CI": "true"}, "not slow and not browser")
    assert "thorough" == hypothesis_profile({"HYPOTHESIS_PROFILE": "thorough", "CI": "1"}, "")
    assert "fast" == hypothesis_profile({}, "not slow and not browser")
    assert "fast" == hypothesis_profile({}, "influxdb and not slow")
    assert "dev" == hypothesis_profile({}, "")
    assert "dev" == hypothesis_profile({}, "not browser")
    assert "dev" == hypothesis_profile({}, "slow")
    profile = hypothesis_profile(os.environ, request.config.option.markexpr)
    assert hypothesis_settings.get_profile(profile) == hypothesis_settings.default
    assert hypothesis_settings.default.derandomize is (profile == "ci")
    assert hypothesis_settings.get_profile("ci").derandomize
    assert hypothesis_settings.get_profile("ci").max_examples >= 100
    assert hypothesis_settings.get_profile("dev").max_examples >= 100
    assert 0 < hypothesis_settings.get_profile("fast").max_examples < 100
    assert not hypothesis_settings.get_profile("thorough").derandomize
    assert hypothesis_settings.get_profile("thorough").max_examples >= 1000


def test_slow_tests_are_known_from_the_reports_as_pytest_xdist_sends_them() -> None:
    """Under ``-n 2`` the process printing the summary collects nothing: a test's
    tier comes with its report, and only an unmarked slow test is listed."""

    def report(name: str, keywords: dict[str, int], when: str, seconds: float) -> pytest.TestReport:
        nodeid = f"tests/fake_tier.py::{name}"
        return pytest.TestReport(
            nodeid, ("tests/fake_tier.py", 1, name), keywords, "passed", None, when, [], seconds
        )

    reports = [
        report("marked", {"marked": 1, "slow": 1}, "call", 3.0),
        report("in_browser", {"in_browser": 1, "browser": 1}, "call", 3.0),
        report("unmarked", {"unmarked": 1}, "setup", 1.5),
        report("unmarked", {"unmarked": 1}, "call", 1.0),
        report("quick", {"quick": 1}, "call", 0.1),
    ]
    try:
        for each in reports:
            tiers.pytest_runtest_logreport(each)
        listed = [(s, n) for s, n in tiers.unmarked_slow_tests() if "fake_tier" in n]
        assert [(2.5, "tests/fake_tier.py::unmarked")] == listed
    finally:  # the session's own summary must not list them
        for each in reports:
            tiers._durations.pop(each.nodeid, None)
            tiers._slow_ids.discard(each.nodeid)
