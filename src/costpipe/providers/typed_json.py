"""Typed decoding of provider pages with msgspec: shared field types and one error form.

A provider's decoder is a :class:`msgspec.Struct` per documented object and a
module-level :class:`msgspec.json.Decoder`. This module gives them:

* :data:`Count`, a token or request counter: a JSON integer from 0 to
  :data:`MAX_COUNT` (a ``5.0`` or ``"5"`` is refused: the documented schemas
  say integer);
* :func:`check_amount`, called from a Struct's ``__post_init__`` on every
  :class:`~decimal.Decimal` money field. msgspec hands a Decimal field the
  JSON text of the number (or of a decimal string), never a float, so
  ``0.10`` and 20-digit amounts stay exact; this refuses NaN, infinities and
  amounts whose nanodollars would not fit a signed 64-bit integer;
* :func:`decode_page`, which turns every way a body can be wrong (not JSON,
  nested past the interpreter's stack, a field of the wrong type, a failed
  check) into :class:`PageMalformed` naming the JSON path of the bad field,
  e.g. ``$.data[3].spend: amount 'NaN' is not finite``.

Unknown fields are skipped by msgspec without being materialized, so a
provider adding fields costs nothing and breaks nothing.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, TypeVar

import msgspec

from costpipe.errors import MalformedDataError

__all__ = [
    "MAX_AMOUNT",
    "MAX_COUNT",
    "Count",
    "FieldError",
    "PageMalformed",
    "check_amount",
    "decode_page",
]

#: Largest token or request count a store can hold (a signed 64-bit integer).
MAX_COUNT = 2**63 - 1
#: Largest amount of one row in USD: its nanodollars must fit a signed 64-bit integer.
MAX_AMOUNT = Decimal(10) ** 9

Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]

T = TypeVar("T")

# msgspec appends " - at `$.path`" to a message; a FieldError starts with "@field ".
_LOCATED = re.compile(r"^(?P<message>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)
_FIELD = re.compile(r"^@(?P<field>\w+) (?P<reason>.*)$", re.DOTALL)


class PageMalformed(MalformedDataError):
    """A page that does not match its documented schema; ``path`` is the JSON
    path of the bad value (``$`` for the whole body)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class FieldError(ValueError):
    """Raised in a Struct's ``__post_init__`` about one of its fields; msgspec
    adds the Struct's path and :func:`decode_page` appends the field's name."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"@{field} {reason}")


def check_amount(value: Decimal, field: str) -> Decimal:
    """*value* if it is a finite amount within :data:`MAX_AMOUNT`, else FieldError."""
    if not value.is_finite():
        raise FieldError(field, f"amount {_excerpt(value)} is not finite")
    # copy_abs, not abs(): abs rounds in the context, and an exponent such as
    # 1E+999999999999999999 (valid JSON, kept exactly) would raise decimal.Overflow.
    if value.copy_abs() > MAX_AMOUNT:
        # Stores keep money as signed 64-bit nanodollars: refuse the page, not the write.
        raise FieldError(field, f"amount {_excerpt(value)} is implausibly large")
    return value


def decode_page(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """*body* decoded by *decoder*; any mismatch is a :class:`PageMalformed`."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise _located(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise PageMalformed("$", f"response is not valid JSON ({exc})") from None
    except RecursionError:
        # An unknown field nested deeper than the stack: hostile, not a crash.
        raise PageMalformed("$", "response is nested too deeply") from None


def _located(message: str) -> PageMalformed:
    located = _LOCATED.match(message)
    text, path = (located["message"], located["path"]) if located else (message, None)
    path = path or "$"
    field = _FIELD.match(text)
    if field:
        return PageMalformed(f"{path}.{field['field']}", field["reason"])
    return PageMalformed(path, text[:1].lower() + text[1:])


def _excerpt(value: object) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")
