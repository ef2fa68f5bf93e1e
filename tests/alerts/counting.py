"""Counting what a store is asked, at the store's boundary (no mocks):
a loopback proxy in front of influxd that records every ``/query`` request,
and a wrapper around the SQLite store's database that counts its reads."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from costpipe.testing.influxd import InfluxdServer

T = TypeVar("T")


class CountingDatabase:
    """The SQLite store's database, counting the reads (one per SQL statement)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.reads = 0

    def read(self, work: Callable[[sqlite3.Connection], T]) -> Awaitable[T]:
        self.reads += 1
        result: Awaitable[T] = self.db.read(work)
        return result


class StatementProxy:
    """A loopback proxy in front of influxd that counts requests and statements."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.requests: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def _query(self, request: web.Request) -> web.Response:
        assert self._session is not None
        self.requests.append(request.query["q"])
        async with self._session.request(
            request.method, f"{self.upstream}/query", params=request.query
        ) as response:
            body = await response.read()
        return web.Response(body=body, status=response.status, content_type="application/json")

    async def _write(self, request: web.Request) -> web.Response:
        assert self._session is not None
        async with self._session.post(
            f"{self.upstream}/write",
            params=request.query,
            data=await request.read(),
            headers={"Content-Encoding": request.headers.get("Content-Encoding", "identity")},
        ) as response:
            body = await response.read()
        return web.Response(body=body, status=response.status)

    async def _ping(self, request: web.Request) -> web.Response:
        assert self._session is not None
        async with self._session.get(f"{self.upstream}/ping") as response:
            return web.Response(status=response.status, headers=dict(response.headers))

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/query", self._query)
        app.router.add_post("/write", self._write)
        app.router.add_route("*", "/ping", self._ping)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()


@contextlib.asynccontextmanager
async def statement_proxy(influxd: InfluxdServer) -> AsyncIterator[StatementProxy]:
    """A started :class:`StatementProxy` in front of *influxd* for the block."""
    server = StatementProxy(influxd.url)
    await server.start()
    try:
        yield server
    finally:
        await server.close()
