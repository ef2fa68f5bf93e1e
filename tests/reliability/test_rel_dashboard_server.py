"""The dashboard's query path and its server, without a browser.

* :func:`compute_view` over a real SQLite store and a real InfluxDB holding
  hostile ``project_id`` values: each hostile filter value matches exactly its
  own record, a hostile value in another dimension matches nothing, hostile
  group-by and filter dimension names are refused by the whitelist, and the
  store is intact afterwards.
* Basic auth over raw HTTP (aiohttp): every route of the running app that can
  carry data refuses a request without the login cookie, including the ``/ws``
  upgrade; the same requests with the cookie succeed (so the test can fail).
* ``costpipe dashboard`` without ``--address`` listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from costpipe.config.settings import ComponentSpec
from costpipe.dashboard.server import BackgroundDashboard, DashboardServer
from costpipe.dashboard.viewmodel import Selection, compute_view
from costpipe.query.api import Basis, CostReader
from costpipe.records import CostRecord
from costpipe.testing.influxd import InfluxdServer

from ..dashboard.conftest import NOW, TIMEZONE
from .dashboard_support import (
    HOSTILE,
    HOSTILE_DIMENSIONS,
    PLAIN,
    fill,
    hostile_records,
    open_sink,
    settings_for,
    sink_spec,
    store_totals,
    stored_value,
)


@pytest.fixture(params=["sqlite", "influxdb"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, ComponentSpec, CostReader]]:
    """A filled store of each kind and a reader on it (InfluxDB: its own database)."""
    kind: str = request.param
    if kind == "sqlite":
        spec = sink_spec(kind, tmp_path / "costs.sqlite")
    else:
        influxd: InfluxdServer = request.getfixturevalue("influxd")
        spec = sink_spec(kind, influxd.url, database="rel_dashboard_viewmodel")
    await fill(spec, tmp_path, hostile_records())
    sink = open_sink(spec, tmp_path)
    await sink.start()
    reader = sink.reader()
    assert reader is not None
    try:
        yield kind, spec, reader
    finally:
        await sink.close()


def _cost(records: list[CostRecord], *projects: str) -> Decimal:
    return sum((r.cost_usd for r in records if r.project_id in projects), Decimal(0))


async def test_hostile_filter_values_match_only_themselves(
    store: tuple[str, ComponentSpec, CostReader], tmp_path: Path
) -> None:
    kind, spec, reader = store
    records = hostile_records()
    before = await store_totals(spec, tmp_path)
    assert before == (_cost(records, *PLAIN, *HOSTILE), Decimal(0), len(PLAIN) + len(HOSTILE))
    for value in HOSTILE:
        # Exactly the one record whose project is the hostile string.
        view = await compute_view(
            reader,
            Selection(group_by="project_id", basis=Basis.BILLED, filters={"project_id": (value,)}),
            now=NOW,
            timezone=TIMEZONE,
        )
        assert view.total == _cost(records, value), value[:40]
        assert [(r.group, r.cost_usd) for r in view.table] == [
            (stored_value(kind, value), _cost(records, value))
        ]
        assert sum(p.cost_usd for p in view.series) == _cost(records, value)
        # Together with a plain value: the union, nothing more.
        both = await compute_view(
            reader,
            Selection(basis=Basis.BILLED, filters={"project_id": (value, "proj_a")}),
            now=NOW,
            timezone=TIMEZONE,
        )
        assert both.total == _cost(records, value, "proj_a"), value[:40]
        # No model, provider or user is called that: nothing matches.
        for dimension in ("model", "provider", "user_id", "api_key_id", "team"):
            empty = await compute_view(
                reader,
                Selection(basis=Basis.BILLED, filters={dimension: (value,)}),
                now=NOW,
                timezone=TIMEZONE,
            )
            assert (empty.total, empty.table, empty.series) == (Decimal(0), [], []), dimension
            assert empty.is_empty
    assert await store_totals(spec, tmp_path) == before


async def test_hostile_dimension_names_are_refused_by_the_whitelist(
    store: tuple[str, ComponentSpec, CostReader], tmp_path: Path
) -> None:
    _, spec, reader = store
    before = await store_totals(spec, tmp_path)
    for name in HOSTILE_DIMENSIONS:
        with pytest.raises(ValueError, match="unknown dimension"):
            await compute_view(reader, Selection(group_by=name), now=NOW, timezone=TIMEZONE)
        with pytest.raises(ValueError, match="unknown dimension"):
            await compute_view(
                reader, Selection(filters={name: ("proj_a",)}), now=NOW, timezone=TIMEZONE
            )
    # The real tag works, so the refusals above are the whitelist, not a broken reader.
    billed = Selection(group_by="team", basis=Basis.BILLED)  # the records are billed
    view = await compute_view(reader, billed, now=NOW, timezone=TIMEZONE)
    assert [r.group for r in view.table] == ["blue"]
    assert await store_totals(spec, tmp_path) == before


# -- basic auth over raw HTTP ------------------------------------------------------

WS_HEADERS = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


def _routes(port: int) -> dict[str, str]:
    """Every data-bearing route of the app (the page, the embed script, the
    session metadata) with the query each needs."""
    base = f"http://127.0.0.1:{port}"
    return {
        "/": "",
        "/autoload.js": f"?bokeh-autoload-element=x&bokeh-app-path=/&bokeh-absolute-url={base}",
        "/metadata": "",
    }


async def _probe(session: aiohttp.ClientSession, port: int) -> dict[str, int]:
    base = f"http://127.0.0.1:{port}"
    statuses = {}
    for path, query in _routes(port).items():
        async with session.get(base + path + query, allow_redirects=False) as response:
            statuses[path] = response.status
            if response.status == 200:
                # A refused request must not carry the app's payload either.
                statuses[path + " body"] = len(await response.read())
    async with session.get(
        f"{base}/ws", headers={**WS_HEADERS, "Origin": base}, allow_redirects=False
    ) as response:
        statuses["/ws"] = response.status
    return statuses


async def test_basic_auth_guards_every_data_route_and_the_websocket(tmp_path: Path) -> None:
    spec = sink_spec("sqlite", tmp_path / "costs.sqlite")
    await fill(spec, tmp_path, hostile_records())
    server = DashboardServer(
        settings_for(spec, tmp_path), port=0, basic_auth="finance:pa:ss", clock=lambda: NOW
    )
    with BackgroundDashboard(server) as port:
        base = f"http://127.0.0.1:{port}"
        # The handlers the app really has: a new route must be added to this test.
        patterns = {
            rule.matcher.regex.pattern for rule in server._server._tornado.wildcard_router.rules
        }
        assert patterns == {
            "/?$",
            "/ws$",
            "/autoload.js$",
            "/metadata$",
            "/favicon.ico$",
            "/login$",
            "/logout$",
            "/components/(.*)$",
            "/static/(.*)$",
            "/static/(?!extensions/)(.*)$",
            "/static/extensions/(.*)$",
        }
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as anonymous:
            refused = await _probe(anonymous, port)
            # No cookie: redirected to the login page or refused, never served.
            assert all(status in (302, 401, 403) for status in refused.values()), refused
            async with anonymous.post(
                f"{base}/login",
                data={"username": "finance", "password": "wrong"},
                headers={"Origin": base},
                allow_redirects=False,
            ) as response:
                assert response.status != 302 or "user" not in response.cookies
            assert await _probe(anonymous, port) == refused
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as user:
            async with user.post(
                f"{base}/login",
                data={"username": "finance", "password": "pa:ss"},
                headers={"Origin": base},
                allow_redirects=False,
            ) as response:
                assert response.status == 303
            allowed = await _probe(user, port)
            assert {allowed[p] for p in ("/", "/autoload.js", "/ws")} == {200, 101}, allowed
            assert allowed["/"] == 200, allowed
            assert allowed["/ws"] == 101, allowed


# -- the default bind ----------------------------------------------------------------


def _listening(port: int) -> list[str]:
    """Local addresses of the TCP sockets listening on *port* (from /proc/net)."""
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        if not os.path.exists(table):
            continue
        with open(table, encoding="ascii") as handle:
            next(handle)
            for line in handle:
                fields = line.split()
                address, hex_port = fields[1].split(":")
                if fields[3] != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                    continue
                raw = bytes.fromhex(address)
                # /proc stores each 32-bit word in host (little-endian) order.
                words = [raw[i : i + 4][::-1] for i in range(0, width // 2, 4)]
                family = socket.AF_INET if width == 8 else socket.AF_INET6
                found.append(socket.inet_ntop(family, b"".join(words)))
    return found


async def test_costpipe_dashboard_listens_on_loopback_only_by_default(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[pipeline]\nstate_dir = "{tmp_path}"\n'
        f'[[sinks.sqlite]]\npath = "{tmp_path / "costs.sqlite"}"\n'
        "[dashboard]\nport = 0\n",
        encoding="utf-8",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "costpipe",
        "--config",
        str(config),
        "dashboard",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert line.startswith("costpipe dashboard on http://127.0.0.1:"), line
        port = int(line.rsplit(":", 1)[1].strip(" /\n"))
        assert _listening(port) == ["127.0.0.1"]
        # The kernel's socket table proves the bind; this workplace's rules keep
        # test traffic on loopback, so no connection to another address is tried.
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        await writer.wait_closed()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0, stderr.decode()
    assert b"warning" not in stderr
