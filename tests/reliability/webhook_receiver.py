"""A real aiohttp webhook receiver that counts deliveries by notification id."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from aiohttp import web


class WebhookReceiver:
    """Records every POST; can hold the first *hold* requests open (the
    acknowledgement never leaves) so that a test can kill the sender mid-delivery."""

    def __init__(self, hold: int = 0) -> None:
        self.deliveries: list[tuple[str, dict[str, Any]]] = []
        self.acked: Counter[str] = Counter()
        self.hold = hold
        self.in_flight = asyncio.Event()
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append(body)
        self.headers.append(dict(request.headers))
        ident = request.headers.get("X-Costpipe-Notification-Id", "")
        self.deliveries.append((ident, json.loads(body)))
        if self.hold > 0:
            self.hold -= 1
            self.in_flight.set()
            await asyncio.sleep(30)  # the sender is killed before this ends
        self.acked[ident] += 1
        return web.json_response({"ok": True})

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._post)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def ids(self) -> Counter[str]:
        return Counter(ident for ident, _ in self.deliveries)
