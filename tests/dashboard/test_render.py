"""The page's HTML fragments show every name from the data as text.

The fragments come from Jinja2 templates with autoescaping; these tests feed
them a view computed from a store whose names are markup and check that the
HTML holds the names escaped and no element, attribute or link they describe.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape

from costpipe.config.settings import BudgetConfig
from costpipe.dashboard import render
from costpipe.dashboard.periods import Preset
from costpipe.dashboard.viewmodel import DashboardView, Selection, compute_view
from costpipe.query.api import Basis
from costpipe.testing.memory import MemorySink

from ..reliability.dashboard_support import markup_names, markup_records
from .conftest import NOW, TIMEZONE

BASE = "http://127.0.0.1:9"
NAMES = markup_names(BASE)


async def _view(group_by: str, tmp_path: Path) -> DashboardView:
    sink = MemorySink.create()
    sink.add(*markup_records(BASE))
    (tmp_path / "status.json").write_text(
        '{"providers": {"<b>openai.0</b>": {"last_success": null,'
        ' "last_error": "HTTP 500: <script>alert(4)</script>"}}}',
        encoding="utf-8",
    )
    return await compute_view(
        sink.reader(),
        Selection(Preset.LAST_7_DAYS, group_by=group_by, basis=Basis.ESTIMATED),
        now=NOW,
        timezone=TIMEZONE,
        budgets=[BudgetConfig(name="<i>team</i> & co", amount_usd=Decimal(10))],
        state_dir=tmp_path,
    )


#: Every tag and attribute the templates themselves write.
TEMPLATE_TAGS = {"table", "thead", "tbody", "tr", "th", "td", "div", "span", "b", "h3", "code"}
TEMPLATE_ATTRIBUTES = {"class", "style", "title", "role"}


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def _assert_inert(fragment: str) -> None:
    """*fragment* holds only the templates' own elements and attributes: no tag,
    event handler, ``src`` or ``href`` came from the data."""
    parser = _Elements()
    parser.feed(fragment)
    assert parser.found
    for tag, attrs in parser.found:
        assert tag in TEMPLATE_TAGS
        for name, _value in attrs:
            assert name in TEMPLATE_ATTRIBUTES or name.startswith("data-")


@pytest.mark.parametrize("group_by", ["model", "user_id", "project_id", "api_key_id", "line_item"])
async def test_the_table_shows_every_name_escaped(group_by: str, tmp_path: Path) -> None:
    table = render.table_html(await _view(group_by, tmp_path))
    for name in NAMES.values():
        assert f'<td class="cp-group">{escape(name)}</td>' in table
    _assert_inert(table)


async def test_the_unpriced_banner_escapes_html_and_renders_no_markdown(tmp_path: Path) -> None:
    banner = render.unpriced_html(await _view("model", tmp_path))
    for name in NAMES.values():
        assert f'<span class="cp-model">{escape(name)}</span>' in banner
    _assert_inert(banner)


async def test_freshness_and_budget_cards_escape_their_texts(tmp_path: Path) -> None:
    view = await _view("model", tmp_path)
    freshness = render.freshness_html(view)
    assert "&lt;b&gt;openai.0&lt;/b&gt;" in freshness
    assert "HTTP 500: &lt;script&gt;alert(4)&lt;/script&gt;" in freshness
    cards = render.budgets_html(view.budgets, view.timezone)
    assert 'data-budget="&lt;i&gt;team&lt;/i&gt; &amp; co"' in cards
    assert "<h3>&lt;i&gt;team&lt;/i&gt; &amp; co</h3>" in cards
    _assert_inert(freshness + cards)


async def test_a_tag_name_as_table_header_is_escaped(tmp_path: Path) -> None:
    view = await _view("model", tmp_path)
    tagged = DashboardView(
        **{
            **{f: getattr(view, f) for f in view.__dataclass_fields__},
            "selection": Selection(group_by="<img src=x onerror=alert(5)>"),
        }
    )
    header = render.table_html(tagged)
    assert "<th>&lt;img src=x onerror=alert(5)&gt;</th>" in header


async def test_the_range_line_and_empty_message_carry_no_markup(tmp_path: Path) -> None:
    view = await _view("model", tmp_path)
    line = render.range_html(view, 3)
    assert 'data-generation="3"' in line
    assert "times in Europe/Berlin" in line
    assert "No spend recorded" in render.empty_html(view)
    assert view.range.end - view.range.start > timedelta(days=6)


def test_freshness_reads_as_a_sentence() -> None:
    entries = [
        {
            "instance": "anthropic.prod",
            "when": "2026-11-18 15:16 CET",
            "lag": "4 min",
            "error": None,
        },
        {"instance": "openai.prod", "when": "never", "lag": "never", "error": "HTTP 401"},
    ]
    text = HTMLParserText.of(render.render("freshness.html", entries=entries))
    assert (
        "Data freshness: anthropic.prod: last pass 2026-11-18 15:16 CET (4 min ago) · "
        "openai.prod: last pass never (never ago) last error: HTTP 401"
    ) == text
    assert "Data freshness: no status from the daemon yet." == HTMLParserText.of(
        render.render("freshness.html", entries=[])
    )


class HTMLParserText(HTMLParser):
    """The text of an HTML fragment, entities decoded, as a browser would show it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    @classmethod
    def of(cls, fragment: str) -> str:
        parser = cls()
        parser.feed(fragment)
        return " ".join("".join(parser.parts).split())
