"""The `costpipe` command as users run it: a real process, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = """
from costpipe import hookimpl
from costpipe.testing.static import StaticProvider

@hookimpl
def register_providers():
    return [StaticProvider]
"""


def costpipe(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "COSTPIPE_CONFIG"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "costpipe", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "static_source.py").write_text(PLUGIN)
    return tmp_path


def test_a_malformed_config_exits_2_naming_the_path_without_traceback(project: Path) -> None:
    (project / "config.toml").write_text(
        '[pipeline]\nplugin_dirs = ["plugins"]\n[[providers.static]]\nrows_per_hour = "lots"\n'
    )
    done = costpipe("check", cwd=project)
    assert done.returncode == 2
    assert "providers.static[0].rows_per_hour" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_invalid_toml_exits_2(project: Path) -> None:
    (project / "config.toml").write_text("[pipeline\n")
    done = costpipe("check", cwd=project)
    assert done.returncode == 2
    assert "is not valid TOML" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_credential_is_reported_before_any_request(project: Path) -> None:
    (project / "config.toml").write_text(
        '[pipeline]\nplugin_dirs = ["plugins"]\n[[providers.static]]\nname = "${SOURCE_NAME}"\n'
    )
    done = costpipe("run", "--once", cwd=project)
    assert done.returncode == 2
    assert "providers.static[0].name: environment variable SOURCE_NAME is not set" in done.stderr


def test_config_file_from_the_environment(project: Path) -> None:
    (project / "other.toml").write_text("[pipeline]\nbogus = 1\n")
    done = costpipe("check", cwd=project, env={"COSTPIPE_CONFIG": "other.toml"})
    assert done.returncode == 2
    assert "pipeline.bogus: unknown key" in done.stderr


def test_check_accepts_a_good_config(project: Path) -> None:
    (project / "config.toml").write_text(
        '[pipeline]\nplugin_dirs = ["plugins"]\n[[providers.static]]\nname = "demo"\n'
    )
    done = costpipe("check", "--connect", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "static.demo" in done.stdout
    assert "ok" in done.stdout


def test_plugins_lists_loose_file_plugins_with_their_components(project: Path) -> None:
    (project / "config.toml").write_text('[pipeline]\nplugin_dirs = ["plugins"]\n')
    done = costpipe("plugins", cwd=project)
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("static_source"))
    assert "providers.static" in line


def test_run_once_exits_1_when_a_provider_fails(project: Path) -> None:
    (project / "config.toml").write_text(
        '[pipeline]\nplugin_dirs = ["plugins"]\nlookback = "2h"\n'
        '[[providers.static]]\nname = "good"\n'
        '[[providers.static]]\nname = "bad"\nfail = "auth"\n'
    )
    done = costpipe("run", "--once", cwd=project)
    assert done.returncode == 1, done.stderr
    assert "provider_failed" in done.stderr
    assert "static.bad" in done.stderr
