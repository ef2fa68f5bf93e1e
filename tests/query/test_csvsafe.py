"""CSV cells a spreadsheet would run are neutralised; other text is untouched."""

from __future__ import annotations

import pytest

from costpipe.query.csvsafe import FORMULA_PREFIXES, neutralise, neutralise_row


@pytest.mark.parametrize("prefix", FORMULA_PREFIXES)
def test_a_cell_starting_with_a_formula_character_gets_a_quote(prefix: str) -> None:
    assert "'" + prefix + "cmd|' /C calc'!A0" == neutralise(prefix + "cmd|' /C calc'!A0")


@pytest.mark.parametrize(
    "text",
    ["", "gpt-4.1", "proj_a", "a=b", "team-blue", " =1", "'=already quoted", "Zoë 🚀", "1+1"],
)
def test_other_text_is_unchanged(text: str) -> None:
    assert text == neutralise(text)


def test_rows_are_neutralised_cell_by_cell() -> None:
    assert ["'=1", "ok", "'@x"] == neutralise_row(["=1", "ok", "@x"])
