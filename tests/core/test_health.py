"""The health server on its own: the bound port through public API, and one
warning when it listens beyond loopback."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from costpipe.engine.health import HealthServer, health_report, is_loopback
from costpipe.engine.metrics import DaemonMetrics
from costpipe.engine.spool import Spools
from costpipe.engine.state import ProviderStatus, StatusFile
from costpipe.sinks.deadletter import DeadLetterFile
from costpipe.testing.static import StaticProvider, StaticProviderConfig

from .conftest import make_context


class Source:
    """What a pass runner shows the health server: static.a is configured; status.json
    also remembers static.gone, removed from the config while it was failing."""

    def __init__(self, tmp_path: Path) -> None:
        context = make_context(tmp_path, "static.a")
        self.providers = [StaticProvider(StaticProviderConfig(), context)]
        self.status = StatusFile(
            tmp_path / "status.json",
            {"static.a": ProviderStatus(state="ok"), "static.gone": ProviderStatus(state="auth")},
        )
        self.spools = Spools([])

    def dead_letters(self) -> list[DeadLetterFile]:
        return []

    def undelivered_notifications(self) -> dict[str, tuple[int, str]]:
        return {}


def test_healthz_reports_configured_providers_only(tmp_path: Path) -> None:
    status, body = health_report(Source(tmp_path))
    assert 200 == status
    assert ["static.a"] == list(body["providers"])  # type: ignore[call-overload]
    assert [] == body["problems"]


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.10", False),
        ("metrics.example.org", False),
    ],
)
def test_is_loopback(address: str, loopback: bool) -> None:
    assert loopback is is_loopback(address)


@pytest.mark.parametrize(("address", "warnings"), [("127.0.0.1", 0), ("0.0.0.0", 1)])
async def test_a_health_server_beyond_loopback_warns_once(
    tmp_path: Path, address: str, warnings: int
) -> None:
    source = Source(tmp_path)
    server = HealthServer(address, 0, source=lambda: source, metrics=DaemonMetrics())
    with capture_logs() as logs:
        port = await server.start()
    try:
        assert port == server.port
        assert 0 < port
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            assert 200 == response.status
            assert "ok" == (await response.json())["providers"]["static.a"]["state"]
    finally:
        await server.stop()
    exposed = [e for e in logs if e["event"] == "health_not_loopback"]
    assert warnings == len(exposed)
    assert all(e["log_level"] == "warning" for e in exposed)


async def test_two_daemons_in_one_process_keep_separate_metrics() -> None:
    first, second = DaemonMetrics(), DaemonMetrics()
    first.config_reloads.labels("ok").inc()
    assert b'costpipe_config_reloads_total{result="ok"} 1.0' in first.render()
    assert b'costpipe_config_reloads_total{result="ok"} 0.0' in second.render()
