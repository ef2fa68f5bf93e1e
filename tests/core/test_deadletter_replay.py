"""``engine.deadletters.replay`` through the real InfluxDB sink: what an
interrupted replay left is picked up, an unreadable line is kept, and a store
that is down keeps every dead letter where it was."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from costpipe.components import Sink
from costpipe.engine.deadletters import dead_letter_path, replay
from costpipe.engine.runtime import build_component
from costpipe.files import private_dir
from costpipe.recordcodec import record_to_json
from costpipe.records import CostRecord, CostSource
from costpipe.sinks.deadletter import FILE_NAME, DeadLetterFile, read_entries
from costpipe.testing.influxd import InfluxdServer
from tests.conftest import MakeSettings

HOUR = timedelta(hours=1)
START = datetime(2026, 11, 2, tzinfo=UTC)


def records(count: int, model: str) -> list[CostRecord]:
    return [
        CostRecord(
            start=START + i * HOUR,
            width=HOUR,
            provider="openai",
            account="acct",
            cost_source=CostSource.BILLED,
            cost_usd=Decimal("0.25"),
            model=model,
        )
        for i in range(count)
    ]


def dead_letter_lines(found: Sequence[CostRecord]) -> bytes:
    return b"".join(
        json.dumps(
            {
                "at": "2026-11-03T00:00:00+00:00",
                "sink": "influxdb.main",
                "reason": "was refused",
                "line": "",
                "record": record_to_json(r),
            }
        ).encode()
        + b"\n"
        for r in found
    )


async def started_sink(make_settings: MakeSettings, url: str, database: str) -> Sink[Any]:
    settings = make_settings(
        f'[[sinks.influxdb]]\nname = "main"\nurl = "{url}"\ndatabase = "{database}"\n'
        "max_tries = 1\ntimeout_seconds = 5\n"
    )
    sink = build_component(settings, settings.sinks[0])
    assert isinstance(sink, Sink)
    private_dir(sink.context.state_dir)
    await sink.start()
    return sink


async def test_replay_sends_the_leftover_and_the_file_and_keeps_unreadable_lines(
    make_settings: MakeSettings, influxd: InfluxdServer
) -> None:
    sink = await started_sink(make_settings, influxd.url, "replay_leftover")
    path = dead_letter_path(make_settings(), "influxdb.main")
    assert sink.dead_letters.path == path  # type: ignore[attr-defined]
    path.write_bytes(dead_letter_lines(records(3, "in-file")) + b"not json at all\n")
    leftover = path.with_name("dead-letter.jsonl.replaying")  # an interrupted replay's
    leftover.write_bytes(dead_letter_lines(records(2, "left-over")))
    try:
        result = await replay(sink, path, batch=2)
    finally:
        await sink.close()
    assert (result.sent, result.accepted, result.refused, result.unsent) == (5, 5, 0, 1)
    assert not result.complete
    assert path.read_bytes() == b"not json at all\n"
    assert not leftover.exists()


async def test_a_store_that_is_down_keeps_every_dead_letter(
    make_settings: MakeSettings, free_port: int
) -> None:
    sink = await started_sink(make_settings, f"http://127.0.0.1:{free_port}", "down")
    path = dead_letter_path(make_settings(), "influxdb.main")
    original = dead_letter_lines(records(5, "kept"))
    path.write_bytes(original)
    try:
        result = await replay(sink, path, batch=2)
    finally:
        await sink.close()
    assert result.sent == 0
    assert result.unsent == 5
    assert result.error is not None
    assert result.error.startswith("SinkUnavailableError: InfluxDB at http://127.0.0.1:")
    assert path.read_bytes() == original
    assert not path.with_name("dead-letter.jsonl.replaying").exists()


async def test_an_append_racing_a_replay_lands_in_the_new_file(tmp_path: Path) -> None:
    """A daemon that dead-letters while ``deadletter replay`` takes the file aside:
    the append that opened the old file before the rename must not write into
    the file the replay is about to delete."""
    path = tmp_path / FILE_NAME
    dead = DeadLetterFile(path, "influxdb.main")
    await dead.add([(records(1, "first")[0], "line", "refused")])
    inode = os.stat(path).st_ino
    with path.open("rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # as take_aside holds it
        racing = asyncio.create_task(dead.add([(records(1, "racing")[0], "line", "refused")]))
        async with asyncio.timeout(10):
            # Until the append has opened the file and waits for the lock: the
            # kernel's lock table is the only witness, so it is polled.
            while not any(f":{inode} " in line and "->" in line for line in _locks()):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        path.rename(tmp_path / "aside.jsonl")
    await racing
    assert [e.record["model"] for e in read_entries(tmp_path / "aside.jsonl")] == ["first"]  # type: ignore[index]
    assert [e.record["model"] for e in read_entries(path)] == ["racing"]  # type: ignore[index]


def _locks() -> list[str]:
    return Path("/proc/locks").read_text().splitlines()
