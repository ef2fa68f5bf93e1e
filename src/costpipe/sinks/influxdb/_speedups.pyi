# The C accelerator of encoder.py (_speedups.c); optional, see hatch_build.py.
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

def configure(
    record_type: type,
    key_fields: tuple[str, ...],
    start: str,
    cost: str,
    price_source: str,
    counters: tuple[str, ...],
) -> None: ...
def encode(
    records: list[Any],
    series_cache: dict[tuple[object, ...], tuple[str, str]],
    series_miss: Callable[[tuple[object, ...]], tuple[str, str]],
    stamps: dict[datetime, str],
    stamp_miss: Callable[[datetime], str],
    sources: dict[str, str],
    source_miss: Callable[[str], str],
    money_fallback: Callable[[Decimal], tuple[str, int]],
) -> bytes | None: ...
