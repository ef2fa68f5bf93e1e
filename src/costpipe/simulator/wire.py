"""JSON encoding for the simulator's responses.

OpenAI's ``amount.value`` is a JSON *number* with many digits. Python's json
module can only write a float there, which would round the simulator's exact
decimal amounts; :func:`dumps` writes :class:`~decimal.Decimal` values as exact
number text instead, so "the sum of the texts served" is exact and known.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal

__all__ = ["BadRequest", "decimal_text", "dumps"]


class BadRequest(Exception):
    """A request the provider would refuse with 400; rendered in its error format."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


_MARK = "\ue000num:"
_MARKED = re.compile('"' + _MARK + r'(-?[0-9.]+)"')


def decimal_text(value: Decimal) -> str:
    """Plain (never exponent) text of *value* without trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _raw(value: object) -> str:
    if isinstance(value, Decimal):
        # A private-use mark that ensure_ascii=False leaves intact; swapped for
        # the bare number below. Data strings never contain it.
        return _MARK + decimal_text(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(payload: object) -> bytes:
    """UTF-8 JSON; Decimals become exact JSON numbers."""
    text = json.dumps(payload, ensure_ascii=False, default=_raw)
    return _MARKED.sub(r"\1", text).encode()
