"""Shared fixtures of the dashboard tests: a store filled with realistic spend."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from costpipe.dashboard.sample import sample_records
from costpipe.records import CostRecord
from costpipe.testing.memory import MemorySink

#: The dashboard's "now" in every test: a Wednesday afternoon in Berlin.
NOW = datetime(2026, 11, 18, 14, 20, tzinfo=UTC)
TIMEZONE = "Europe/Berlin"


def expected_total(
    records: Iterable[CostRecord],
    start: datetime,
    end: datetime,
    basis: str,
    **filters: tuple[str, ...],
) -> Decimal:
    """The spend the page must show, summed independently of any reader."""
    return sum(
        (
            r.cost_usd
            for r in records
            if start <= r.start < end
            and r.basis == basis
            and all(r.dimension(d) in v for d, v in filters.items())
        ),
        Decimal(0),
    )


@pytest.fixture(scope="session")
def records() -> list[CostRecord]:
    return list(sample_records(NOW, days=70, streams_per_hour=10))


@pytest.fixture
def memory_sink(records: list[CostRecord]) -> MemorySink:
    sink = MemorySink.create()
    sink.add(*records)
    return sink


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium, headless; `playwright install` is never run."""
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
        ],
    }
