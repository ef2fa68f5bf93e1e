"""Filter labels are escaped for Choices.js; the values stay as the store holds them;
the controls take from the browser only the choices they offer."""

from __future__ import annotations

import html
import logging
from typing import Any

import pytest
from bokeh.document import Document

from costpipe.dashboard.controls import Controls, csv_filename, text_options
from costpipe.dashboard.periods import Preset
from costpipe.dashboard.viewmodel import Selection
from costpipe.query.api import Basis, Granularity

from ..reliability.dashboard_support import HOSTILE, markup_names


def test_filter_labels_are_escaped_and_map_back_to_the_raw_values() -> None:
    values = [*markup_names("http://127.0.0.1:9").values(), *HOSTILE, "&lt;b&gt;", "<b>"]
    options = text_options(values)
    assert len(set(values)) == len(options)  # no two values share a label
    assert sorted(values) == sorted(options.values())
    for label, value in options.items():
        assert html.unescape(label) == value
        assert not set('<>"') & set(label)


def test_the_csv_filename_is_built_from_safe_characters_only() -> None:
    assert "costpipe-model-last_7_days.csv" == csv_filename("model", Preset.LAST_7_DAYS)
    name = csv_filename("../../etc/<x>\\team\x00", Preset.LAST_MONTH)
    assert "costpipe-.._.._etc_x_team_-last_month.csv" == name
    assert not set("/\\") & set(name)


# -- what the browser sends is checked against what the widget offers ------------
#
# A widget's change is driven exactly as the Bokeh server applies a client's
# PATCH-DOC: the property of the widget's model in a Bokeh document is set, and
# Panel's ``on_change`` handler maps it to the widget's value. Before the strict
# widgets, ``active=-1`` switched the page to estimated cost (Python's negative
# index) and ``active=7`` raised ``IndexError`` in Panel; the browser test saw
# one or the other depending on how Panel batched the messages.


def _controls() -> tuple[Controls, Document]:
    controls = Controls(Selection(), top=8, csv=lambda: None)
    document = Document()
    for widget in controls.watched:
        document.add_root(widget.get_root(document))
    return controls, document


def _model(widget: Any) -> Any:
    (model, _parent), *_ = widget._models.values()
    return model


def _no_panel_errors(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("forged", [-1, -2, 4, 7, 10**9, None])
def test_a_forged_button_index_changes_nothing_and_the_browser_is_reset(
    forged: object, caplog: pytest.LogCaptureFixture
) -> None:
    controls, _document = _controls()
    before = controls.selection()
    for widget in (controls.granularity, controls.basis):
        shown = _model(widget).active
        _model(widget).active = forged
        assert _model(widget).active == shown  # the browser shows the value in force again
    assert controls.selection() == before
    _no_panel_errors(caplog)


def test_a_valid_button_index_still_changes_the_selection(caplog: pytest.LogCaptureFixture) -> None:
    controls, _document = _controls()
    _model(controls.basis).active = 1
    _model(controls.granularity).active = 1
    selection = controls.selection()
    assert (Basis.ESTIMATED, Granularity.HOUR) == (selection.basis, selection.granularity)
    _no_panel_errors(caplog)


@pytest.mark.parametrize("forged", ["", "nope", "project_id; DROP TABLE costs", *HOSTILE])
def test_a_forged_select_label_changes_nothing_and_the_browser_is_reset(
    forged: str, caplog: pytest.LogCaptureFixture
) -> None:
    controls, _document = _controls()
    before = controls.selection()
    for widget in (controls.range, controls.group_by):
        shown = _model(widget).value
        _model(widget).value = forged
        assert _model(widget).value == shown
    assert controls.selection() == before
    _model(controls.range).value = Preset.LAST_MONTH.value
    assert controls.selection().preset is Preset.LAST_MONTH
    _no_panel_errors(caplog)


def test_a_filter_choice_in_flight_while_the_options_refresh(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The browser picked two projects from the old options; a refresh has
    since replaced them and one is gone. The page filters by the one still
    offered, and the browser is told so instead of showing both chosen."""
    controls, _document = _controls()
    old, kept = "<b>old</b>", "kept & co"
    controls.set_filter_options({"project_id": [old, kept]})
    labels = [html.escape(old, quote=True), html.escape(kept, quote=True)]
    controls.set_filter_options({"project_id": [kept]})  # the refresh lands first
    project = controls.filters["project_id"]
    _model(project).value = labels  # then the click computed against the old options
    assert controls.selection().filters == {"project_id": (kept,)}
    assert _model(project).value == [labels[1]]
    _model(project).value = [labels[1], labels[0]]  # the vanished one added again
    assert controls.selection().filters == {"project_id": (kept,)}
    assert _model(project).value == [labels[1]]  # the browser must not show it chosen
    _no_panel_errors(caplog)
