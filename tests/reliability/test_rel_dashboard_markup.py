"""Names from the data are shown as text in Chromium: no script, no fetch, no link.

A compromised provider or gateway chooses the model, user, project and key
names costpipe shows. Over a SQLite store whose every name is HTML that runs
script, Markdown that fetches an image from a pixel server on loopback or makes
a link, text that only looks like markup, and TeX, the real app is used the way
the security review used it (basis switched to Estimated, every group-by, every
filter opened and one hostile option chosen). No dialog opens, no page error,
the pixel server receives nothing, no element the names describe exists, and
each name appears literally in the table, the unpriced banner and the filters.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Dialog, Page, expect

from costpipe.dashboard.formatting import format_exact, format_usd
from costpipe.dashboard.server import BackgroundDashboard, DashboardServer
from costpipe.records import CostSource

from ..dashboard.conftest import (  # noqa: F401  (chromium: the module-scoped browser)
    NOW,
    chromium,
    loopback_only,
    open_choices,
)
from .dashboard_support import fill, markup_names, markup_records, settings_for, sink_spec
from .test_rel_dashboard import run_async

pytestmark = pytest.mark.browser

#: One transparent pixel, so a fetched "image" would load (and count) like a real one.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.fixture
def pixel() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on loopback that records every request (the attacker's)."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Page]:  # noqa: F811
    context = chromium.new_context(viewport={"width": 1400, "height": 1200})
    with loopback_only(context):
        yield context.new_page()
        context.close()


def _group_by(page: Page, label: str) -> None:
    page.locator("select", has=page.locator("option", has_text="Line item")).select_option(
        label=label
    )
    expect(page.get_by_test_id("breakdown").locator("th").first).to_have_text(label)


def _filter(page: Page, title: str) -> Any:
    """The Choices.js box of the filter titled *title*."""
    return page.locator(".bk-input-group", has=page.get_by_text(title, exact=True)).locator(
        ".choices"
    )


NEXT_FRAME = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"


def _bar_tooltip_groups(page: Page) -> set[str]:
    """The ``group`` of every tooltip the bar chart shows while the mouse sweeps
    its middle (the bars are of similar length, see :func:`markup_records`)."""
    page.wait_for_load_state("networkidle")
    chart = page.locator("canvas").last
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    assert box is not None
    groups: set[str] = set()
    tooltips = page.locator("div[class*=tooltip]").filter(visible=True)
    for y in range(0, int(box["height"]), 8):
        for share in (0.45, 0.55, 0.65):
            page.mouse.move(box["x"] + box["width"] * share, box["y"] + y)
            page.evaluate(NEXT_FRAME)  # Bokeh updates the tooltip on the next frame
            # Nested tooltip elements: the row "group:<TAB>value" is the one to read.
            groups |= {
                t.splitlines()[0].removeprefix("group:\t")
                for t in tooltips.all_inner_texts()
                if t.startswith("group:\t")
            }
    page.mouse.move(0, 0)
    return groups


def test_markup_in_names_is_shown_as_text_and_runs_nothing(
    page: Page, pixel: tuple[str, list[str]], tmp_path: Path
) -> None:
    base, hits = pixel
    names = markup_names(base)
    records = markup_records(base)
    spec = sink_spec("sqlite", tmp_path / "costs.sqlite")
    run_async(lambda: fill(spec, tmp_path, records))
    dialogs: list[str] = []
    errors: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.on("pageerror", lambda error: errors.append(str(error)))
    server = DashboardServer(settings_for(spec, tmp_path), port=0, clock=lambda: NOW)
    with BackgroundDashboard(server) as port:
        page.goto(f"http://127.0.0.1:{port}/")
        billed = sum((r.cost_usd for r in records if r.basis == "billed"), Decimal(0))
        expect(page.get_by_test_id("total")).to_have_text(format_usd(billed))

        # The reported path: switching the basis re-renders every filter.
        page.get_by_role("button", name="Estimated").click()
        estimated = sum((r.cost_usd for r in records if r.basis == "estimated"), Decimal(0))
        expect(page.get_by_test_id("total")).to_have_text(format_usd(estimated))
        banner = page.get_by_test_id("unpriced-banner")
        for name in names.values():
            expect(banner).to_contain_text(name)

        for label in ("Model", "User", "Project", "API key", "Line item"):
            _group_by(page, label)
            cells = page.get_by_test_id("breakdown").locator("td.cp-group")
            expect(cells).to_have_count(len(names))
            assert sorted(names.values()) == sorted(cells.all_inner_texts())

        # The bar chart's tooltips (hover across every bar) name the groups as text.
        assert sorted(names.values()) == sorted(_bar_tooltip_groups(page))

        # Every filter's options, rendered by Choices.js, read as the names.
        for title in ("Model filter", "Project filter"):
            shown = open_choices(_filter(page, title), len(names))
            assert sorted(names.values()) == sorted(shown)
            page.keyboard.press("Escape")

        # Choosing the <img> model renders it as a selected item, and filters to it.
        _filter(page, "Model filter").click()
        _filter(page, "Model filter").locator(".choices__item--choice").filter(
            has_text=names["img"]
        ).click()
        chosen = next(
            r for r in records if r.model == names["img"] and r.cost_source is CostSource.ESTIMATED
        )
        expect(page.get_by_test_id("total")).to_have_text(format_usd(chosen.cost_usd))
        expect(page.get_by_test_id("breakdown").locator("td.num").first).to_have_text(
            format_exact(chosen.cost_usd)
        )
        selected = _filter(page, "Model filter").locator(".choices__list--multiple .choices__item")
        expect(selected).to_contain_text(names["img"])
        page.wait_for_load_state("networkidle")

        # Nothing the names describe exists in the page (CSS pierces shadow roots).
        assert page.locator("img[src='x']").count() == 0
        assert page.locator("svg[onload]").count() == 0
        assert page.locator(f"a[href^='{base}']").count() == 0
        assert page.locator(f"img[src^='{base}']").count() == 0
    assert [] == dialogs
    assert [] == errors
    assert [] == hits
