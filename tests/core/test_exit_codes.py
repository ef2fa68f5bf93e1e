"""The exit-code table of ``docs/cli.md`` against real ``costpipe`` processes (15.19).

Each case runs the CLI as a user would and checks its exit code; the table must
list that (command, code) pair with a ✓, and every ✓ row of the table must be
exercised by a case here, so the page and the program cannot drift apart.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from costpipe.testing.network import free_port

DOC = Path(__file__).parents[2] / "docs" / "cli.md"

PLUGIN = """
from costpipe import hookimpl
from costpipe.testing.static import StaticProvider

@hookimpl
def register_providers():
    return [StaticProvider]
"""


def documented() -> list[tuple[str, int, bool]]:
    """``(command, code, tested)`` of every row of the exit-code table."""
    text = DOC.read_text()
    table = text[text.index("## Exit codes") :]
    rows = re.findall(
        r"^\| (`[^|]+`|any command|[^|]+?) \| ([012]) \| [^|]+ \| (✓?) ?\|$", table, re.M
    )
    assert len(rows) >= 15, rows
    return [
        (command.replace("`", "").strip(), int(code), bool(tick)) for command, code, tick in rows
    ]


@dataclass(frozen=True)
class Case:
    name: str
    command: str
    """As the table's first column names it."""
    code: int
    args: tuple[str, ...]
    provider: str = ""
    """Extra lines for the ``[[providers.static]]`` table."""
    extra: str = ""
    """More TOML appended to the config."""
    health: str = "enabled = false"
    """The ``[health]`` table; ``{busy}`` is a port another socket listens on."""


SINCE = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
UNDELIVERABLE = """
[[budgets]]
name = "tiny"
amount_usd = 0.01
period = "month"
thresholds = [100]
notify = ["ops"]

[alerts]
max_attempts = 1

[[notifiers.email]]
name = "ops"
host = "127.0.0.1"
port = {port}
starttls = false
from_addr = "costpipe@example.org"
to = ["finops@example.org"]
timeout = "5s"
"""

CASES = [
    Case("missing config", "any command", 2, ("--config", "missing.toml", "check")),
    Case("malformed --since", "any command", 2, ("backfill", "--since", "last week")),
    Case("health port taken", "run", 2, ("run",), health="port = {busy}"),
    Case("one good pass", "run --once", 0, ("run", "--once")),
    Case("refused key", "run --once", 1, ("run", "--once"), provider='fail = "auth"'),
    Case("notification not delivered", "run --once", 1, ("run", "--once"), extra=UNDELIVERABLE),
    Case("good backfill", "backfill", 0, ("backfill", "--since", SINCE)),
    Case(
        "failing backfill", "backfill", 1, ("backfill", "--since", SINCE), provider='fail = "auth"'
    ),
    Case(
        "until before since", "backfill", 2, ("backfill", "--since", SINCE, "--until", "2020-01-01")
    ),
    Case("valid config", "check", 0, ("check",)),
    Case("unreachable notifier", "check --connect", 1, ("check", "--connect"), extra=UNDELIVERABLE),
    Case("plugins", "plugins", 0, ("plugins",)),
    Case("no dead letters", "deadletter list", 0, ("deadletter", "list")),
    Case("nothing to replay", "deadletter replay", 0, ("deadletter", "replay")),
    Case("unknown sink", "deadletter replay", 2, ("deadletter", "replay", "--sink", "nope")),
    Case("reprice the store", "reprice", 0, ("reprice", "--since", SINCE)),
    Case(
        "reprice until before since",
        "reprice",
        2,
        ("reprice", "--since", SINCE, "--until", "2020-01-01"),
    ),
]


def write_config(tmp_path: Path, case: Case, busy: int) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "static_source.py").write_text(PLUGIN)
    (tmp_path / "config.toml").write_text(
        f"""
[pipeline]
plugin_dirs = ["plugins"]
state_dir = "state"
lookback = "3h"

[[providers.static]]
name = "main"
{case.provider}

[[sinks.sqlite]]
path = "costs.sqlite"

[health]
{case.health.format(busy=busy)}
"""
        + case.extra.format(port=free_port())
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_exit_code_matches_the_table(case: Case, tmp_path: Path) -> None:
    assert (case.command, case.code, True) in documented(), f"docs/cli.md has no ✓ row for {case}"
    taken = socket.create_server(("127.0.0.1", 0))  # listening: [health] cannot bind it
    write_config(tmp_path, case, taken.getsockname()[1])
    env = {k: v for k, v in os.environ.items() if k != "COSTPIPE_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-m", "costpipe", "--log-format", "json", *case.args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    taken.close()
    assert done.returncode == case.code, done.stdout + done.stderr[-3000:]
    assert "Traceback" not in done.stderr


def test_every_tested_row_of_the_table_has_a_case() -> None:
    covered = {(c.command, c.code) for c in CASES}
    tested = {(command, code) for command, code, tick in documented() if tick}
    assert tested <= covered, tested - covered
