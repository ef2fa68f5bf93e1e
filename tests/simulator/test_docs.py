"""docs/simulator.md stays true: its console block is what ``costpipe simulate``
prints, every fault it documents exists, and it links only to files that exist."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shlex
from pathlib import Path

import pytest

from costpipe.simulator import FaultOptions
from costpipe.simulator.cli import run_from_args
from tests.simulator.test_cli import _parse

DOC = Path(__file__).resolve().parents[2] / "docs" / "simulator.md"


def _console_block() -> tuple[list[str], str]:
    match = re.search(r"```console\n\$ costpipe simulate (.*?)\n(.*?)```", DOC.read_text(), re.S)
    assert match, "docs/simulator.md has no `costpipe simulate` console block"
    return shlex.split(match.group(1)), match.group(2)


async def test_the_console_block_is_the_real_output(capsys: pytest.CaptureFixture[str]) -> None:
    argv, documented = _console_block()
    port = argv[argv.index("--port") + 1]
    argv[argv.index("--port") + 1] = "0"  # the documented port may be taken here
    task = asyncio.create_task(run_from_args(_parse(*argv)))
    printed = ""
    while "control" not in printed:
        await asyncio.sleep(0.01)
        assert not task.done()
        printed += capsys.readouterr().out
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    bound = re.search(r"http://127\.0\.0\.1:(\d+)", printed)
    assert bound
    assert printed.replace(f":{bound.group(1)}", f":{port}") == documented


def test_every_fault_is_documented_and_every_link_exists() -> None:
    text = DOC.read_text()
    for field in dataclasses.fields(FaultOptions):
        assert f"`{field.name}`" in text, f"fault {field.name} is not in docs/simulator.md"
    for target in re.findall(r"\]\(([^)#:]+)\)", text):
        assert (DOC.parent / target).exists(), f"docs/simulator.md links to missing {target}"
    for name in re.findall(r"`([\w-]+\.md)`", text):
        assert (DOC.parent / name).exists(), f"docs/simulator.md cites missing {name}"
