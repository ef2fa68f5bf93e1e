"""Past local-model traffic, for ``costpipe demo``: days of Ollama requests sent
through the real metering proxy to an Ollama server (the simulator's fake).

The demo's daemon does not serve the proxy (its passes run in the demo's own
process, not ``costpipe run``), so the history is written the way production
writes it: a :class:`MeteringProxy` with its journal in the demo instance's
state directory, stamped with the past instants it replays. The demo's
backfill then reads it like any other provider's usage. The demo reaches it as
:meth:`OllamaProvider.replay_history` through the plugin registry, never by
importing this package.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp

from costpipe.providers.ollama.config import OllamaConfig
from costpipe.providers.ollama.journal import Journal
from costpipe.providers.ollama.proxy import MeteringProxy

__all__ = ["DEMO_USER_HEADER", "LOCAL_USERS", "replay_local_traffic"]

DEMO_USER_HEADER = "X-Demo-User"
LOCAL_USERS = ("ana (research)", "ben (support bot)", "chen (code review)")
_JOBS = (
    ("/api/chat", "llama3.2", "messages"),
    ("/api/generate", "qwen2.5-coder:7b", "prompt"),
    ("/api/embed", "nomic-embed-text", "input"),
    ("/v1/chat/completions", "llama3.2", "messages"),
)


def _forget_previous_run(journal_dir: Path) -> None:
    # The history is regenerated on every run (the same for a seed): replaying it into
    # an old journal would count its requests twice.
    for old in journal_dir.glob("*.jsonl"):
        old.unlink()


async def replay_local_traffic(
    upstream: str, journal_dir: Path, since: datetime, now: datetime, seed: int = 1
) -> int:
    """Send a few requests for every hour in ``[since, now)``; return how many."""
    config = OllamaConfig(
        upstream=upstream,
        listen="127.0.0.1:0",
        identity_header=DEMO_USER_HEADER,
        journal_batch_events=256,
    )
    journal = Journal(journal_dir, batch_events=256, flush_interval=1.0)
    journal.start()
    _forget_previous_run(journal_dir)
    stamp = [since]
    proxy = MeteringProxy(
        config,
        journal,
        instance="ollama.local",
        clock_ns=lambda: int(stamp[0].timestamp() * 1_000_000_000),
    )
    await proxy.start()
    sent = 0
    try:
        async with aiohttp.ClientSession() as session:
            hour = since
            while hour + timedelta(hours=1) <= now:
                digest = hashlib.blake2b(f"{seed}:{hour.isoformat()}".encode()).digest()
                # Busier in working hours, a little at night.
                busy = 9 <= hour.hour < 18
                for index in range(1 + digest[0] % (6 if busy else 2)):
                    path, model, field = _JOBS[digest[index + 1] % len(_JOBS)]
                    user = LOCAL_USERS[digest[index + 8] % len(LOCAL_USERS)]
                    text = f"request {index} at {hour:%H}h " + "token " * (digest[index + 16] % 40)
                    body: dict[str, object] = {"model": model, "stream": index % 2 == 0}
                    body[field] = (
                        [{"role": "user", "content": text}] if field == "messages" else text
                    )
                    stamp[0] = hour + timedelta(minutes=7 * index + 3)
                    async with session.post(
                        proxy.url + path, json=body, headers={DEMO_USER_HEADER: user}
                    ) as response:
                        await response.read()
                    sent += 1
                hour += timedelta(hours=1)
    finally:
        await proxy.stop()
        await journal.close()
    return sent
