"""Fresh virtual environments with costpipe installed as a user installs it.

The install, tutorial and example-plugin tests each create their own venv
(no ``--system-site-packages``: nothing leaks in from the test's environment)
and install a costpipe wheel built from this checkout with ``python -m build``,
the documented install. The wheel is built once per test session and reused;
dependencies come from the package index through pip's cache.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_wheels: dict[str, Path] = {}


def run(
    args: list[str] | str,
    cwd: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command (a list, or a string for bash); on failure show its output."""
    command = ["bash", "-euo", "pipefail", "-c", args] if isinstance(args, str) else args
    result = subprocess.run(
        command,
        cwd=cwd,
        env={**clean_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args!r} exited {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def clean_env() -> dict[str, str]:
    """The environment without the test venv's traces (a user's shell has none)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT / ".venv"))
    )
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def costpipe_wheel(factory: pytest.TempPathFactory) -> Path:
    """``python -m build --wheel`` of this checkout, built once per session."""
    if "costpipe" not in _wheels:
        out = factory.mktemp("costpipe-wheel")
        run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)], ROOT)
        [wheel] = out.glob("costpipe-*.whl")
        _wheels["costpipe"] = wheel
    return _wheels["costpipe"]


def new_venv(folder: Path) -> Path:
    """A fresh venv in *folder*; returns its ``bin`` directory."""
    run([sys.executable, "-m", "venv", str(folder)], folder.parent)
    return folder / "bin"
