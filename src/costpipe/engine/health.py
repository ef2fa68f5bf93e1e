"""``/healthz`` and ``/metrics`` for `costpipe run`, on a loopback port by default."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from aiohttp import web

if TYPE_CHECKING:
    from costpipe.engine.daemon import Daemon

__all__ = ["HealthServer"]

log = structlog.get_logger("costpipe")

#: Outcomes of a provider's latest pass that make the daemon unhealthy.
_UNHEALTHY = {"auth", "failed", "partial"}


class HealthServer:
    def __init__(self, daemon: Daemon, address: str, port: int) -> None:
        self.daemon = daemon
        self.address = address
        self.port = port
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        return app

    async def start(self) -> int:
        """Start serving; returns the bound port (useful with port 0)."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.address, self.port)
        await site.start()
        # aiohttp exposes the bound socket (needed with port 0) only on the server.
        sockets = getattr(site._server, "sockets", None)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        log.info("health_listening", url=f"http://{self.address}:{self.port}/healthz")
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def healthz(self, _request: web.Request) -> web.Response:
        daemon = self.daemon
        providers = {
            name: {
                "state": status.state,
                "last_success": status.last_success,
                "last_attempt": status.last_attempt,
                "last_error": status.last_error,
            }
            for name, status in sorted(daemon.status.providers.items())
        }
        spool = {
            s.instance: {"bytes": s.pending_bytes, "batches": s.pending_batches}
            for s in daemon.spooled
        }
        problems = [
            f"provider {n}: {p['state']}" for n, p in providers.items() if p["state"] in _UNHEALTHY
        ]
        problems += [
            f"sink {n}: {v['batches']} batch(es) spooled" for n, v in spool.items() if v["batches"]
        ]
        body = {
            "status": "ok" if not problems else "degraded",
            "problems": problems,
            "providers": providers,
            "spool": spool,
        }
        return web.json_response(body, status=200 if not problems else 503)

    async def metrics(self, _request: web.Request) -> web.Response:
        daemon = self.daemon
        alerts = daemon.alerts.stats() if daemon.alerts is not None else None
        text = daemon.metrics.render(
            spool_bytes=daemon.spool_bytes(),
            spool_batches=sum(s.pending_batches for s in daemon.spooled),
            alerts=alerts,
        )
        return web.Response(text=text, content_type="text/plain", charset="utf-8")
