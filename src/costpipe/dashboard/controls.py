"""The page's controls: date range, group by, granularity, basis, filters, CSV.

Filter options are values from the data, and Bokeh's ``MultiChoice`` hands its
option labels to Choices.js with ``allowHTML: true`` (Bokeh 3.x), which writes
them with ``innerHTML``: a model called ``<img src=x onerror=...>`` would run
script. :func:`text_options` therefore gives the widget escaped labels mapped
to the raw values, so the page shows the name as text and the query still gets
the value exactly as the store holds it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from typing import Any

import panel as pn

from costpipe.dashboard.periods import Preset
from costpipe.dashboard.urlstate import LinkState
from costpipe.dashboard.viewmodel import FILTER_DIMENSIONS, GROUP_LABELS, Selection, group_choices
from costpipe.query.api import Basis, Granularity

__all__ = ["Controls", "csv_filename", "text_options"]


def text_options(values: Iterable[str]) -> dict[str, str]:
    """Label -> value for a widget that renders labels as HTML: each label is
    the value escaped (``html.escape`` is injective, so labels stay distinct)."""
    return {html.escape(value, quote=True): value for value in values}


_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9_.-]+")


def csv_filename(group_by: str, preset: Preset) -> str:
    """``costpipe-<dimension>-<preset>.csv`` with anything but ``[A-Za-z0-9_.-]``
    replaced: a tag name from the data must not shape the download's path."""
    dimension = _UNSAFE_FILENAME.sub("_", group_by)[:60] or "group"
    return f"costpipe-{dimension}-{preset.value}.csv"


class _ServerHoldsTheState:
    """Mixin for a Panel selection widget: what the browser sends is checked
    against the choices the widget offers; anything else changes nothing,
    raises nothing, and the browser is sent the server's state back.

    Panel maps a client message without bounds: ``RadioButtonGroup`` indexes
    ``values[active]``, so ``active=-1`` silently picks the *last* option (the
    page switched to estimated cost) and ``active=7`` raises ``IndexError``;
    ``Select`` raises ``ValueError`` on an unknown label and maps ``""`` to the
    first option; ``MultiChoice`` drops unknown labels while the browser keeps
    showing them chosen. Panel batches a widget's messages that arrive while one
    is pending, so which of these a page saw depended on timing.
    """

    _client_overruled: bool = False

    def _screen(self, sent: object) -> object:
        """The part of *sent* the widget offers, or :data:`_REFUSED`."""
        raise NotImplementedError

    def _process_property_change(self, props: dict[str, Any]) -> dict[str, Any]:
        name = "active" if "active" in props else "value"
        if name in props:
            kept = self._screen(props[name])
            if kept != props[name]:
                self._client_overruled = True
                props = {k: v for k, v in props.items() if k != name}
                if kept is not _REFUSED:
                    props[name] = kept
        result: dict[str, Any] = super()._process_property_change(props)  # type: ignore[misc]
        return result

    def _process_events(self, events: dict[str, Any]) -> None:
        super()._process_events(events)  # type: ignore[misc]
        if self._client_overruled:
            self._client_overruled = False
            # After Panel's echo suppression has ended: the browser's model goes
            # back to the value the figures are computed for.
            self.param.trigger("value")  # type: ignore[attr-defined]


_REFUSED = object()


class StrictSelect(_ServerHoldsTheState, pn.widgets.Select):
    """A ``Select`` that takes only one of its own labels from the browser."""

    def _screen(self, sent: object) -> object:
        offered = isinstance(sent, str) and (sent in self.labels or sent in self.unicode_values)
        return sent if offered else _REFUSED


class StrictRadioButtonGroup(_ServerHoldsTheState, pn.widgets.RadioButtonGroup):
    """A ``RadioButtonGroup`` that takes only the index of one of its buttons."""

    def _screen(self, sent: object) -> object:
        offered = type(sent) is int and 0 <= sent < len(self.values)
        return sent if offered else _REFUSED


class StrictMultiChoice(_ServerHoldsTheState, pn.widgets.MultiChoice):
    """A ``MultiChoice`` that keeps the offered labels of a client's choice."""

    def _screen(self, sent: object) -> object:
        if not isinstance(sent, list):
            return _REFUSED  # a string would be read character by character
        labels = set(self.labels)
        return [label for label in sent if isinstance(label, str) and label in labels]


def _buttons(label: str, options: dict[str, str], value: str) -> StrictRadioButtonGroup:
    return StrictRadioButtonGroup(
        label=label, options=options, value=value, color="primary", variant="outline"
    )


class Controls:
    """The widgets of one session; :meth:`selection` reads their state."""

    def __init__(self, initial: Selection, top: int, csv: Callable[[], Any]) -> None:
        self._top = top
        self.range = StrictSelect(
            label="Date range",
            options={p.label: p.value for p in Preset},
            value=initial.preset.value,
            sizing_mode="stretch_width",
        )
        self.group_by = StrictSelect(
            label="Group by",
            options=group_choices([]),
            value=initial.group_by,
            sizing_mode="stretch_width",
        )
        self.granularity = _buttons(
            "Granularity",
            {"Daily": Granularity.DAY.value, "Hourly": Granularity.HOUR.value},
            initial.granularity.value,
        )
        self.basis = _buttons(
            "Cost basis",
            {
                "Billed": Basis.BILLED.value,
                "Estimated": Basis.ESTIMATED.value,
                "Allocated": Basis.ALLOCATED.value,
                "Best": Basis.BEST.value,
            },
            initial.basis.value,
        )
        self.filters = {
            dim: StrictMultiChoice(
                label=f"{GROUP_LABELS[dim]} filter",
                options={},
                placeholder="all",
                sizing_mode="stretch_width",
            )
            for dim in FILTER_DIMENSIONS
        }
        self.download = pn.widgets.FileDownload(
            callback=csv,
            filename="costpipe-breakdown.csv",
            label="Download CSV",
            color="primary",
            variant="outline",
        )

    @property
    def watched(self) -> list[pn.widgets.Widget]:
        """Every control whose change recomputes the page."""
        return [self.range, self.group_by, self.granularity, self.basis, *self.filters.values()]

    def selection(self) -> Selection:
        return Selection(
            preset=Preset(self.range.value),
            group_by=self.group_by.value,
            granularity=Granularity(self.granularity.value),
            basis=Basis(self.basis.value),
            filters={dim: tuple(w.value) for dim, w in self.filters.items() if w.value},
            top=self._top,
        )

    def apply_link(self, link: LinkState) -> bool:
        """Set the controls a link names (see :mod:`~costpipe.dashboard.urlstate`).
        Returns whether every part was applied: ``False`` while ``group_by`` is
        not (yet) one of the group-by choices, e.g. a tag before :meth:`set_tags`."""
        if link.preset is not None:
            self.range.value = link.preset.value
        if link.granularity is not None:
            self.granularity.value = link.granularity.value
        if link.basis is not None:
            self.basis.value = link.basis.value
        for dim, values in link.filters.items():
            widget = self.filters.get(dim)
            if widget is not None and values:
                # Free values, offered as escaped labels like the store's values.
                widget.options = text_options(sorted(set(widget.value) | set(values)))
                widget.value = list(values)
        if link.group_by is None:
            return True
        if link.group_by in self.group_by.values:
            self.group_by.value = link.group_by
            return True
        return False

    def set_tags(self, tags: list[str]) -> None:
        """Offer the store's enricher tags in the group-by control."""
        # Bokeh's Select writes option labels as DOM text: tag names need no escaping.
        self.group_by.options = group_choices(tags)

    def set_filter_options(self, options: dict[str, list[str]]) -> None:
        for dim, widget in self.filters.items():
            # Keep chosen values selectable even if the new range lacks them.
            widget.options = text_options(sorted(set(options.get(dim, [])) | set(widget.value)))

    def group_label(self, dimension: str) -> str:
        """The group-by control's label of *dimension*."""
        return str(self.group_by.labels[self.group_by.values.index(dimension)])

    def widgets(self) -> list[Any]:
        """The sidebar, in display order."""
        return [
            self.range,
            self.group_by,
            pn.pane.HTML("Granularity", margin=(10, 10, 0, 10)),
            self.granularity,
            pn.pane.HTML("Cost basis", margin=(10, 10, 0, 10)),
            self.basis,
            pn.pane.HTML("<h4>Filters</h4>", margin=(16, 10, 0, 10)),
            *self.filters.values(),
        ]
