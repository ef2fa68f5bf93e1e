"""Dead-letter file: points a store refused for good, kept with the reason.

One JSON object per line (``at``, ``sink``, ``reason``, ``line``, ``record``),
appended and fsynced (the file is ``0600``), so nothing a store rejects is lost silently. A human can
fix the cause and replay the ``record`` objects with
:func:`costpipe.recordcodec.record_from_json`.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, cast

from costpipe.files import open_private
from costpipe.recordcodec import record_to_json
from costpipe.records import CostRecord

__all__ = ["DeadLetterFile"]


class DeadLetterFile:
    def __init__(self, path: Path, sink: str) -> None:
        self.path = path
        self.sink = sink
        self.count = 0

    async def add(self, entries: Sequence[tuple[CostRecord, str, str]]) -> None:
        """Append ``(record, line, reason)`` entries durably."""
        if not entries:
            return
        at = datetime.now(UTC).isoformat()
        payload = b"".join(
            json.dumps(
                {
                    "at": at,
                    "sink": self.sink,
                    "reason": reason,
                    "line": line,
                    "record": record_to_json(record),
                },
                ensure_ascii=False,
            ).encode()
            + b"\n"
            for record, line, reason in entries
        )
        await asyncio.to_thread(self._append, payload)
        self.count += len(entries)

    def _append(self, payload: bytes) -> None:
        # Refused records name users and keys: 0600 in a 0700 directory, whatever the umask.
        with cast(IO[bytes], open_private(self.path, "ab")) as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
