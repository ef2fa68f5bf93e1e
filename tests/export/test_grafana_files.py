"""The Grafana files as Grafana reads them: provisioning YAML, and a dashboard
whose every query names only variables the dashboard defines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from costpipe.sinks.influxdb.config import InfluxDBConfig

GRAFANA = Path(__file__).resolve().parents[2] / "dashboards" / "grafana"
#: Grafana's own variables (global ones, and the InfluxDB data source's $timeFilter).
BUILT_IN = {"timeFilter", "__interval", "__all"}


def test_datasource_provisioning_points_at_the_sinks_default_database() -> None:
    document = yaml.safe_load(
        (GRAFANA / "provisioning/datasources/costpipe-influxdb.yaml").read_text()
    )
    (source,) = document["datasources"]
    assert source["type"] == "influxdb"
    assert source["jsonData"]["dbName"] == InfluxDBConfig.model_fields["database"].default


def test_dashboard_provisioning_loads_files() -> None:
    document = yaml.safe_load((GRAFANA / "provisioning/dashboards/costpipe.yaml").read_text())
    (provider,) = document["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]


def test_every_variable_a_query_uses_is_defined() -> None:
    dashboard = json.loads((GRAFANA / "costpipe.json").read_text())
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"provider", "model", "project", "user", "basis"} <= defined
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            used = set(re.findall(r"\$\{?(\w+)", target["query"]))
            assert used <= defined | BUILT_IN, (panel["title"], used - defined)
            assert target["datasource"] == {"type": "influxdb", "uid": "${datasource}"}
    assert dashboard["timezone"] in ("utc", "browser") or "/" in dashboard["timezone"]
