"""Alert links open the dashboard on the view they name (issue 19.2).

A link made by :func:`dashboard_link` is opened in Chromium: the controls show
what it names and every figure is the filtered one, summed independently from
the records. A hostile query string changes nothing it should not and what it
does show is text.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Locator, Page, expect

from costpipe.anomalies.history import Bucket
from costpipe.anomalies.messages import dashboard_link
from costpipe.config.sections import AnomalyConfig
from costpipe.config.settings import (
    AlertSettings,
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


@pytest.fixture(scope="module")
def base_url(sqlite_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(
        pipeline=PipelineSettings(timezone=TIMEZONE, state_dir=tmp_path_factory.mktemp("state")),
        components={"sinks": [sqlite_spec(sqlite_path)]},
        budgets=[],
        alerts=AlertSettings(),
        health=HealthSettings(),
        dashboard=DashboardSettings(),
    )
    server = DashboardServer(settings, port=0, clock=lambda: NOW)
    with BackgroundDashboard(server) as port:
        yield f"http://127.0.0.1:{port}/"


#: The Bokeh radio groups' active indexes, sorted and joined ("1,3": Hourly, Best).
ACTIVE = """() => [...Bokeh.documents[0]._all_models.values()]
    .filter((m) => m.type.endsWith("RadioButtonGroup")).map((m) => m.active).sort().join()"""


def _shown_option(page: Page, offered: str) -> Locator:
    """The <select> offering *offered*."""
    return page.locator("select", has=page.locator("option", has_text=offered))


def _chosen(page: Page, title: str) -> Locator:
    """The chosen items of the filter titled *title* (Choices.js)."""
    box = page.locator(".bk-input-group", has=page.get_by_text(title, exact=True))
    return box.locator(".choices__list--multiple .choices__item")


def test_an_anomaly_link_opens_the_filtered_view_it_names(
    page: Page, base_url: str, records: list[CostRecord]
) -> None:
    rule = AnomalyConfig(name="spike", group_by="project_id", filters={"provider": ["openai"]})
    bucket = Bucket("day", NOW.date(), None, 15, complete=False)
    link = dashboard_link(base_url, rule, "proj_search", bucket, "model")
    assert link is not None
    page.goto(link)

    span = preset_range(Preset.TODAY, NOW, TIMEZONE)
    chosen = [
        r
        for r in on_basis(records, "best")
        if span.start <= r.start < span.end
        and r.provider == "openai"
        and r.project_id == "proj_search"
    ]
    assert chosen, "the sample store has no such spend today: the test would prove nothing"
    by_model: dict[str, Decimal] = {}
    for r in chosen:
        by_model[r.model] = by_model.get(r.model, Decimal(0)) + r.cost_usd
    total = expected_total(
        records, span.start, span.end, "best", provider=("openai",), project_id=("proj_search",)
    )
    assert total != expected_total(records, span.start, span.end, "best")

    expect(page.get_by_test_id("total")).to_have_text(format_usd(total))
    expect(page.get_by_test_id("range")).to_contain_text("Today")
    table = page.get_by_test_id("breakdown")
    expect(table.locator("th").first).to_have_text("Model")
    ordered = sorted(by_model.items(), key=lambda item: (-item[1], item[0]))
    expect(table.locator("tbody td:nth-child(1)")).to_have_text(
        [model or NONE_LABEL for model, _ in ordered]
    )
    expect(table.locator("tbody td:nth-child(2)")).to_have_text(
        [format_exact(cost) for _, cost in ordered]
    )
    # The controls say so too: a later change starts from the linked view.
    expect(_shown_option(page, "Last month")).to_have_value("Today")
    expect(_shown_option(page, "Line item")).to_have_value("Model")
    page.wait_for_function(f"() => ({ACTIVE})() === '1,3'", timeout=20_000)  # Hourly, Best
    expect(_chosen(page, "Provider filter")).to_contain_text(["openai"])
    expect(_chosen(page, "Project filter")).to_contain_text(["proj_search"])


HOSTILE = '<img src=x onerror="window.__pwned=1">'


def test_a_hostile_link_is_ignored_or_shown_as_text(
    page: Page, base_url: str, records: list[CostRecord]
) -> None:
    query = "&".join(
        [
            "preset=" + quote("<script>window.__pwned=1</script>"),
            "group_by=" + quote(HOSTILE),
            "basis=billed",
            "granularity=week",
            "provider=" + "x" * 5000,  # oversize: ignored, so no provider filter
            "model=" + quote(HOSTILE),  # a free filter value: applied, shown as text
            "user_id=" + quote(HOSTILE),  # no such filter: ignored
            "%3Cscript%3E=1",
        ]
    )
    page.goto(f"{base_url}?{query}")

    # The model filter matches no record: the page says there is no data.
    expect(page.get_by_test_id("total")).to_have_text(format_usd(Decimal(0)))
    expect(page.get_by_test_id("range")).to_contain_text("billed cost")
    expect(page.get_by_test_id("range")).to_contain_text("Last 7 days")
    expect(_chosen(page, "Model filter")).to_contain_text([HOSTILE])
    expect(_chosen(page, "Provider filter")).to_have_count(0)
    expect(_shown_option(page, "Line item")).to_have_value("Provider")
    page.wait_for_function(f"() => ({ACTIVE})() === '0,0'", timeout=20_000)  # Daily, Billed
    assert page.locator("img[src=x]").count() == 0
    assert page.evaluate("() => window.__pwned") is None

    # Removing the free value brings back the real billed figures of the default range.
    _chosen(page, "Model filter").locator("button").click()
    span = preset_range(Preset.LAST_7_DAYS, NOW, TIMEZONE)
    billed = expected_total(records, span.start, span.end, "billed")
    expect(page.get_by_test_id("total")).to_have_text(format_usd(billed))
