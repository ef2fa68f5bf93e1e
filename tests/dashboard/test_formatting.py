"""Money, percentages, ages and the CSV download."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

from costpipe.dashboard.formatting import (
    breakdown_csv,
    format_change,
    format_exact,
    format_lag,
    format_percent,
    format_usd,
)
from costpipe.dashboard.viewmodel import Pricing
from costpipe.query.api import Breakdown


def test_cards_round_money_half_up_to_cents_with_thousands_separators() -> None:
    assert format_usd(Decimal("1234.565")) == "$1,234.57"
    assert format_usd(Decimal("0.004999")) == "$0.00"
    assert format_usd(Decimal("-12.3")) == "-$12.30"


def test_percent_and_change_have_one_decimal_and_a_sign() -> None:
    assert format_percent(Decimal("0.8125")) == "81.3 %"
    assert format_change(Decimal("0.125")) == "+12.5 % vs previous period"
    assert format_change(Decimal("-0.5")) == "-50.0 % vs previous period"
    assert format_change(None) == "no spend in the previous period"


def test_lag_is_coarse_and_human() -> None:
    assert format_lag(timedelta(minutes=4, seconds=59)) == "4 min"
    assert format_lag(timedelta(hours=3, minutes=20)) == "3 h 20 min"
    assert format_lag(timedelta(days=2, hours=5)) == "2 d 5 h"
    assert format_lag(None) == "never"


def test_exact_amounts_keep_every_significant_digit_and_at_least_cents() -> None:
    assert format_exact(Decimal("374.471138000")) == "374.471138"
    assert format_exact(Decimal("12.5")) == "12.50"
    assert format_exact(Decimal("1E+3")) == "1000.00"
    assert format_exact(Decimal("0.000000001")) == "0.000000001"


def test_csv_keeps_exact_decimal_strings_and_empty_groups() -> None:
    rows = [Breakdown("gpt-4.1", Decimal("1234.567891")), Breakdown("", Decimal("0.000001"))]
    text = breakdown_csv(rows, "model")
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed == [
        ["model", "cost_usd", "pricing"],
        ["gpt-4.1", "1234.567891", "priced"],
        ["", "0.000001", "priced"],
    ]


def test_csv_leaves_the_cost_of_an_unpriced_row_empty_and_says_why() -> None:
    rows = [Breakdown("gpt-4.1", Decimal("2.5")), Breakdown("gpt-9", Decimal(0))]
    pricing = {"gpt-4.1": Pricing.PARTLY_UNPRICED, "gpt-9": Pricing.UNPRICED}
    parsed = list(csv.reader(io.StringIO(breakdown_csv(rows, "model", pricing.__getitem__))))
    assert parsed[1:] == [["gpt-4.1", "2.50", "partly_unpriced"], ["gpt-9", "", "unpriced"]]


def test_csv_neutralises_formula_groups_and_keeps_negative_amounts() -> None:
    """Model and project names come from providers: a name a spreadsheet would
    run is prefixed with ', while a credit's negative amount stays a number."""
    rows = [
        Breakdown('=HYPERLINK("http://attacker.example","open")', Decimal("5")),
        Breakdown("+1+cmd|' /C calc'!A0", Decimal("4")),
        Breakdown("-2+3", Decimal("3")),
        Breakdown("@SUM(1,1)", Decimal("2")),
        Breakdown("\t=1+1", Decimal("1")),
        Breakdown("\r=1+1", Decimal("0.5")),
        Breakdown("credit refund", Decimal("-12.50")),
        Breakdown("gpt-4.1=fast", Decimal("-0.000001")),
    ]
    parsed = list(csv.reader(io.StringIO(breakdown_csv(rows, "model"), newline="")))
    assert [
        ['\'=HYPERLINK("http://attacker.example","open")', "5.00", "priced"],
        ["'+1+cmd|' /C calc'!A0", "4.00", "priced"],
        ["'-2+3", "3.00", "priced"],
        ["'@SUM(1,1)", "2.00", "priced"],
        ["'\t=1+1", "1.00", "priced"],
        ["'\r=1+1", "0.50", "priced"],
        ["credit refund", "-12.50", "priced"],
        ["gpt-4.1=fast", "-0.000001", "priced"],
    ] == parsed[1:]
