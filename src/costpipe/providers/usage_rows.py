"""Text usage rows to records in C, where the accelerator is built.

Most rows of a backfill are text-only usage rows (an OpenAI completions row
without audio or image tokens, an Anthropic messages row without web
searches), and turning one into a record is a few field reads, a rate lookup
and one integer product per counter. In Python that is 2-3 µs of calls and
``Decimal`` arithmetic per row; issue 16 asks for ≤ 3 µs per row including the
JSON decoding (``docs/performance.md``). A provider describes where its row
Struct keeps what a text record needs (:class:`TextRows`, on its
:class:`~costpipe.providers.bucketed.Endpoint`), and
:func:`~costpipe.providers.bucketed.decode_buckets` hands each bucket's rows
to ``_usage_rows.build``: the rows it can take become exactly the records the
provider's Python function builds, merged by key the same way; every other row
(audio or image tokens, a web search, a count or price past 64 bits) goes to
that Python function, which also raises the row's
error. ``tests/providers/test_usage_rows.py`` compares the two paths.

The module is optional, like the line-protocol encoder's (``hatch_build.py``):
without a C compiler, or with ``COSTPIPE_PURE_PYTHON=1``, :data:`BUILDER` is
``None`` and the Python functions run, with identical records.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from types import ModuleType
from typing import Any

from costpipe.providers.planning import add_records
from costpipe.records import CostRecord, CostSource

__all__ = ["BUILDER", "Field", "TextRows", "layout_of"]

#: A row field: its name, or (name, the Struct type it holds, that Struct's field).
Field = str | tuple[str, type, str] | None


@dataclass(frozen=True, slots=True)
class TextRows:
    """Where a usage row of *row_type* keeps what its text-only record needs.

    ``dimensions``: the fields of model, user_id, project_id and api_key_id
    (``None``: not in the row), each ``None`` or ``""`` read as its entry of
    ``defaults``. ``qualify(q1, q2)`` turns the two ``qualifiers`` fields into
    ``(line_item, pricing tier)`` (the provider's own function, answers cached
    per endpoint). ``counters``: uncached input, cached input, cache writes,
    1-hour cache writes, output, requests (``None`` reads as 0); when ``total``
    names a field, a ``None`` uncached count is ``total`` less cached input and
    cache writes. A row any of whose ``guards`` is non-zero is not text-only and
    is built by the provider's Python function."""

    row_type: type
    provider: str
    dimensions: tuple[Field, Field, Field, Field]
    qualifiers: tuple[Field, Field]
    qualify: Callable[[Any, Any], tuple[str, str]]
    counters: tuple[Field, Field, Field, Field, Field, Field]
    total: Field = None
    guards: tuple[Field, ...] = ()
    defaults: tuple[str, str, str, str] = ("", "", "", "")


def _load_builder() -> ModuleType | None:
    """The C module, configured for CostRecord, or None (see the module docstring)."""
    if os.environ.get("COSTPIPE_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from costpipe.providers import _usage_rows
    except ImportError:
        return None
    fields = CostRecord.__struct_fields__
    tail = CostRecord.__struct_defaults__  # of the last fields, in order
    defaults = dict(zip(fields[len(fields) - len(tail) :], tail, strict=True))
    # The builder gives the first 17 fields (as At.record does) and price_source.
    given = (*fields[:17], "price_source")
    _usage_rows.configure(
        CostRecord,
        given,
        tuple((name, defaults[name]) for name in fields if name not in given),
        ("model", "user_id", "project_id", "api_key_id", "line_item"),
        Decimal,
        CostSource.ESTIMATED,
        CostSource.UNPRICED,
        add_records,
        UTC,
    )
    return _usage_rows


#: The C record builder, or ``None`` where it is not built (Python builds the records).
BUILDER = _load_builder()


def layout_of(rows: TextRows) -> object | None:
    """The C module's layout of *rows*, or ``None`` without the module."""
    if BUILDER is None:
        return None
    layout: object = BUILDER.Layout(
        rows.row_type,
        rows.provider,
        rows.dimensions,
        rows.defaults,
        rows.qualifiers,
        rows.qualify,
        rows.counters,
        rows.total,
        rows.guards,
    )
    return layout
