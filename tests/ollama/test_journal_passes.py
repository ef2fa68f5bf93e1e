"""The journal through real passes: stored once, compacted after the checkpoint,
never counted twice; torn lines; the batch bound; internal rates."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from costpipe.engine.passes import PassRunner
from costpipe.providers.ollama import Journal, UsageEvent
from costpipe.providers.ollama.aggregate import gpu_cost
from costpipe.records import CostSource
from costpipe.simulator.ollama_api import FakeOllama, expected_counts
from tests.conftest import MakeSettings
from tests.ollama.conftest import ALICE_TOKEN, Clock, Setup, StartProvider

PROMPT = "count these words please"


def _totals(database: Path) -> tuple[int, int, int]:
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT sum(requests), sum(uncached_input_tokens), sum(output_tokens) FROM costs "
            "WHERE provider = 'ollama'"
        ).fetchone()
    return (row[0] or 0, row[1] or 0, row[2] or 0)


@pytest.mark.asyncio
async def test_passes_store_once_compact_and_never_double_count(
    fake: FakeOllama, start_provider: StartProvider, make_settings: MakeSettings, tmp_path: Path
) -> None:
    """Traffic of three past hours; three scheduled passes (the 2nd after the
    journal was compacted): the store holds each request exactly once."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    clock = Clock(now - timedelta(hours=5))
    writer = await start_provider(fake.base_url, clock)
    assert writer.proxy is not None
    sent = 0
    async with aiohttp.ClientSession() as session:
        for hour in range(3):
            clock.now = now - timedelta(hours=5 - hour, minutes=-20)
            for _ in range(4):
                async with session.post(
                    writer.proxy.url + "/api/generate",
                    json={"model": "llama3.2", "prompt": PROMPT, "stream": False},
                    headers={"Authorization": f"Bearer {ALICE_TOKEN}"},
                ) as response:
                    assert response.status == 200
                sent += 1
    await writer.journal.flush()
    assert len(writer.journal.hours()) == 3

    database = tmp_path / "costs.sqlite"
    settings = make_settings(
        f"""
        [pipeline]
        lookback = "1d"
        [[providers.ollama]]
        name = "gpu"
        upstream = "{fake.base_url}"
        [[sinks.sqlite]]
        path = "{database}"
        """
    )
    journal_dir = settings.pipeline.state_dir / "providers" / "ollama.gpu" / "journal"
    journal_dir.parent.mkdir(parents=True)
    writer.journal.directory.rename(journal_dir)
    inp, out = expected_counts(PROMPT)
    for _ in range(3):
        async with PassRunner(settings) as runner:
            results = await runner.scheduled_pass()
        assert [r.error for r in results] == [None]
        assert (sent, sent * inp, sent * out) == _totals(database)
    assert list(journal_dir.iterdir()) == []


def test_torn_line_is_skipped_and_the_next_writer_starts_a_fresh_line(tmp_path: Path) -> None:
    """A crash mid-write leaves half a line: it is skipped, and the next event,
    appended after it, is read whole."""
    hour = datetime(2026, 11, 30, 10, tzinfo=UTC)
    at = int((hour + timedelta(minutes=5)).timestamp()) * 1_000_000_000
    journal = Journal(tmp_path, batch_events=1, flush_interval=1.0)
    journal.start()
    (tmp_path / "2026-11-30T10.jsonl").write_bytes(
        b'{"at":%d,"route":"api/chat","model":"m","user":"u"}\n{"at":%d,"route":"api/ch' % (at, at)
    )

    async def append() -> None:
        journal.append(UsageEvent(at=at, route="api/chat", model="m", user="v", input_tokens=3))
        await journal.close()

    import asyncio

    asyncio.run(append())
    events = list(journal.read_hour(hour))
    assert [("u", 0), ("v", 3)] == [(e.user, e.input_tokens) for e in events]
    assert journal.lines_skipped == 1


@pytest.mark.asyncio
async def test_open_batch_never_exceeds_the_batch_size(tmp_path: Path) -> None:
    """The batch is written when it is full: what a kill -9 can lose is bounded."""
    journal = Journal(tmp_path, batch_events=5, flush_interval=60.0)
    journal.start()
    at = int(datetime(2026, 11, 30, 10, 5, tzinfo=UTC).timestamp()) * 1_000_000_000
    for index in range(23):
        journal.append(UsageEvent(at=at, route="api/chat", model="m", user=str(index)))
        assert journal.pending < 5
    lines = (tmp_path / "2026-11-30T10.jsonl").read_bytes().count(b"\n")
    assert (20, 3) == (lines, journal.pending)
    await journal.close()
    assert (tmp_path / "2026-11-30T10.jsonl").read_bytes().count(b"\n") == 23


@pytest.mark.asyncio
async def test_journal_files_are_private(setup: Setup) -> None:
    await setup.post(setup.proxy_url, "/api/generate", {"model": "llama3.2", "prompt": "x"})
    await setup.provider.journal.flush()
    directory = setup.provider.journal.directory
    assert directory.stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in directory.iterdir()} == {0o600}


@pytest.mark.asyncio
async def test_gpu_rate_prices_by_total_duration(
    fake: FakeOllama, start_provider: StartProvider
) -> None:
    """gpu_hour_usd x the requests' total_duration, estimated, the rate in a tag."""
    clock = Clock(datetime(2026, 11, 30, 10, 17, tzinfo=UTC))
    provider = await start_provider(fake.base_url, clock, gpu_hour_usd="2.40")
    async with aiohttp.ClientSession() as session:
        setup = Setup(fake, provider, clock, session)
        body = {"model": "llama3.2", "prompt": PROMPT, "stream": False}
        for _ in range(3):
            await setup.post(setup.proxy_url, "/api/generate", body)
        records = await setup.records()
    _, out = expected_counts(PROMPT)
    duration = 3 * 1_000_000 * (40 + out)  # the fake's total_duration per request
    assert [(CostSource.ESTIMATED, gpu_cost(duration, Decimal("2.40")))] == [
        (r.cost_source, r.cost_usd) for r in records
    ]
    assert records[0].tag_map == {"rate": "gpu_hour_usd=2.40"}
    assert Decimal("2.40") * duration / Decimal(3_600_000_000_000) == records[0].cost_usd


def test_gpu_cost_is_exact() -> None:
    assert Decimal("1.2000000000") == gpu_cost(1_800_000_000_000, Decimal("2.40"))
    assert Decimal("0E-10") == gpu_cost(0, Decimal("2.40"))


@pytest.mark.asyncio
async def test_token_price_wins_and_uncounted_stays_unpriced(
    fake: FakeOllama, start_provider: StartProvider, make_settings: MakeSettings
) -> None:
    """A [[prices]] entry for provider "ollama" prices the tokens; a stream that
    reported no tokens stays unpriced, even with a GPU rate."""
    from costpipe.components import ComponentContext
    from costpipe.pricing.prices import PriceTable
    from costpipe.providers.ollama import OllamaConfig, OllamaProvider

    settings = make_settings(
        """
        [[prices]]
        provider = "ollama"
        model = "llama3.2"
        input = "0.10"
        output = "0.40"
        """
    )
    prices = PriceTable.bundled().with_overrides(settings.prices)
    clock = Clock(datetime(2026, 11, 30, 10, 17, tzinfo=UTC))
    config = OllamaConfig.model_validate(
        {
            "upstream": fake.base_url,
            "listen": "127.0.0.1:0",
            "gpu_hour_usd": "2.40",
            "unknown_callers": "anonymous",
        }
    )
    context = ComponentContext(
        "ollama.priced", Path(settings.pipeline.state_dir), serving=True, prices=prices
    )
    provider = OllamaProvider(config, context, clock=clock)
    await provider.start()
    try:
        async with aiohttp.ClientSession() as session:
            setup = Setup(fake, provider, clock, session)
            await setup.post(
                setup.proxy_url,
                "/api/generate",
                {"model": "llama3.2", "prompt": PROMPT, "stream": False},
                token=None,
            )
            await setup.post(
                setup.proxy_url,
                "/v1/chat/completions",
                {
                    "model": "llama3.2",
                    "stream": True,
                    "messages": [{"role": "user", "content": "x"}],
                },
                token=None,
            )
            records = {r.line_item: r for r in await setup.records()}
    finally:
        await provider.close()
    inp, out = expected_counts(PROMPT)
    priced = records["api/generate"]
    assert (CostSource.ESTIMATED, (Decimal("0.10") * inp + Decimal("0.40") * out) / 1_000_000) == (
        priced.cost_source,
        priced.cost_usd,
    )
    assert priced.tag_map["rate"].startswith("per_million_tokens:input=0.10")
    uncounted = records["v1/chat/completions:uncounted"]
    assert (CostSource.UNPRICED, 1, 0) == (
        uncounted.cost_source,
        uncounted.requests,
        uncounted.output_tokens,
    )
