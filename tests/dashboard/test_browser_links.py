"""Alert links open the dashboard on the view they name (issue 19.2).

A link made by :func:`dashboard_link` is opened in Chromium: the controls show
what it names and every figure is the filtered one, summed independently from
the records. A hostile query string changes nothing it should not and what it
does show is text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
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
from costpipe.records import CostRecord, CostSource

from .conftest import (
    NOW,
    TIMEZONE,
    expected_total,
    fill_sqlite,
    on_basis,
    open_choices,
    sqlite_spec,
)

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


def test_a_user_anomaly_link_opens_that_users_figures_only(
    page: Page, base_url: str, records: list[CostRecord]
) -> None:
    """The main anomaly case: "which user drove the spike" opens that user's spend."""
    rule = AnomalyConfig(name="spike", group_by="user_id")
    bucket = Bucket("day", NOW.date(), None, 15, complete=False)
    link = dashboard_link(base_url, rule, "user_chen", bucket, "api_key_id")
    assert link is not None
    page.goto(link)

    span = preset_range(Preset.TODAY, NOW, TIMEZONE)
    by_key: dict[str, Decimal] = {}
    for r in on_basis(records, "best"):
        if span.start <= r.start < span.end and r.user_id == "user_chen":
            by_key[r.api_key_id] = by_key.get(r.api_key_id, Decimal(0)) + r.cost_usd
    assert by_key, "the sample store has no spend of this user today: the test would prove nothing"
    total = expected_total(records, span.start, span.end, "best", user_id=("user_chen",))
    assert total == sum(by_key.values(), Decimal(0))
    assert total != expected_total(records, span.start, span.end, "best")

    expect(page.get_by_test_id("total")).to_have_text(format_usd(total))
    table = page.get_by_test_id("breakdown")
    expect(table.locator("th").first).to_have_text("API key")
    ordered = sorted(by_key.items(), key=lambda item: (-item[1], item[0]))
    expect(table.locator("tbody td:nth-child(1)")).to_have_text(
        [key or NONE_LABEL for key, _ in ordered]
    )
    expect(table.locator("tbody td:nth-child(2)")).to_have_text(
        [format_exact(cost) for _, cost in ordered]
    )
    expect(_chosen(page, "User filter")).to_contain_text(["user_chen"])
    expect(_chosen(page, "API key filter")).to_have_count(0)


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
            "account=" + quote(HOSTILE),  # no such filter: ignored
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


@pytest.fixture(scope="module")
def hostile_users_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Decimal]]:
    """A dashboard over a store whose users and API keys are named :data:`HOSTILE`
    and ``user_plain``; yields its URL and the hostile user's spend."""
    day = NOW.replace(hour=9, minute=0)
    rows = [
        CostRecord(
            start=day,
            width=timedelta(hours=1),
            provider="openai",
            account="org",
            cost_source=CostSource.ESTIMATED,
            cost_usd=cost,
            model="gpt-4o",
            user_id=user,
            api_key_id=user,
            project_id="proj",
            uncached_input_tokens=1000,
        )
        for user, cost in ((HOSTILE, Decimal("1.25")), ("user_plain", Decimal("2.50")))
    ]
    path = tmp_path_factory.mktemp("hostile-users") / "costs.sqlite"
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, fill_sqlite(path, rows)).result()
    settings = Settings(
        pipeline=PipelineSettings(timezone=TIMEZONE, state_dir=tmp_path_factory.mktemp("state")),
        components={"sinks": [sqlite_spec(path)]},
        budgets=[],
        alerts=AlertSettings(),
        health=HealthSettings(),
        dashboard=DashboardSettings(),
    )
    with BackgroundDashboard(DashboardServer(settings, port=0, clock=lambda: NOW)) as port:
        yield f"http://127.0.0.1:{port}/", Decimal("1.25")


def test_hostile_user_and_key_names_in_the_filters_are_text(
    page: Page, hostile_users_url: tuple[str, Decimal]
) -> None:
    url, hostile_spend = hostile_users_url
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    expect(page.get_by_test_id("total")).to_have_text(format_usd(Decimal("3.75")))
    for title in ("User filter", "API key filter"):
        box = page.locator(".bk-input-group", has=page.get_by_text(title, exact=True))
        shown = open_choices(box.locator(".choices"), 2)
        assert sorted(shown) == sorted([HOSTILE, "user_plain"])
        page.keyboard.press("Escape")

    # Choosing the hostile user shows it as a chosen item and filters to its spend.
    box = page.locator(".bk-input-group", has=page.get_by_text("User filter", exact=True))
    box.locator(".choices").click()
    box.locator(".choices__item--choice").filter(has_text=HOSTILE).click()
    expect(page.get_by_test_id("total")).to_have_text(format_usd(hostile_spend))
    expect(_chosen(page, "User filter")).to_contain_text([HOSTILE])
    page.wait_for_load_state("networkidle")
    assert page.locator("img[src=x]").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    assert errors == []
