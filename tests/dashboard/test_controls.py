"""Filter labels are escaped for Choices.js; the values stay as the store holds them."""

from __future__ import annotations

import html

from costpipe.dashboard.controls import csv_filename, text_options
from costpipe.dashboard.periods import Preset

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
