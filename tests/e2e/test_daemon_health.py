"""`costpipe run` as a service: /healthz and /metrics, and a clean SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

PLUGIN = """
from costpipe import hookimpl
from costpipe.testing.static import StaticProvider

@hookimpl
def register_providers():
    return [StaticProvider]
"""


def config(tmp_path: Path, *, broken: bool) -> Path:
    (tmp_path / "plugins").mkdir(exist_ok=True)
    (tmp_path / "plugins" / "static_source.py").write_text(PLUGIN)
    path = tmp_path / "config.toml"
    text = f"""
[pipeline]
plugin_dirs = ["{tmp_path / "plugins"}"]
state_dir = "{tmp_path / "state"}"
interval = "1s"
lookback = "6h"

[[providers.static]]
name = "ok"

[[sinks.sqlite]]
path = "{tmp_path / "costs.sqlite"}"

[health]
port = 0
"""
    if broken:
        text += '\n[[providers.static]]\nname = "refused"\nfail = "auth"\n'
    path.write_text(text)
    return path


class Daemon:
    def __init__(self, config_path: Path) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "costpipe",
                "--config",
                str(config_path),
                "--log-format",
                "json",
                "run",
            ],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.events: list[dict[str, object]] = []

    def wait_for(self, event: str, timeout: float = 60) -> dict[str, object]:
        assert self.process.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            entry = json.loads(line)
            self.events.append(entry)
            if entry.get("event") == event:
                return entry
        raise AssertionError(f"no {event!r} in {self.events}")

    def stop(self) -> tuple[int, float]:
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        return code, time.monotonic() - started


@pytest.fixture
def daemon_factory() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()


def scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page, parsed by prometheus-client's own parser
    (which rejects anything that is not valid exposition text)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def families(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


def documented_metrics() -> set[str]:
    """Every metric name the operations and alerts guides mention, as the
    parser names its family (a counter without its ``_total``)."""
    docs = Path(__file__).parents[2] / "docs"
    text = (docs / "operations.md").read_text() + (docs / "alerts.md").read_text()
    names = set(re.findall(r"`((?:costpipe|process|python)_[a-z_]+)", text))
    names -= {"costpipe_startup", "costpipe_shutdown", "costpipe_starting"}  # hooks, log event
    assert "process_resident_memory_bytes" in names
    assert "costpipe_records_ingested_total" in names
    return {name.removesuffix("_total") for name in names}


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_healthy_daemon_reports_200_metrics_and_stops_on_sigterm(
    tmp_path: Path, daemon_factory: list[Daemon]
) -> None:
    daemon = Daemon(config(tmp_path, broken=False))
    daemon_factory.append(daemon)
    url = str(daemon.wait_for("health_listening")["url"])
    daemon.wait_for("pass_done")
    status, body = get(url)
    assert 200 == status, body
    health = json.loads(body)
    assert "ok" == health["status"]
    assert "ok" == health["providers"]["static.ok"]["state"]
    status, metrics = get(url.replace("/healthz", "/metrics"))
    assert 200 == status
    samples = scrape(metrics)
    assert 0 < samples[("costpipe_records_ingested_total", (("provider", "static.ok"),))]
    assert 1 <= samples[("costpipe_passes_total", (("outcome", "ok"), ("provider", "static.ok")))]
    assert 0 < samples[("costpipe_pages_fetched_total", (("provider", "static.ok"),))]
    assert 0 == samples[("costpipe_spool_bytes", (("sink", "sqlite.0"),))]
    assert 0 == samples[("costpipe_spool_batches", (("sink", "sqlite.0"),))]
    assert 0 < samples[("costpipe_last_success_timestamp_seconds", (("provider", "static.ok"),))]
    assert 0 == samples[("costpipe_alerts_pending", ())]
    assert 1 <= samples[("costpipe_pass_duration_seconds_count", (("provider", "static.ok"),))]
    # The library's standard process metrics come with it.
    assert 10_000_000 < samples[("process_resident_memory_bytes", ())]
    assert 0 < samples[("process_open_fds", ())]
    assert documented_metrics() <= families(metrics)
    code, seconds = daemon.stop()
    assert 0 == code
    assert seconds < 10


def test_a_refused_key_makes_healthz_503_and_names_the_provider(
    tmp_path: Path, daemon_factory: list[Daemon]
) -> None:
    daemon = Daemon(config(tmp_path, broken=True))
    daemon_factory.append(daemon)
    url = str(daemon.wait_for("health_listening")["url"])
    failed = daemon.wait_for("provider_failed")
    assert "static.refused" == failed["provider"]
    assert "auth" == failed["outcome"]
    status, body = get(url)
    assert 503 == status
    health = json.loads(body)
    assert "degraded" == health["status"]
    assert ["provider static.refused: auth"] == health["problems"]
    assert "ok" == health["providers"]["static.ok"]["state"]
    # status.json is written right after the pass is logged: wait for it.
    status_file = tmp_path / "state" / "status.json"
    deadline = time.monotonic() + 10
    state: dict[str, object] = {}
    while time.monotonic() < deadline:
        if status_file.exists():
            state = json.loads(status_file.read_text())["providers"].get("static.refused", {})
            if state:
                break
        time.sleep(0.05)
    assert "auth" == state.get("state")
    assert 0 == daemon.stop()[0]
