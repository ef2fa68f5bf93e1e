# The C accelerator of usage_rows.py (_usage_rows.c); optional, see hatch_build.py.
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

class Layout:
    def __init__(
        self,
        row_type: type,
        provider: str,
        dimensions: tuple[Any, ...],
        defaults: tuple[str, ...],
        qualifiers: tuple[Any, ...],
        qualify: Callable[[Any, Any], tuple[str, str]],
        counters: tuple[Any, ...],
        total: Any,
        guards: tuple[Any, ...],
    ) -> None: ...

def configure(
    record_type: type,
    given: tuple[str, ...],
    others: tuple[tuple[str, object], ...],
    key_fields: tuple[str, ...],
    decimal_type: type,
    estimated: object,
    unpriced: object,
    add_records: Callable[[Any, Any], Any],
    utc: object,
) -> None: ...
def build(
    layout: Layout,
    rows: list[Any],
    start: datetime,
    width: timedelta,
    account: str,
    prices: dict[tuple[str, str], object],
    price_of: Callable[[str, str], object],
    slow: Callable[[Any, int], Any],
    merged: dict[Any, Any],
) -> None: ...
