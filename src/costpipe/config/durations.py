"""Durations as written in the config: ``"250ms"``, ``"90s"``, ``"15m"``, ``"48h"``, ``"7d"``, ``"2w"``.

Every duration needs its unit: a bare ``interval = 15`` was once read as
seconds, so a user who meant minutes polled sixty times too often without a
word. Anything that is not a ``timedelta`` or a string with a unit is refused
with a message that shows what to write instead.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

__all__ = ["Duration", "format_duration", "parse_duration"]

_PATTERN = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$")
#: Milliseconds per unit (``ms`` lets tests and fast retries go below a second).
_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_EXAMPLES = "15m, 90s, 48h or 7d (quoted, with a unit)"
#: timedelta overflows beyond 999999999 days: refuse longer text with a message.
_MAX_MILLISECONDS = 999_999_999 * _UNITS["d"]


def parse_duration(value: object) -> timedelta:
    """Parse ``"15m"`` into a timedelta.

    Raises :class:`ValueError` (which pydantic turns into a config error naming
    the TOML path) for anything else: a bare number, a list, a table.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        kind = "true/false" if isinstance(value, bool) else _toml_type(value)
        raise ValueError(f"expected a duration like {_EXAMPLES}, got {kind}")
    if isinstance(value, int | float):
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"a duration needs a whole number and a unit, like {_EXAMPLES}")
        number = int(value)
        raise ValueError(
            f'a duration needs a unit: write "{number}s" for seconds '
            f'(or "{number}m", "{number}h", "{number}d"), not the bare number {number}'
        )
    match = _PATTERN.match(value)
    if not match:
        raise ValueError(f"expected a duration like {_EXAMPLES}, got {value!r}")
    milliseconds = int(match.group(1)) * _UNITS[match.group(2)]
    if milliseconds > _MAX_MILLISECONDS:
        raise ValueError(f"duration {value.strip()!r} is too long")
    return timedelta(milliseconds=milliseconds)


def _toml_type(value: object) -> str:
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def format_duration(value: timedelta) -> str:
    """The shortest exact text for *value* (``timedelta(minutes=15)`` -> ``"15m"``)."""
    milliseconds = value // timedelta(milliseconds=1)
    if not milliseconds:
        return "0s"
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if milliseconds and milliseconds % size == 0:
            return f"{milliseconds // size}{unit}"
    return f"{milliseconds}ms"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
