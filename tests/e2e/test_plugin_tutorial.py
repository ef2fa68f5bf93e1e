"""docs/plugins.md runs as written, and the example plugins work outside this repository.

How docs/plugins.md marks its code blocks (the info string after the fence):

* ```` ```python title="costpipe-gateway/src/costpipe_gateway/__init__.py" ````:
  part of a file of the tutorial's project. Blocks with the same title are
  joined in order, so a file can be explained piece by piece. The test writes
  every such file into an empty folder.
* ```` ```sh run ````: commands the reader types, one per line (text after
  ``  #`` is a comment). Every command must have a runner in ``COMMANDS`` below.
* ```` ```text output ````: what the command block just before it prints; every
  line except ``...`` must appear in the real output.
* ```` ```text tree ````: the project's folder; it must list exactly the files
  the titled blocks make.
* ```` ```python illustration ```` (any language): an excerpt shown for
  reading, not run.

Any other block (a fence with no title and no mark) fails
``test_every_code_block_has_a_runner``, so the tutorial and this test cannot
drift apart. The tutorial's files are also the example package in
``plugins/costpipe-gateway`` (checked byte for byte), whose tests run in the
main suite.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
import sqlite3
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp import web

from tests.e2e.venvs import ROOT, costpipe_wheel, new_venv, run

DOC = ROOT / "docs" / "plugins.md"
PLUGINS = ROOT / "plugins"
FENCE = re.compile(r"^```(\S*)([^\n]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
TITLE = re.compile(r'title="([^"]+)"')
COPY_IGNORE = shutil.ignore_patterns(
    "__pycache__", "*.egg-info", ".pytest_cache", "build", "dist", ".venv"
)


@dataclass
class Block:
    language: str
    marks: str
    body: str
    line: int

    @property
    def title(self) -> str | None:
        found = TITLE.search(self.marks)
        return found.group(1) if found else None

    def marked(self, word: str) -> bool:
        return word in self.marks.split()


def blocks() -> list[Block]:
    text = DOC.read_text(encoding="utf-8")
    return [
        Block(m.group(1), m.group(2).strip(), m.group(3), text.count("\n", 0, m.start()) + 1)
        for m in FENCE.finditer(text)
    ]


def tutorial_files() -> dict[str, str]:
    files: dict[str, str] = {}
    for block in blocks():
        if block.title:
            before = files.get(block.title)
            files[block.title] = block.body if before is None else before + "\n" + block.body
    return files


def commands(block: Block) -> list[str]:
    found = []
    for line in block.body.splitlines():
        line = line.split("  #")[0].strip()
        if line:
            found.append(line)
    return found


def same_text(expected: str, actual: str) -> bool:
    """Equal up to runs of blank lines (the tutorial joins parts with one)."""

    def squeeze(text: str) -> str:
        return re.sub(r"\n{3,}", "\n\n", text).strip("\n")

    return squeeze(expected) == squeeze(actual)


# -- a fake of the tutorial's gateway, independent of the tutorial's own fake ------------

TOKEN = "gw-e2e-token-51ac0d7e"
GATEWAY_URL = "https://llm-gateway.internal"
HOUR = timedelta(hours=1)


def gateway_rows(start: datetime, end: datetime) -> list[dict[str, object]]:
    """Two rows an hour, figures derived from the hour."""
    rows: list[dict[str, object]] = []
    hour = start
    while hour < end:
        n = int(hour.timestamp()) // 3600
        for user, team in (("dana", "search"), ("eli", "ads")):
            rows.append(
                {
                    "hour": hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "team": team,
                    "user": user,
                    "model": "gpt-4o-2024-08-06",
                    "requests": 1 + n % 5,
                    "input_tokens": 2000 + n % 300,
                    "cached_input_tokens": n % 200,
                    "output_tokens": 100 + n % 50,
                    "cost_usd": f"0.{n % 89:02d}{len(user)}017",
                }
            )
        hour += HOUR
    return rows


@dataclass
class Gateway:
    url: str
    served: dict[str, dict[str, object]] = field(default_factory=dict)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    """`GET /v1/usage?start=&end=&page=` with a bearer token, 20 rows a page."""
    state = Gateway("")

    async def usage(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "invalid token"}, status=401)
        start = datetime.fromisoformat(request.query["start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(request.query["end"].replace("Z", "+00:00"))
        page = int(request.query["page"])
        rows = gateway_rows(start, end)
        chunk = rows[(page - 1) * 20 : page * 20]
        for row in chunk:
            state.served[f"{row['hour']}/{row['user']}"] = row
        more = page * 20 < len(rows)
        return web.json_response({"rows": chunk, "next_page": page + 1 if more else None})

    app = web.Application()
    app.router.add_get("/v1/usage", usage)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield state
    await runner.cleanup()


# -- the tutorial's commands, each with its runner ---------------------------------------


@dataclass
class Session:
    """The reader's shell: a folder, the venv made there and what the commands printed."""

    folder: Path
    wheel: Path
    gateway: Gateway
    env: dict[str, str] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)

    async def shell(self, command: str, *, env: dict[str, str] | None = None) -> tuple[int, str]:
        result = await asyncio.to_thread(
            run, command, self.folder, env={**self.env, **(env or {})}, check=False
        )
        output = result.stdout + result.stderr
        return result.returncode, output

    async def ok(self, command: str) -> str:
        code, output = await self.shell(command)
        assert 0 == code, f"{command} exited {code}:\n{output[-4000:]}"
        self.outputs.append(output)
        return output


async def run_venv(session: Session, command: str) -> None:
    await session.ok(command)
    assert (session.folder / ".venv" / "bin" / "python").exists()


async def run_install_costpipe(session: Session, command: str) -> None:
    # `pip install ./costpipe` (the clone) is the same as installing its wheel,
    # which is built once per test session from this checkout.
    assert command.endswith(" ./costpipe"), command
    await session.ok(command.removesuffix("./costpipe") + shlex.quote(str(session.wheel)))


async def run_pytest(session: Session, command: str) -> None:
    output = await session.ok(command)
    summary = output.strip().splitlines()[-1]
    assert re.search(r"\b[1-9]\d* passed\b", summary), output[-3000:]
    assert not re.search(r"failed|error|skipped|warning", summary), output[-3000:]


async def run_export(session: Session, command: str) -> None:
    name, _, _example = command.removeprefix("export ").partition("=")
    assert "GATEWAY_TOKEN" == name, command
    session.env[name] = TOKEN  # the fake gateway's token
    session.outputs.append("")


async def run_check_connect(session: Session, command: str) -> None:
    output = await session.ok(command)
    assert re.search(
        r"gateway\.internal\s+ok\s+gateway at http://127\.0\.0\.1:\d+ accepted", output
    )
    # The same check with a refused token fails and names what the token needs.
    code, refused = await session.shell(command, env={"GATEWAY_TOKEN": "wrong-token-1234"})
    assert 1 == code, refused
    assert "usage:read" in refused
    assert "wrong-token-1234" not in refused


async def run_backfill(session: Session, command: str) -> None:
    output = await session.ok(command)
    since = datetime(2026, 3, 10, tzinfo=UTC)
    expected = gateway_rows(since, since + 48 * HOUR)
    assert f"gateway.internal: ok, {len(expected)} records" in output, output
    # What the store holds is exactly what the gateway served, to the last digit.
    with sqlite3.connect(session.folder / ".costpipe" / "costs.sqlite") as db:
        stored = db.execute(
            "SELECT cost_usd, user_id FROM costs"
            " WHERE provider = 'gateway' AND cost_source != 'allocated'"
        )
        rows = stored.fetchall()
        # The plugin's rows are billed, so allocation adds their `allocated` copies
        # (docs/allocation.md): every billed cell is kept whole, to the digit.
        allocated = db.execute(
            "SELECT cost_usd FROM costs WHERE provider = 'gateway' AND cost_source = 'allocated'"
        ).fetchall()
    assert len(expected) == len(rows)
    served = sum((Decimal(str(r["cost_usd"])) for r in expected), Decimal(0))
    assert served == sum((Decimal(cost) for cost, _user in rows), Decimal(0))
    assert served == sum((Decimal(cost) for (cost,) in allocated), Decimal(0))
    assert {"dana", "eli"} == {user for _cost, user in rows}


async def run_build(session: Session, command: str) -> None:
    await session.ok(command)
    [wheel] = (session.folder / "costpipe-gateway" / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [entry_points] = [n for n in names if n.endswith("entry_points.txt")]
        text = archive.read(entry_points).decode()
    assert "costpipe_gateway/__init__.py" in names
    assert "costpipe_gateway/py.typed" in names
    assert "[costpipe]\ngateway = costpipe_gateway" in text


COMMANDS = {
    "python3 -m venv .venv": run_venv,
    ".venv/bin/pip install ./costpipe": run_install_costpipe,
    ".venv/bin/pip install -e './costpipe-gateway[test]'": Session.ok,
    ".venv/bin/pytest costpipe-gateway": run_pytest,
    ".venv/bin/costpipe plugins": Session.ok,
    "export GATEWAY_TOKEN=...": run_export,
    ".venv/bin/costpipe check --connect": run_check_connect,
    ".venv/bin/costpipe backfill --since 2026-03-10 --until 2026-03-12": run_backfill,
    ".venv/bin/pip install build": Session.ok,
    ".venv/bin/python -m build ./costpipe-gateway": run_build,
}


def check_output(block: Block, printed: str) -> None:
    """Every line of an output block, but `...`, appears in what was printed."""
    lines = {" ".join(line.split()) for line in printed.splitlines()}
    for line in block.body.splitlines():
        if line.strip() and line.strip() != "...":
            assert " ".join(line.split()) in lines, f"line {block.line}: {line!r} not in\n{printed}"


# -- the tests ---------------------------------------------------------------------------


def test_every_code_block_has_a_runner() -> None:
    found = blocks()
    assert len(found) > 20
    for block in found:
        placed = (
            block.title
            or block.marked("illustration")
            or block.marked("tree")
            or block.marked("output")
            or block.marked("run")
        )
        assert placed, f"docs/plugins.md line {block.line}: a code block with no runner"
        if block.marked("run"):
            for command in commands(block):
                assert command in COMMANDS, f"line {block.line}: no runner for {command!r}"


def test_the_folder_lists_the_package_files() -> None:
    [tree] = [b for b in blocks() if b.marked("tree")]
    listed = {
        "costpipe-gateway/" + line.strip() for line in tree.body.splitlines()[1:] if line.strip()
    }
    assert set(tutorial_files()) - {"config.toml"} == listed


def test_the_tutorial_is_the_example_package() -> None:
    """plugins/costpipe-gateway holds the tutorial's files, so its tests run in CI too."""
    for name, text in tutorial_files().items():
        if name.startswith("costpipe-gateway/") and name != "costpipe-gateway/README.md":
            shipped = (PLUGINS / name).read_text(encoding="utf-8")
            assert same_text(shipped, text), f"{name} differs from plugins/{name}"


@pytest.mark.slow
async def test_the_tutorial_runs_as_written(
    tmp_path_factory: pytest.TempPathFactory, gateway: Gateway
) -> None:
    """From an empty folder: write the files, run every command, check what they print."""
    wheel = costpipe_wheel(tmp_path_factory)
    folder = tmp_path_factory.mktemp("tutorial")
    for name, text in tutorial_files().items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name == "config.toml":
            # The tutorial points at its own gateway; the test substitutes its fake.
            assert GATEWAY_URL in text
            text = text.replace(GATEWAY_URL, gateway.url)
        path.write_text(text, encoding="utf-8")
    session = Session(folder, wheel, gateway)
    ran = 0
    for block in blocks():
        if block.marked("run"):
            for command in commands(block):
                await COMMANDS[command](session, command)
                ran += 1
        elif block.marked("output"):
            check_output(block, session.outputs[-1])
    assert len(COMMANDS) == ran, "every runner is used by the tutorial"
    assert gateway.served, "the backfill read the fake gateway"


@pytest.mark.slow
def test_example_plugins_pass_their_tests_outside_the_repository(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each example copied out of the repository, installed as a user would with its
    test extra (one venv for both, to save an install), runs its own tests."""
    names = sorted(p.name for p in PLUGINS.iterdir() if (p / "pyproject.toml").exists())
    assert ["costpipe-discord", "costpipe-gateway"] == names
    wheel = costpipe_wheel(tmp_path_factory)
    for name in names:
        shutil.copytree(PLUGINS / name, tmp_path / name, ignore=COPY_IGNORE)
    bin_dir = new_venv(tmp_path / "venv")
    extras = [f"{tmp_path / name}[test]" for name in names]
    run([str(bin_dir / "pip"), "install", "-q", str(wheel), *extras], tmp_path)
    for name in names:
        result = run(
            [str(bin_dir / "pytest"), "-p", "no:cacheprovider"], tmp_path / name, check=False
        )
        output = result.stdout + result.stderr
        assert 0 == result.returncode, f"{name}:\n{output[-4000:]}"
        summary = output.strip().splitlines()[-1]
        assert re.search(r"\b[1-9]\d* passed\b", summary), f"{name}: {output[-3000:]}"
        assert not re.search(r"failed|error|skipped", summary), f"{name}: {output[-3000:]}"
