"""The view a link asks for: the page's query parameters, checked. No IO, no Panel.

Alert links (:func:`costpipe.anomalies.messages.dashboard_link`) open the
dashboard with ``?preset=today&granularity=hour&basis=best&group_by=model
&provider=openai&user_id=alice``: the controls' names, and one repeatable
parameter per filter dimension (:data:`costpipe.dashboard.viewmodel.FILTER_DIMENSIONS`:
provider, model, user, project, API key, line item). The query string is whatever the browser sent,
so it is read once per session, here, and only what the controls offer is kept:
an unknown name, a value that is not one of a control's choices, a value that
is not UTF-8, too long, or past the count limits is dropped without an error.

Filter values are the exception: the filter widgets' choices come from the
store only after the first refresh, and the link names the group the alert is
about, so a filter value is kept as given (within the bounds). It then filters
like a chosen value: the page shows that value's spend, or "no data" when the
range has none. It is shown as text: filter labels are escaped
(:func:`costpipe.dashboard.controls.text_options`) and the query layer binds
values as parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from costpipe.dashboard.periods import Preset
from costpipe.query.api import Basis, Granularity

__all__ = [
    "MAX_FILTER_VALUES",
    "MAX_PARAMETERS",
    "MAX_VALUE_LENGTH",
    "LinkState",
    "parse_link",
]

#: At most this many (name, value) pairs are looked at; the rest are ignored.
MAX_PARAMETERS = 64
#: A longer value (in characters) is ignored: no store value a link names is this long.
MAX_VALUE_LENGTH = 256
#: At most this many values per filter dimension (the first ones in the query).
MAX_FILTER_VALUES = 16

QueryArgs = Mapping[str, Sequence[bytes | str]]
_Choice = TypeVar("_Choice", Preset, Granularity, Basis)


@dataclass(frozen=True, slots=True)
class LinkState:
    """What a link asks the controls to show; ``None`` leaves a control as it is.

    ``group_by`` is only known to be a plausible dimension name: enricher tags
    are offered once the store is read, so the caller checks it against the
    group-by control's choices."""

    preset: Preset | None = None
    group_by: str | None = None
    granularity: Granularity | None = None
    basis: Basis | None = None
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return self == LinkState()


def _text(raw: bytes | str) -> str | None:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not raw or len(raw) > MAX_VALUE_LENGTH or "\x00" in raw:
        return None
    return raw


def _pairs(args: QueryArgs) -> list[tuple[str, str]]:
    """The first :data:`MAX_PARAMETERS` (name, value) pairs with usable text."""
    pairs: list[tuple[str, str]] = []
    for name, values in args.items():
        for raw in values:
            if len(pairs) >= MAX_PARAMETERS:
                return pairs
            value = _text(raw)
            if value is not None and len(name) <= MAX_VALUE_LENGTH:
                pairs.append((name, value))
    return pairs


def _choice(kind: type[_Choice], value: str) -> _Choice | None:
    try:
        return kind(value)
    except ValueError:
        return None


def parse_link(args: QueryArgs, filter_dimensions: Sequence[str]) -> LinkState:
    """The view *args* (``pn.state.session_args``: name -> list of raw values)
    asks for. For a single-valued control the first valid value wins; filter
    values are kept in order, without repeats, for *filter_dimensions* only."""
    preset: Preset | None = None
    granularity: Granularity | None = None
    basis: Basis | None = None
    group_by: str | None = None
    filters: dict[str, list[str]] = {}
    for name, value in _pairs(args):
        if name == "preset" and preset is None:
            preset = _choice(Preset, value)
        elif name == "granularity" and granularity is None:
            granularity = _choice(Granularity, value)
        elif name == "basis" and basis is None:
            basis = _choice(Basis, value)
        elif name == "group_by" and group_by is None:
            group_by = value if value.isprintable() else None
        elif name in filter_dimensions:
            chosen = filters.setdefault(name, [])
            if value not in chosen and len(chosen) < MAX_FILTER_VALUES:
                chosen.append(value)
    return LinkState(
        preset=preset,
        group_by=group_by,
        granularity=granularity,
        basis=basis,
        filters={dim: tuple(values) for dim, values in filters.items()},
    )
