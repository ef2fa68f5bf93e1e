"""``costpipe run`` and ``backfill`` as real processes: signals, the startup
line, and the options given after the sub-command."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from .daemon_process import PLUGIN, DaemonProcess

ENDLESS_PLUGIN = """
import asyncio

import structlog

from costpipe import hookimpl
from costpipe.components import ComponentConfig, Provider


class EndlessConfig(ComponentConfig):
    pass


class EndlessProvider(Provider[EndlessConfig]):
    '''has_more forever, and never a record: the pages are empty.'''

    name = "endless"
    config_model = EndlessConfig

    async def fetch(self, window):
        structlog.get_logger("costpipe").info("endless_paging", provider=self.instance)
        while True:
            self.pages_fetched += 1
            await asyncio.sleep(0.001)
            yield []


@hookimpl
def register_providers():
    return [EndlessProvider]
"""


@pytest.fixture
def processes() -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for process in started:
        process.kill()


def write_project(tmp_path: Path, providers: str, *, extra: str = "") -> Path:
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "static_source.py").write_text(PLUGIN)
    (plugins / "endless_source.py").write_text(ENDLESS_PLUGIN)
    config = tmp_path / "costpipe.toml"
    config.write_text(
        f"""
[pipeline]
plugin_dirs = ["{plugins}"]
state_dir = "{tmp_path / "state"}"
interval = "1h"
lookback = "3h"

{providers}

[[sinks.sqlite]]
path = "{tmp_path / "state" / "costs.sqlite"}"

[health]
port = 0
{extra}
"""
    )
    return config


def test_sigterm_ends_endless_empty_paging_and_run_once_reports_it(
    tmp_path: Path, processes: list[DaemonProcess]
) -> None:
    """A provider that pages forever without records used to keep SIGTERM waiting
    (the stop was checked only after a page with records)."""
    config = write_project(tmp_path, '[[providers.endless]]\nname = "a"')
    daemon = DaemonProcess("run", "--once", "--config", str(config), cwd=tmp_path)
    processes.append(daemon)
    daemon.wait_for("endless_paging")
    daemon.signal(signal.SIGTERM)
    assert 1 == daemon.wait(timeout=30), "a stopped pass is not a successful one"
    daemon.wait_for("pass_stopped", provider="endless.a")
    assert not [e for e in daemon.events if e.get("event") == "pass_done"]


def test_sigterm_ends_endless_empty_paging_of_a_backfill(
    tmp_path: Path, processes: list[DaemonProcess]
) -> None:
    config = write_project(tmp_path, '[[providers.endless]]\nname = "a"')
    args = ("backfill", "--since", "2026-01-01", "--until", "2026-01-03")
    daemon = DaemonProcess(*args, "--config", str(config), cwd=tmp_path)
    processes.append(daemon)
    daemon.wait_for("endless_paging")
    daemon.signal(signal.SIGTERM)
    assert 0 == daemon.wait(timeout=30)
    assert "endless.a: stopped, 0 records\n" in daemon.stdout


def test_run_logs_one_startup_line_before_the_first_request(
    tmp_path: Path, processes: list[DaemonProcess]
) -> None:
    config = write_project(
        tmp_path,
        '[[providers.static]]\nname = "a"\n[[providers.static]]\nname = "b"\n',
        extra='[[notifiers.webhook]]\nname = "ops"\nurl = "http://127.0.0.1:9/hook"\n'
        '[[budgets]]\nname = "monthly"\namount_usd = 100\nnotify = ["ops"]\n',
    )
    # Every common option after the sub-command, as users type them.
    daemon = DaemonProcess(
        "run", "--once", "--config", str(config), "--log-level", "info", cwd=tmp_path
    )
    processes.append(daemon)
    assert 0 == daemon.wait(timeout=60), daemon.events
    starting = [e for e in daemon.events if e.get("event") == "costpipe_starting"]
    assert 1 == len(starting)
    [line] = starting
    names = [e.get("event") for e in daemon.events]
    assert names.index("costpipe_starting") < names.index("pass_done")
    from costpipe import __version__

    assert "run" == line["command"]
    assert __version__ == line["version"]
    assert str(config) == line["config"]
    assert isinstance(line["python"], str)
    assert line["python"].count(".") == 2
    assert ["static.a", "static.b"] == line["providers"]
    assert ["sqlite.0"] == line["sinks"]
    assert ["webhook.ops"] == line["notifiers"]
    assert 1 == line["budgets"]
    plugins = line["plugins"]
    assert isinstance(plugins, list)
    assert any(p.startswith("static_source ") for p in plugins), plugins
    assert any(p.startswith("costpipe.providers.openai ") for p in plugins), plugins
    assert isinstance(line["price_table"], str)
    assert line["price_table"]


def test_backfill_logs_the_startup_line_with_the_config_given_after_the_command(
    tmp_path: Path, processes: list[DaemonProcess]
) -> None:
    config = write_project(tmp_path, '[[providers.static]]\nname = "a"')
    args = ("backfill", "--since", "2026-01-01", "--until", "2026-01-02")
    daemon = DaemonProcess(*args, "--config", str(config), cwd=tmp_path)
    processes.append(daemon)
    assert 0 == daemon.wait(timeout=60), daemon.events
    line = daemon.wait_for("costpipe_starting")
    assert ("backfill", ["static.a"]) == (line["command"], line["providers"])
    assert "static.a: ok, 72 records\n" in daemon.stdout


def test_an_option_before_the_command_is_not_undone_by_the_command(tmp_path: Path) -> None:
    from costpipe.cli import build_parser

    args = build_parser().parse_args(["--config", "a.toml", "--log-level", "debug", "check"])
    assert ("a.toml", "debug", "auto") == (args.config, args.log_level, args.log_format)
    args = build_parser().parse_args(["check", "--config", "b.toml", "--log-format", "json"])
    assert ("b.toml", "info", "json") == (args.config, args.log_level, args.log_format)


def get_json(url: str) -> tuple[int, dict[str, object]]:
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_sighup_reloads_the_config_and_keeps_the_old_one_when_the_new_is_invalid(
    tmp_path: Path, processes: list[DaemonProcess]
) -> None:
    """SIGHUP used to kill the daemon (exit 129, no flush)."""
    config = write_project(tmp_path, '[[providers.static]]\nname = "a"')
    daemon = DaemonProcess("run", "--config", str(config), cwd=tmp_path)
    processes.append(daemon)
    url = str(daemon.wait_for("health_listening")["url"])
    daemon.wait_for("pass_done", provider="static.a")

    write_project(tmp_path, '[[providers.static]]\nname = "a"\n[[providers.static]]\nname = "b"')
    daemon.signal(signal.SIGHUP)
    reloaded = daemon.wait_for("config_reloaded")
    assert ["static.a", "static.b"] == reloaded["providers"]
    daemon.wait_for("pass_done", provider="static.b")
    assert {"static.a", "static.b"} == set(get_json(url)[1]["providers"])  # type: ignore[arg-type]

    config.write_text(config.read_text().replace('lookback = "3h"', 'lookbak = "3h"'))
    daemon.signal(signal.SIGHUP)
    failed = daemon.wait_for("config_reload_failed")
    assert "pipeline.lookbak" in str(failed["error"])
    assert "previous configuration" in str(failed["action"])
    assert daemon.process.poll() is None
    status, body = get_json(url)
    assert (200, "ok") == (status, body["status"])

    write_project(tmp_path, '[[providers.static]]\nname = "a"')
    config.write_text(config.read_text().replace('/state"', '/elsewhere"', 1))
    daemon.signal(signal.SIGHUP)
    refused = daemon.wait_for("config_reload_failed")
    assert "pipeline.state_dir changed: restart costpipe" in str(refused["error"])

    daemon.signal(signal.SIGTERM)
    assert 0 == daemon.wait(timeout=30)
    assert not daemon.other_lines, "no traceback"


def test_sighup_stops_run_once_gracefully(tmp_path: Path, processes: list[DaemonProcess]) -> None:
    config = write_project(tmp_path, '[[providers.endless]]\nname = "a"')
    daemon = DaemonProcess("run", "--once", "--config", str(config), cwd=tmp_path)
    processes.append(daemon)
    daemon.wait_for("endless_paging")
    daemon.signal(signal.SIGHUP)
    assert 1 == daemon.wait(timeout=30)
    assert "SIGHUP" == daemon.wait_for("stopping")["signal"]
    daemon.wait_for("pass_stopped", provider="endless.a")
