"""Tag values through aioinflux 0.9.0 and through costpipe's encoder, read back from influxd.

Why the InfluxDB sink does not write with aioinflux (``docs/storage.md``): each
awkward tag value is written once with ``aioinflux.serialization.serialize``
(what ``client.write`` sends) and once with costpipe's encoder, to a throw-away
influxd; the script prints the status and the value InfluxDB holds afterwards.
Needs aioinflux and ``influxd``::

    .venv/bin/python -m bench.aioinflux_tags
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from costpipe.sinks.influxdb.encoder import escape_tag, stored_tag_value
from costpipe.testing.influxd import InfluxdServer

__all__ = ["VALUES", "main"]

VALUES = {
    "backslash": "a\\b",
    "newline": "line1\nline2",
    "trailing_backslash": "ends\\",
    "comma_equals_space": "x,y=z w",
    "quote": 'say "hi"',
}
_T0 = 1772409600000000000


async def _write(session: aiohttp.ClientSession, url: str, db: str, body: bytes) -> int:
    async with session.post(f"{url}/write", params={"db": db}, data=body) as response:
        return response.status


async def _stored(session: aiohttp.ClientSession, url: str, db: str, case: str) -> Any:
    statement = f'SHOW TAG VALUES FROM m WITH KEY = "v" WHERE "case" = \'{case}\''
    async with session.get(f"{url}/query", params={"db": db, "q": statement}) as response:
        data = await response.json()
    series = data["results"][0].get("series", [])
    return series[0]["values"][0][1] if series else None


async def compare(server: InfluxdServer) -> list[tuple[str, str, int, Any, int, Any]]:
    """``(case, value, aioinflux status, aioinflux stored, costpipe status, costpipe stored)``."""
    from aioinflux.serialization import serialize

    rows = []
    async with aiohttp.ClientSession() as session:
        for db in ("aioinflux", "costpipe"):
            await session.post(f"{server.url}/query", params={"q": f"CREATE DATABASE {db}"})
        for offset, (case, value) in enumerate(VALUES.items()):
            stamp = _T0 + offset
            theirs = serialize(
                [
                    {
                        "measurement": "m",
                        "time": stamp,
                        "tags": {"case": case, "v": value},
                        "fields": {"x": 1},
                    }
                ]
            )
            ours = f"m,case={case},v={escape_tag(value)} x=1i {stamp}".encode()
            their_status = await _write(session, server.url, "aioinflux", theirs)
            our_status = await _write(session, server.url, "costpipe", ours)
            rows.append(
                (
                    case,
                    value,
                    their_status,
                    await _stored(session, server.url, "aioinflux", case),
                    our_status,
                    await _stored(session, server.url, "costpipe", case),
                )
            )
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = InfluxdServer(Path(tmp))
        server.start()
        try:
            rows = asyncio.run(compare(server))
        finally:
            server.stop()
    print("| value | aioinflux: status, stored | costpipe: status, stored (documented rule) |")
    print("|---|---|---|")
    for _case, value, their_status, theirs, our_status, ours in rows:
        rule = stored_tag_value(value)
        print(f"| {value!r} | {their_status}, {theirs!r} | {our_status}, {ours!r} ({rule!r}) |")


if __name__ == "__main__":
    main()
