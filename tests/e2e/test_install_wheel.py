"""The install in docs/operations.md works as written, on a clean clone.

The "## Install" shell block is run as one script, with three substitutions
that keep it on this machine: the clone comes from this repository instead of
its public address, ``sudo`` is dropped, and ``/opt/costpipe`` is a folder of
the test. Everything else (a venv for ``build``, ``python -m build --wheel``,
a fresh venv for the wheel, ``costpipe --version`` and ``costpipe check`` on
the example config) runs exactly as a reader would type it.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

import costpipe
from tests.e2e.venvs import ROOT, run

OPERATIONS = ROOT / "docs" / "operations.md"
PUBLIC_CLONE = "git clone https://github.com/costpipe/costpipe.git"


def install_block() -> str:
    text = OPERATIONS.read_text(encoding="utf-8")
    section = text.split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found is not None, "docs/operations.md: the Install section shows no commands"
    return found.group(1)


def test_install_block_builds_a_wheel_of_this_version() -> None:
    """The documented wheel name is the one `python -m build` makes for this version."""
    block = install_block()
    assert PUBLIC_CLONE in block
    # The tags depend on whether the C encoder was compiled (docs/operations.md).
    assert f"dist/costpipe-{costpipe.__version__}-*.whl" in block
    assert not re.search(r"pip install (--upgrade )?costpipe\b", block), "no index serves it"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="the documented install clones with git")
def test_documented_install_runs_on_a_clean_clone(tmp_path: Path) -> None:
    opt = tmp_path / "opt-costpipe"
    script = (
        install_block()
        .replace(PUBLIC_CLONE, f"git clone -q {ROOT} costpipe")
        .replace("sudo ", "")
        .replace("/opt/costpipe", str(opt))
    )
    result = run(script, tmp_path, timeout=900)
    output = result.stdout + result.stderr
    assert f"costpipe {costpipe.__version__}" in output, output
    assert "config config.toml: ok" in output, output
    # The installed program is the wheel's, in its own venv, not this checkout.
    assert [] == list(opt.glob("lib/python*/site-packages/__editable__*"))
    # The price data comes with its pinned dependency (docs/pricing.md).
    assert list(opt.glob("lib/python*/site-packages/genai_prices/data.py"))
    if os.environ.get("CI"):
        # CI has a compiler and Python's headers: the wheel carries the C accelerators.
        assert list(opt.glob("lib/python*/site-packages/costpipe/sinks/influxdb/_speedups*.so"))
        assert list(opt.glob("lib/python*/site-packages/costpipe/providers/_usage_rows*.so"))
