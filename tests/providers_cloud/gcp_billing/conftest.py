"""The simulator and a gcp_billing provider signed in with a service-account key
(real gcloud-aio-auth, a JWT signed by a key generated here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from costpipe.providers.gcp_billing import GcpBillingProvider
from costpipe.providers.http.retry import Timer
from costpipe.simulator import Simulator
from costpipe.simulator.gcp_billing_api import API_ROOT, TOKEN_PATH
from tests.conftest import StartSimulator
from tests.providers_cloud.conftest import RecordingTimer as RecordingTimer
from tests.providers_cloud.conftest import StartProvider

#: An afternoon, not aligned to an hour.
NOW = datetime(2026, 11, 20, 15, 30, 17, tzinfo=UTC)
Factory = Callable[..., Awaitable[GcpBillingProvider]]


@pytest.fixture
async def sim(start_simulator: StartSimulator) -> Simulator:
    return await start_simulator(seed=11, now=NOW)


def key_file(sim: Simulator, directory: Path, email: str | None = None) -> Path:
    who = email or sim.gcp.reader
    path = directory / f"{who.split('@')[0]}.json"
    return sim.gcp.service_account_file(who, path, sim.base_url + TOKEN_PATH)


@pytest.fixture
def reader_key(sim: Simulator, tmp_path: Path) -> Path:
    """The reader's key file (its private key is a secret the contract checks)."""
    return key_file(sim, tmp_path)


@pytest.fixture
def make_provider(
    sim: Simulator, tmp_path: Path, reader_key: Path, start_cloud_provider: StartProvider
) -> Factory:
    async def build(
        timer: Timer | None = None, email: str | None = None, **options: object
    ) -> GcpBillingProvider:
        settings: dict[str, object] = {
            "table": sim.gcp.table,
            "api_root": sim.base_url + API_ROOT,
            "credentials_file": str(key_file(sim, tmp_path, email) if email else reader_key),
            "max_retries": 4,
            **options,
        }
        return await start_cloud_provider(GcpBillingProvider, settings, now=NOW, timer=timer)

    return build
