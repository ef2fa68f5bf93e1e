"""The costpipe dashboard: a Panel web app over the query layer.

Layout of this package, from pure to IO:

* :mod:`~costpipe.dashboard.periods`: date-range presets and budget periods.
* :mod:`~costpipe.dashboard.viewmodel`: every figure on the page, from a
  :class:`~costpipe.query.api.CostReader` (no Panel; unit-tested directly).
* :mod:`~costpipe.dashboard.formatting`: money, percentages, times, CSV.
* :mod:`~costpipe.dashboard.status`: data freshness from ``status.json``.
* :mod:`~costpipe.dashboard.app`: the Panel page (imports Panel).
* :mod:`~costpipe.dashboard.server`: serving, basic auth, reader life cycle.
* :mod:`~costpipe.dashboard.cli`: ``costpipe dashboard``.

Importing this package does not import Panel.
"""

from __future__ import annotations

from costpipe.dashboard.viewmodel import DashboardView, Selection, compute_view

__all__ = ["DashboardView", "Selection", "compute_view"]
