"""Bounds on one fetch: pages per request and time per fetch.

A provider that never stops paging (``has_more: true`` with a fresh cursor on
every page) would otherwise keep a pass running, and its memory growing, for
ever. A :class:`FetchBudget` is made at the start of each ``fetch`` and asked
before every page request; past a bound it raises :class:`PagingLimitError`,
which fails the provider's pass (it is not a malformed page: setting it aside
would hide a broken or hostile server behind a "partial" result).
"""

from __future__ import annotations

from datetime import timedelta

from costpipe.config.durations import format_duration
from costpipe.errors import CostpipeError
from costpipe.providers.http.retry import Timer

__all__ = ["FetchBudget", "PagingLimitError"]


class PagingLimitError(CostpipeError):
    """A fetch went past ``max_pages`` or ``max_fetch_duration``: the pass fails."""


class FetchBudget:
    """The page and time bounds of one ``fetch`` call of one provider instance."""

    def __init__(
        self, instance: str, *, max_pages: int, max_duration: timedelta, timer: Timer
    ) -> None:
        self.instance = instance
        self.max_pages = max_pages
        self.max_duration = max_duration
        self._timer = timer
        self._started = timer.monotonic()

    def before_page(self, endpoint: str, number: int) -> None:
        """Call before requesting page *number* (1 for the first) of one request
        of the plan; *endpoint* is its URL without credentials or query."""
        if number > self.max_pages:
            raise PagingLimitError(
                f"{self.instance}: {endpoint} still had more pages after {self.max_pages} "
                f"(max_pages); the server keeps paging, so this pass stopped and failed. "
                "Raise max_pages only if a single request really has that many pages."
            )
        elapsed = self._timer.monotonic() - self._started
        if elapsed >= self.max_duration.total_seconds():
            raise PagingLimitError(
                f"{self.instance}: fetching has taken "
                f"{format_duration(self.max_duration)} (max_fetch_duration) before page "
                f"{number} of {endpoint}; this pass stopped and failed."
            )
