"""The Ollama provider: the proxy's journal read back as hourly usage records.

Inside ``costpipe run`` (``ComponentContext.serving``) :meth:`OllamaProvider.start`
also starts the :class:`~costpipe.providers.ollama.proxy.MeteringProxy`; in
``check``, ``backfill`` and ``demo`` the provider only reads the journal, so
those commands never compete with the daemon for its port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import aiohttp

from costpipe.components import ComponentContext, Provider
from costpipe.errors import TransientError
from costpipe.logging import register_secret
from costpipe.pricing.prices import PriceTable
from costpipe.providers.ollama.aggregate import hour_records
from costpipe.providers.ollama.config import OllamaConfig
from costpipe.providers.ollama.journal import Journal
from costpipe.providers.ollama.proxy import MeteringProxy
from costpipe.providers.planning import aligned_range
from costpipe.records import CostRecord, Window

__all__ = ["OllamaProvider"]

_HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _now() -> datetime:
    return datetime.now(UTC)


class OllamaProvider(Provider[OllamaConfig]):
    """Local models behind a metering proxy, priced at internal rates."""

    name: ClassVar[str] = "ollama"
    config_model: ClassVar[type[OllamaConfig]] = OllamaConfig
    bucket: ClassVar[str] = "1h"

    def __init__(
        self,
        config: OllamaConfig,
        context: ComponentContext,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        super().__init__(config, context)
        for key in config.keys.values():
            register_secret(key.token.get_secret_value())
        self._clock = clock
        self.journal = Journal(
            context.state_dir / "journal",
            batch_events=config.journal_batch_events,
            flush_interval=config.journal_flush_interval.total_seconds(),
        )
        self.proxy: MeteringProxy | None = None
        self._prices = context.prices if context.prices is not None else PriceTable.bundled()
        self._skipped_reported = 0

    async def start(self) -> None:
        self.journal.start()
        if self.context.serving:
            self.proxy = MeteringProxy(
                self.config,
                self.journal,
                instance=self.instance,
                clock_ns=self._clock_ns,
                log=self.log,
            )
            await self.proxy.start()

    def _clock_ns(self) -> int:
        return (self._clock() - _EPOCH) // _MICROSECOND * 1000

    async def close(self) -> None:
        try:
            if self.proxy is not None:
                await self.proxy.stop()
                self.proxy = None
        finally:
            await self.journal.close()

    async def check_connection(self) -> str:
        url = self.config.upstream + "/api/version"
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
                session.get(url) as response,
            ):
                text = (await response.content.read(4096)).decode("utf-8", "replace")
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(
                f"{self.instance}: Ollama at {self.config.upstream} is unreachable "
                f"({type(exc).__name__})"
            ) from None
        if status != 200:
            raise TransientError(f"{self.instance}: Ollama answered {status} to /api/version")
        return f"Ollama at {self.config.upstream} answered /api/version ({len(text)} bytes)"

    async def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        """One batch per complete hour that ends in *window*, read from the journal
        after writing the open batch (so a pass sees every request finished before it)."""
        await self.journal.flush()
        span = aligned_range(window, _HOUR, self._clock())
        if span is None:
            return
        hours = [h for h in self.journal.hours() if span.start <= h < span.end]
        for hour in hours:
            records = hour_records(
                hour,
                self.journal.read_hour(hour),
                account=self.instance,
                prices=self._prices,
                gpu_hour_usd=self.config.gpu_hour_usd,
            )
            yield records
        if self.journal.lines_skipped > self._skipped_reported:
            self.log.warning(
                "journal_lines_skipped",
                provider=self.instance,
                lines=self.journal.lines_skipped - self._skipped_reported,
            )
            self._skipped_reported = self.journal.lines_skipped

    @staticmethod
    async def replay_history(
        upstream: str, journal_dir: Path, since: datetime, now: datetime, seed: int = 1
    ) -> int:
        """Send a few requests per hour of ``[since, now)`` through a proxy stamped
        with those instants, into *journal_dir*; return how many (``costpipe demo``,
        :mod:`costpipe.providers.ollama.history`)."""
        from costpipe.providers.ollama.history import replay_local_traffic

        return await replay_local_traffic(upstream, journal_dir, since, now, seed)

    def checkpointed(self, moment: datetime) -> None:
        """The hours that end by *moment* are stored in every sink: drop their journal files."""
        removed = self.journal.compact(moment)
        if removed:
            self.log.info(
                "journal_compacted",
                provider=self.instance,
                files=removed,
                before=moment.isoformat(),
            )
