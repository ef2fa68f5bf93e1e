"""CSV cells a spreadsheet will not execute (CSV/formula injection).

Excel, LibreOffice and Google Sheets treat a cell that starts with ``=``,
``+``, ``-`` or ``@`` as a formula (``=HYPERLINK(...)``, ``=WEBSERVICE(...)``),
and a leading tab or carriage return can hide such a prefix. Model, user and
project names come from provider APIs, so every *text* cell written to a CSV
goes through :func:`neutralise`, which prefixes such a cell with ``'`` (OWASP's
rule): the spreadsheet shows the text and runs nothing. Numeric cells are not
passed through it: ``-12.50`` is a credit, not a formula.

Used by the dashboard's CSV download; every export must use it too.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["FORMULA_PREFIXES", "neutralise", "neutralise_row"]

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """*cell*, prefixed with ``'`` when a spreadsheet would evaluate it."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def neutralise_row(text_cells: Iterable[str]) -> list[str]:
    """:func:`neutralise` applied to each cell (pass text columns only)."""
    return [neutralise(cell) for cell in text_cells]
