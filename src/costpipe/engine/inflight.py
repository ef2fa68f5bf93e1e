"""A provider pass's writes in flight, and the checkpoints that wait on them.

The pipeline decodes the next pages while earlier batches are still being
written, so the provider's CPU (decoding, pricing, records) overlaps the
store's work instead of adding to it. What must not change is *when* a
checkpoint advances: only once every batch written before it was accepted
(or spooled) by every sink. :class:`OrderedWrites` keeps the writes and the
checkpoint actions in one queue, in the order the pipeline issued them, and
runs an action only when everything ahead of it has succeeded.

Why batches of one pass may be written concurrently: a provider yields each
bucket of a window once (see :class:`~costpipe.components.Provider`), so the
batches of one pass carry distinct record keys, and the order in which the
store receives them changes nothing it keeps. A failed write still raises
(after the sink's retries and the spool), and no action queued after it runs.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["OrderedWrites"]


class OrderedWrites:
    """At most *limit* writes in flight; actions run in order behind them.

    Used by one task (a provider's pass); not safe to share between tasks.

    * :meth:`submit` starts a write, first waiting while *limit* writes are
      running (backpressure: the caller decodes no further ahead than that).
      It raises the first failure of any earlier write (even while writes
      before that one still run), so a pass stops fetching once a write failed.
    * :meth:`then` queues an action (a checkpoint, a progress report) that
      runs once every write submitted before it has succeeded, in order.
    * :meth:`drain` waits for every write still running, runs the actions that
      became due and raises the first failure in submission order. An action
      queued after a failed write never runs.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self._running: set[asyncio.Task[None]] = set()
        self._queue: deque[asyncio.Task[None] | Callable[[], None]] = deque()
        self._failure: BaseException | None = None
        """The first failure in submission order: nothing behind it runs."""
        self._broken: BaseException | None = None
        """The first failure in time, seen even while earlier writes still run."""

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def submit(self, write: Coroutine[Any, Any, None]) -> None:
        """Start *write* once fewer than ``limit`` writes run; raise an earlier failure."""
        try:
            self._settle()
            while len(self._running) >= self.limit and self._broken is None:
                await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
                self._settle()
            if self._broken is not None:
                raise self._broken
        except BaseException:
            write.close()  # never started: no "coroutine was never awaited" warning
            raise
        task = asyncio.create_task(write)
        self._running.add(task)
        task.add_done_callback(self._finished)
        self._queue.append(task)

    def then(self, action: Callable[[], None]) -> None:
        """Run *action* once every write submitted so far succeeded (now, if they have)."""
        if self._failure is None:
            self._queue.append(action)
            self._settle()

    async def drain(self) -> None:
        """Wait for every write, run the actions due, raise the first failure.

        Writes are never cancelled here: a batch being written is finished,
        even when the pass is stopping or failing for another reason."""
        while self._running:
            # asyncio.wait never cancels what it waits for, even when the pass is.
            await asyncio.wait(set(self._running))
        self._settle()
        if self._failure is not None:
            raise self._failure

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._broken is None:
            if task.cancelled():
                self._broken = asyncio.CancelledError("a write was cancelled")
            else:
                self._broken = task.exception()

    def _settle(self) -> None:
        """Pop finished writes and due actions off the head of the queue."""
        while self._queue and self._failure is None:
            head = self._queue[0]
            if isinstance(head, asyncio.Task):
                if not head.done():
                    return
                self._queue.popleft()
                if head.cancelled():
                    self._failure = asyncio.CancelledError("a write was cancelled")
                elif (error := head.exception()) is not None:
                    self._failure = error
            else:
                self._queue.popleft()
                try:
                    head()
                except Exception as exc:  # e.g. a checkpoint file that cannot be saved
                    self._failure = exc
        if self._failure is not None and self._broken is None:
            self._broken = self._failure
        if self._failure is not None:
            # Nothing behind a failed write may run; retrieve the other writes'
            # errors so that asyncio does not report them as never retrieved.
            for item in self._queue:
                if isinstance(item, asyncio.Task):
                    item.add_done_callback(_retrieve)
            self._queue.clear()


def _retrieve(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()
