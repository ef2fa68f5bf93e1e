"""The dashboard in Debian's Chromium, attacked through its controls.

* Injection: over a SQLite store and a real InfluxDB whose ``project_id``
  values are hostile strings (quotes, ``; DROP``, regex slashes, backslashes,
  unicode, 10 kB), the page's filter and control models are set from the page's
  JavaScript exactly as a (malicious) client would send them over the
  websocket. A hostile value the store holds shows exactly that record's
  figure; a value the store does not offer is dropped by the widget (the page
  shows the unfiltered figures and an empty filter); a hostile group-by or
  date range is refused and the page keeps correct figures; no page error; the
  store's totals are unchanged afterwards.
* Basic auth in the browser: without the login cookie the websocket does not
  open and ``autoload.js`` leads to the login page.
* Secrets (item 6): with every secret of the config a unique marker, the HTML,
  every script and JSON the browser loads, and every websocket frame in both
  directions are free of markers.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Page, WebSocket, expect

from costpipe.config.settings import ComponentSpec, load_config
from costpipe.dashboard.formatting import format_exact, format_usd
from costpipe.dashboard.server import BackgroundDashboard, DashboardServer
from costpipe.plugins import build_plugin_manager
from costpipe.testing.influxd import InfluxdServer

from ..dashboard.conftest import NOW, chromium, loopback_only  # noqa: F401  (the module-scoped browser)
from .dashboard_support import (
    HOSTILE,
    PLAIN,
    fill,
    hostile_records,
    settings_for,
    sink_spec,
    store_totals,
    stored_value,
)

pytestmark = pytest.mark.browser

T = TypeVar("T")


@pytest.fixture
def page(chromium: Any) -> Iterator[Page]:  # noqa: F811
    """A fresh context whose requests may only go to loopback."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    with loopback_only(context):
        yield context.new_page()
        context.close()


def run_async(function: Callable[[], Coroutine[Any, Any, T]]) -> T:
    # In a thread: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, function()).result()


#: Set a Bokeh model's property in the page; the change goes to the server as a
#: websocket PATCH-DOC, as if the widget had been used (or a client forged it).
SET_MODEL = """([type, title, attr, value]) => {
    const models = [...Bokeh.documents[0]._all_models.values()];
    const chosen = models.filter((m) => m.type.endsWith(type) && (title === null || m.title === title));
    if (chosen.length === 0) throw new Error(`no ${type} ${title}`);
    for (const model of chosen) model[attr] = value;
}"""
GET_MODEL = """([type, title, attr]) => {
    const models = [...Bokeh.documents[0]._all_models.values()];
    return models.find((m) => m.type.endsWith(type) && m.title === title)[attr];
}"""


def _set(page: Page, kind: str, title: str, attr: str, value: object) -> None:
    page.evaluate(SET_MODEL, [kind, title, attr, value])


def _change(page: Page, kind: str, title: str, attr: str, value: object) -> None:
    """Set a control and wait until the page shows the refresh it causes."""
    generation = _range_generation(page)
    _set(page, kind, title, attr, value)
    _expect_refresh(page, generation)


def _range_generation(page: Page) -> int:
    return int(page.get_by_test_id("range").get_attribute("data-generation") or 0)


def _expect_refresh(page: Page, after: int) -> None:
    """Wait until the page shows a refresh newer than *after* (generations only grow)."""
    expect(page.get_by_test_id("range")).not_to_have_attribute(
        "data-generation", str(after), timeout=20_000
    )


@pytest.mark.parametrize("kind", ["sqlite", "influxdb"])
def test_hostile_values_through_every_control_show_correct_figures(
    kind: str, page: Page, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    records = hostile_records()
    if kind == "sqlite":
        spec: ComponentSpec = sink_spec(kind, tmp_path / "costs.sqlite")
    else:
        influxd: InfluxdServer = request.getfixturevalue("influxd")
        spec = sink_spec(kind, influxd.url, database="rel_dashboard_browser")
    run_async(lambda: fill(spec, tmp_path, records))
    before = run_async(lambda: store_totals(spec, tmp_path))
    everything = sum((r.cost_usd for r in records), Decimal(0))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    server = DashboardServer(settings_for(spec, tmp_path), port=0, clock=lambda: NOW)
    with BackgroundDashboard(server) as port:
        page.goto(f"http://127.0.0.1:{port}/")
        total = page.get_by_test_id("total")
        # The records are billed; the page opens on best (nothing allocated here).
        page.get_by_role("button", name="Billed").click()
        expect(total).to_have_text(format_usd(everything))
        # The widget holds each value escaped (its labels are HTML); the server
        # maps the label back to the raw value the store holds.
        offered = page.evaluate(GET_MODEL, ["MultiChoice", "Project filter", "options"])
        assert sorted(offered) == sorted(
            html.escape(stored_value(kind, p), quote=True) for p in (*PLAIN, *HOSTILE)
        )

        # A hostile value the store holds: exactly its own record, nothing more.
        for record in records[len(PLAIN) :]:
            option = html.escape(stored_value(kind, record.project_id), quote=True)
            _change(page, "MultiChoice", "Project filter", "value", [option])
            expect(total).to_have_text(format_usd(record.cost_usd))
            cells = page.get_by_test_id("breakdown").locator("tbody td:nth-child(2)")
            expect(cells).to_have_text([format_exact(record.cost_usd)])
        _change(page, "MultiChoice", "Project filter", "value", [])
        expect(total).to_have_text(format_usd(everything))

        # Values the store does not offer (forged client messages) are dropped by
        # the widget: unfiltered figures, and the filter shows nothing chosen.
        o3 = sum((r.cost_usd for r in records if r.model == "o3-2025-04-16"), Decimal(0))
        for title in ("Model filter", "Provider filter"):
            chosen = "o3-2025-04-16" if title == "Model filter" else "openai"
            _change(page, "MultiChoice", title, "value", [chosen, *HOSTILE])
            expect(total).to_have_text(format_usd(o3 if title == "Model filter" else everything))
            _change(page, "MultiChoice", title, "value", [])
            expect(total).to_have_text(format_usd(everything))
        assert page.evaluate(GET_MODEL, ["MultiChoice", "Model filter", "value"]) == []

        # Hostile group-by, date range, granularity and basis values: refused,
        # the page keeps the right figures and stays usable.
        for value in (*HOSTILE, "project_id; DROP TABLE costs"):
            _set(page, "Select", "Group by", "value", value)
            _set(page, "Select", "Date range", "value", value)
        for index in (7, -1, 10**9):
            _set(page, "RadioButtonGroup", None, "active", index)
        _change(page, "Select", "Group by", "value", "project_id")
        expect(page.get_by_test_id("breakdown").locator("th").first).to_have_text("Project")
        expect(page.get_by_test_id("range")).to_contain_text("Last 7 days")
        expect(page.get_by_test_id("range")).to_contain_text("billed cost")
        expect(total).to_have_text(format_usd(everything))
        cells = page.get_by_test_id("breakdown").locator("tbody td:nth-child(2)")
        expect(cells).to_have_count(len(records))
        expect(page.get_by_text("Traceback")).to_have_count(0)
        assert errors == []
    assert run_async(lambda: store_totals(spec, tmp_path)) == before
    assert before[0] == everything


# -- basic auth in the browser -------------------------------------------------------

OPEN_SOCKET = """(url) => new Promise((resolve) => {
    const socket = new WebSocket(url);
    socket.onopen = () => { socket.close(); resolve("open"); };
    socket.onerror = () => resolve("error");
    setTimeout(() => resolve("timeout"), 5000);
})"""


def test_basic_auth_keeps_the_websocket_and_autoload_closed_in_the_browser(
    page: Page, tmp_path: Path
) -> None:
    spec = sink_spec("sqlite", tmp_path / "costs.sqlite")
    run_async(lambda: fill(spec, tmp_path, hostile_records()))
    server = DashboardServer(
        settings_for(spec, tmp_path), port=0, basic_auth="finance:pw", clock=lambda: NOW
    )
    with BackgroundDashboard(server) as port:
        base = f"http://127.0.0.1:{port}"
        page.goto(base + "/")
        expect(page.locator("input[name=username]")).to_be_visible()
        # Same origin as the app, so only the missing cookie can refuse these.
        assert page.evaluate(OPEN_SOCKET, f"ws://127.0.0.1:{port}/ws") == "error"
        response = page.request.get(
            f"{base}/autoload.js?bokeh-autoload-element=x&bokeh-absolute-url={base}",
            max_redirects=0,
        )
        assert response.status == 302
        assert "/login" in response.headers["location"]
        page.fill("input[name=username]", "finance")
        page.fill("input[name=password]", "pw")
        page.locator("input[name=password]").press("Enter")
        page.get_by_role("button", name="Billed").click()  # the records are billed
        expect(page.get_by_test_id("total")).to_have_text(
            format_usd(sum((r.cost_usd for r in hostile_records()), Decimal(0)))
        )
        # With the cookie the same socket opens: the refusal above was the auth.
        assert page.evaluate(OPEN_SOCKET, f"ws://127.0.0.1:{port}/ws") == "open"


# -- secrets (item 6) ----------------------------------------------------------------

MARKERS = {
    "OPENAI_KEY": "sk-admin-mkOPENAIKEY1a2b",
    "ANTHROPIC_KEY": "sk-ant-admin01-mkANTHROPICKEY3c4d",
    "INFLUX_PASSWORD": "mkINFLUXPASS5e6f",
    "INFLUX_TOKEN": "mkINFLUXTOKEN7a8b",
    "SMTP_PASSWORD": "mkSMTPPASS9c0d",
    "WEBHOOK_URL": "http://127.0.0.1:9/hooks/mkWEBHOOKPATH1e2f",
    "DASH_AUTH": "finance:mkDASHPASS3a4b",
}


def _secret_config(state: Path) -> str:
    return f"""
[pipeline]
state_dir = "{state}"
timezone = "Europe/Berlin"
[dashboard]
basic_auth = "${{DASH_AUTH}}"
store = "sqlite.0"
[[providers.openai]]
api_key = "${{OPENAI_KEY}}"
base_url = "http://127.0.0.1:9/v1"
[[providers.anthropic]]
api_key = "${{ANTHROPIC_KEY}}"
base_url = "http://127.0.0.1:9"
[[sinks.sqlite]]
path = "{state / "costs.sqlite"}"
[[sinks.influxdb]]
url = "http://127.0.0.1:9"
username = "costpipe"
password = "${{INFLUX_PASSWORD}}"
[[sinks.influxdb]]
name = "tokened"
url = "http://127.0.0.1:9"
token = "${{INFLUX_TOKEN}}"
[[notifiers.webhook]]
name = "hook"
url = "${{WEBHOOK_URL}}"
[[notifiers.email]]
name = "mail"
host = "127.0.0.1"
username = "costpipe"
password = "${{SMTP_PASSWORD}}"
from_addr = "costpipe@example.org"
to = ["ops@example.org"]
[[budgets]]
name = "monthly"
amount_usd = 100
period = "month"
notify = ["hook", "mail"]
"""


def test_no_secret_reaches_the_page_its_scripts_or_the_websocket(
    page: Page, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(_secret_config(tmp_path), encoding="utf-8")
    _, registry = build_plugin_manager(entry_points=False)
    settings = load_config(config, registry, env=MARKERS)
    store = next(s for s in settings.sinks if s.instance == "sqlite.0")
    records = hostile_records()
    run_async(lambda: fill(store, tmp_path, records))
    secrets = [v for k, v in MARKERS.items() if k != "DASH_AUTH"]
    secrets += [MARKERS["DASH_AUTH"].partition(":")[2], "mkWEBHOOKPATH1e2f"]

    bodies: list[str] = []
    frames: list[str] = []

    def capture(socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: frames.append(str(payload)))
        socket.on("framesent", lambda payload: frames.append(str(payload)))

    def keep(response: Any) -> None:
        if response.status == 200 and response.request.resource_type != "image":
            try:
                bodies.append(response.text())
            except Exception:  # a body the browser dropped: nothing to read
                bodies.append("")

    page.on("websocket", capture)
    page.on("response", keep)
    user, _, password = MARKERS["DASH_AUTH"].partition(":")
    server = DashboardServer(settings, port=0, basic_auth=MARKERS["DASH_AUTH"], clock=lambda: NOW)
    with BackgroundDashboard(server) as port:
        page.goto(f"http://127.0.0.1:{port}/")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", password)
        page.locator("input[name=password]").press("Enter")
        total = page.get_by_test_id("total")
        page.get_by_role("button", name="Billed").click()  # the records are billed
        expect(total).to_have_text(format_usd(sum((r.cost_usd for r in records), Decimal(0))))
        expect(page.get_by_test_id("budget")).to_contain_text("monthly")
        _change(page, "Select", "Group by", "value", "project_id")
        html = page.content()
    # The login page, the app page, autoload/bootstrapping scripts, JSON, frames.
    assert len(bodies) >= 3
    assert len(frames) >= 4
    assert any("Bokeh" in body for body in bodies)
    assert any("PATCH-DOC" in frame for frame in frames)
    for text in (html, *bodies, *frames):
        assert [s for s in secrets if s in text] == []
    # The markers are really in the settings the server used.
    assert settings.dashboard.basic_auth is not None
    assert password in settings.dashboard.basic_auth.get_secret_value()
