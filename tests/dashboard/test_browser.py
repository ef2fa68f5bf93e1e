"""The dashboard in Debian's Chromium: figures, controls, CSV, empty range, auth.

The app is served on 127.0.0.1 with a free port, on its own event loop in a
thread (:class:`BackgroundDashboard`), over a SQLite store opened from the
settings as ``costpipe dashboard`` does; the dashboard's
clock is pinned to :data:`NOW`, so every expected figure is computed
independently from the records.
"""

from __future__ import annotations

import csv
import http.client
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from costpipe.config.settings import (
    AlertSettings,
    BudgetConfig,
    DashboardSettings,
    HealthSettings,
    PipelineSettings,
    Settings,
)
from costpipe.dashboard.formatting import NONE_LABEL, format_exact, format_usd
from costpipe.dashboard.periods import Preset, preset_range
from costpipe.dashboard.server import BackgroundDashboard, DashboardServer
from costpipe.records import CostRecord

from .conftest import NOW, TIMEZONE, expected_total, on_basis, sqlite_spec

pytestmark = pytest.mark.browser


def _settings(state_dir: Path, store: Path) -> Settings:
    return Settings(
        pipeline=PipelineSettings(timezone=TIMEZONE, state_dir=state_dir),
        components={"sinks": [sqlite_spec(store)]},
        budgets=[BudgetConfig(name="All AI, monthly", amount_usd=Decimal(9000))],
        alerts=AlertSettings(),
        health=HealthSettings(),
        dashboard=DashboardSettings(),
    )


def _serve(store: Path, state_dir: Path, basic_auth: str | None = None) -> BackgroundDashboard:
    """The dashboard over the SQLite store at *store*, opened from the settings
    exactly as `costpipe dashboard` opens it."""
    server = DashboardServer(
        _settings(state_dir, store), port=0, basic_auth=basic_auth, clock=lambda: NOW
    )
    return BackgroundDashboard(server)


@pytest.fixture(scope="module")
def dashboard_url(sqlite_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _serve(sqlite_path, tmp_path_factory.mktemp("state")) as port:
        yield f"http://127.0.0.1:{port}/"


def _select(page: Page, option_label: str) -> None:
    """Choose *option_label* in the Bokeh <select> that offers it."""
    select = page.locator("select", has=page.locator("option", has_text=option_label))
    select.select_option(label=option_label)


def _table(page: Page) -> list[tuple[str, str]]:
    rows = page.get_by_test_id("breakdown").locator("tbody tr")
    cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]
    return [(c[0], c[1]) for c in cells]


def _expect_table(page: Page, groups: dict[str, Decimal]) -> None:
    """Wait until the table shows exactly *groups*, largest first."""
    ordered = sorted(groups.items(), key=lambda item: (-item[1], item[0]))
    table = page.get_by_test_id("breakdown")
    expect(table.locator("tbody td:nth-child(1)")).to_have_text(
        [group or NONE_LABEL for group, _ in ordered]
    )
    expect(table.locator("tbody td:nth-child(2)")).to_have_text(
        [format_exact(c) for _, c in ordered]
    )


def _expected_groups(
    records: list[CostRecord], preset: Preset, by: str, basis: str = "best"
) -> dict[str, Decimal]:
    """Per group, on the page's default basis unless told."""
    span = preset_range(preset, NOW, TIMEZONE)
    sums: dict[str, Decimal] = {}
    for r in on_basis(records, basis):
        if span.start <= r.start < span.end:
            sums[r.dimension(by)] = sums.get(r.dimension(by), Decimal(0)) + r.cost_usd
    return sums


def test_page_loads_with_the_stores_total_for_the_default_range(
    page: Page, dashboard_url: str, records: list[CostRecord]
) -> None:
    page.goto(dashboard_url)
    span = preset_range(Preset.LAST_7_DAYS, NOW, TIMEZONE)
    # The default basis is best; the sample store holds no allocated rows, so
    # every day is an estimated one.
    total = expected_total(records, span.start, span.end, "best")
    expect(page.get_by_test_id("total")).to_have_text(format_usd(total))
    expect(page.locator("canvas").first).to_be_visible()
    expect(page.get_by_test_id("budget")).to_contain_text("All AI, monthly")
    expect(page.get_by_test_id("range")).to_contain_text("2026-11-12 00:00 CET")
    expect(page.get_by_text("Billed vs estimated")).to_be_visible()


def test_group_by_and_date_range_change_every_figure_to_the_right_values(
    page: Page, dashboard_url: str, records: list[CostRecord]
) -> None:
    page.goto(dashboard_url)
    expect(page.get_by_test_id("total")).not_to_be_empty()
    _select(page, "Model")
    expect(page.get_by_test_id("breakdown").locator("th").first).to_have_text("Model")
    _expect_table(page, _expected_groups(records, Preset.LAST_7_DAYS, "model"))

    _select(page, "Last month")
    span = preset_range(Preset.LAST_MONTH, NOW, TIMEZONE)
    total = expected_total(records, span.start, span.end, "best")
    expect(page.get_by_test_id("total")).to_have_text(format_usd(total))
    expect(page.get_by_test_id("range")).to_contain_text("Last month")
    _expect_table(page, _expected_groups(records, Preset.LAST_MONTH, "model"))

    page.get_by_role("button", name="Billed").click()
    billed = expected_total(records, span.start, span.end, "billed")
    expect(page.get_by_test_id("total")).to_have_text(format_usd(billed))
    page.get_by_role("button", name="Estimated").click()
    estimated = expected_total(records, span.start, span.end, "estimated")
    expect(page.get_by_test_id("total")).to_have_text(format_usd(estimated))
    expect(page.get_by_text("Unpriced usage in this range")).to_be_visible()
    unpriced = page.get_by_test_id("breakdown").locator("tr[data-pricing=unpriced] td")
    expect(unpriced).to_have_text(["gpt-5-preview-2026-10-01", "unpriced", "n/a"])


#: Set the buttons' ``active`` from the page's JavaScript: the websocket message
#: a forged client sends. Returns how many radio groups were set.
FORGE_ACTIVE = """(index) => {
    const groups = [...Bokeh.documents[0]._all_models.values()].filter(
        (m) => m.type.endsWith("RadioButtonGroup"));
    for (const group of groups) group.active = index;
    return groups.length;
}"""
ACTIVE_ARE = """(expected) => [...Bokeh.documents[0]._all_models.values()]
    .filter((m) => m.type.endsWith("RadioButtonGroup")).map((m) => m.active)
    .sort().join() === expected"""


def test_a_forged_button_index_leaves_the_figures_and_the_buttons_as_they_were(
    page: Page, dashboard_url: str, records: list[CostRecord]
) -> None:
    """``active=-1`` used to reach Panel's ``values[active]`` and switch the page
    to estimated cost and hourly; ``7`` raised there. Now the server refuses both
    and sends the browser its buttons back (Daily, Best: indexes 0 and 3)."""
    page.goto(dashboard_url)
    span = preset_range(Preset.LAST_7_DAYS, NOW, TIMEZONE)
    best = format_usd(expected_total(records, span.start, span.end, "best"))
    expect(page.get_by_test_id("total")).to_have_text(best)
    for forged in (-1, 7, -1):
        assert page.evaluate(FORGE_ACTIVE, forged) == 2
        page.wait_for_function(ACTIVE_ARE, arg="0,3", timeout=20_000)
    _select(page, "Model")  # a real change afterwards: its refresh shows best daily figures
    expect(page.get_by_test_id("breakdown").locator("th").first).to_have_text("Model")
    expect(page.get_by_test_id("range")).to_contain_text("best cost")
    expect(page.get_by_test_id("total")).to_have_text(best)


def test_csv_download_matches_the_table_exactly(
    page: Page, dashboard_url: str, records: list[CostRecord]
) -> None:
    page.goto(dashboard_url)
    page.get_by_role("button", name="Billed").click()
    expect(page.get_by_test_id("range")).to_contain_text("billed cost")
    _select(page, "User")
    expect(page.get_by_test_id("breakdown").locator("th").first).to_have_text("User")
    _expect_table(page, _expected_groups(records, Preset.LAST_7_DAYS, "user_id", "billed"))
    shown = _table(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header == ["user_id", "cost_usd", "pricing"]
    assert shown == [(group or NONE_LABEL, cost) for group, cost, _ in rows]
    assert {"priced"} == {pricing for _, _, pricing in rows}  # billed: nothing unpriced
    assert any(group == "" for group, _, _ in rows)  # billed rows carry no user


def test_an_empty_range_shows_a_message_instead_of_charts(page: Page, tmp_path: Path) -> None:
    with _serve(tmp_path / "empty.sqlite", tmp_path) as port:
        page.goto(f"http://127.0.0.1:{port}/")
        expect(page.get_by_test_id("empty")).to_contain_text("No spend recorded in this range")
        expect(page.get_by_test_id("total")).to_have_text("$0.00")
        expect(page.get_by_test_id("breakdown")).to_have_count(0)
        expect(page.locator("canvas")).to_have_count(0)


def _raw_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
        return response.status, response.getheader("Location") or body
    finally:
        connection.close()


def test_basic_auth_refuses_every_route_without_credentials(
    page: Page, records: list[CostRecord], sqlite_path: Path, tmp_path: Path
) -> None:
    with _serve(sqlite_path, tmp_path, basic_auth="finance:s3cr:et") as port:
        status, location = _raw_get(port, "/")
        assert (status, location.split("?")[0].lstrip(".")) == (302, "/login")
        websocket = {
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Origin": f"http://127.0.0.1:{port}",
        }
        status, _ = _raw_get(port, "/ws", websocket)
        assert status != 101
        assert status in (302, 401, 403)

        page.goto(f"http://127.0.0.1:{port}/")
        expect(page.locator("input[name=username]")).to_be_visible()
        assert page.evaluate("typeof window.Bokeh") == "undefined"
        page.fill("input[name=username]", "finance")
        page.fill("input[name=password]", "wrong")
        page.locator("input[name=password]").press("Enter")
        expect(page.get_by_text("Invalid username or password")).to_be_visible()
        page.fill("input[name=username]", "finance")
        page.fill("input[name=password]", "s3cr:et")
        page.locator("input[name=password]").press("Enter")
        span = preset_range(Preset.LAST_7_DAYS, NOW, TIMEZONE)
        total = expected_total(records, span.start, span.end, "best")
        expect(page.get_by_test_id("total")).to_have_text(format_usd(total))


def test_the_page_loads_nothing_from_another_host(
    page: Page, dashboard_url: str, offsite_requests: list[str]
) -> None:
    """No font, script, style or image from a CDN: costpipe runs offline too.
    (The page fixture blocks and records any request that leaves loopback.)"""
    page.goto(dashboard_url)
    expect(page.get_by_test_id("total")).not_to_be_empty()
    expect(page.locator("canvas").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert [] == offsite_requests
