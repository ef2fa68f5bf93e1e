"""Billed money down to the usage rows: the ``allocated`` basis.

:mod:`~costpipe.allocation.split` splits an integer amount exactly,
:mod:`~costpipe.allocation.charges` reads what a billed line item buys,
:mod:`~costpipe.allocation.cells` allocates cells over usage rows (pure) and
:mod:`~costpipe.allocation.runner` re-allocates stored days. See
``docs/allocation.md``.
"""

from __future__ import annotations

from costpipe.allocation.cells import UNATTRIBUTED, CellReport, DayAllocation, allocate
from costpipe.allocation.runner import AllocationRun, RowStore, days_of, reallocate
from costpipe.allocation.split import split

__all__ = [
    "UNATTRIBUTED",
    "AllocationRun",
    "CellReport",
    "DayAllocation",
    "RowStore",
    "allocate",
    "days_of",
    "reallocate",
    "split",
]
