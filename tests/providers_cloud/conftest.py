"""What the cloud billing providers' tests share: a timer that never sleeps and a
fixture that starts a provider against the simulator and closes it afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pytest

from costpipe.components import ComponentContext, Provider
from costpipe.providers.http.retry import Timer

P = TypeVar("P", bound=Provider[Any])


class RecordingTimer(Timer):
    """A timer whose sleep records the wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 0.0

        async def sleep(seconds: float) -> None:
            self.waits.append(seconds)
            self.now += seconds

        super().__init__(monotonic=lambda: self.now, sleep=sleep)


class StartProvider(Protocol):
    async def __call__(
        self,
        kind: type[P],
        settings: dict[str, object],
        *,
        now: datetime,
        timer: Timer | None = None,
    ) -> P: ...


@pytest.fixture
async def start_cloud_provider(tmp_path: Path) -> AsyncIterator[StartProvider]:
    """``await start(kind, settings, now=...)``: a started *kind* named
    ``<kind.name>.main`` with its clock at *now* and a :class:`RecordingTimer`
    unless *timer* is given; every one is closed at teardown."""
    made: list[Provider[Any]] = []

    async def start(
        kind: type[P], settings: dict[str, object], *, now: datetime, timer: Timer | None = None
    ) -> P:
        context = ComponentContext(
            instance=f"{kind.name}.main",
            state_dir=tmp_path / "state",
            request_slots=asyncio.Semaphore(4),
        )
        clock: Callable[[], datetime] = lambda: now  # noqa: E731
        provider = kind(  # type: ignore[call-arg]
            kind.config_model.model_validate(settings),
            context,
            clock=clock,
            timer=timer or RecordingTimer(),
        )
        await provider.start()
        made.append(provider)
        return provider

    yield start
    for provider in made:
        await provider.close()
