"""Anomaly rules work unchanged on the GCP billed rows: a project whose Vertex AI
spend jumped fiftyfold in the fake's export is the one group that fires."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from costpipe.config.settings import AnomalyConfig
from costpipe.records import Window
from costpipe.simulator import Simulator
from costpipe.testing import CapturingNotifier, MemorySink
from tests.alerts.conftest import engine, notifier_map, settings
from tests.providers_cloud.gcp_billing.conftest import NOW, Factory
from tests.providers_cloud.gcp_billing.test_provider import collect

TODAY = NOW.replace(hour=0, minute=0, second=0, microsecond=0)

pytestmark = pytest.mark.slow  # three weeks of hourly rows through the fake


async def test_a_spiking_project_fires(
    sim: Simulator, make_provider: Factory, tmp_path: Path
) -> None:
    yesterday = TODAY - timedelta(days=1)
    sim.gcp.spike = ("research-sandbox-2", yesterday.date())
    provider = await make_provider()
    sink = MemorySink.create()
    sink.add(*await collect(provider, Window(TODAY - timedelta(days=22), TODAY)))
    config = settings()
    config.anomalies = [
        AnomalyConfig.model_validate(
            {
                "name": "gcp-projects",
                "group_by": "project_id",
                "cost_basis": "billed",
                "notify": ["capture"],
                "floor_usd": 1,
            }
        )
    ]
    capture = CapturingNotifier.create("capture.capture")
    alerts = engine(config, sink, notifier_map(capture), tmp_path / "state")
    with capture_logs() as logs:
        await alerts.evaluate(TODAY + timedelta(minutes=5), {})
    alerts.close()
    fired = [e for e in logs if e["event"] == "Anomaly detected"]
    assert [(e["group"], e["bucket"]) for e in fired] == [
        ("research-sandbox-2", f"day:{yesterday.date().isoformat()}")
    ]
