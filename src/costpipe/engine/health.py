"""``/healthz`` and ``/metrics`` for ``costpipe run``, on a loopback port by default.

:class:`HealthServer` only serves: what ``/healthz`` says comes from a
:class:`HealthSource` (the daemon's current pass runner, read on every
request, so a configuration reload is seen at once) and ``/metrics`` is the
daemon's :class:`~costpipe.engine.metrics.DaemonMetrics` registry.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import structlog
from aiohttp import web

from costpipe.components import Provider
from costpipe.engine.deadletters import replay_command
from costpipe.engine.metrics import CONTENT_TYPE, DaemonMetrics
from costpipe.engine.recorder import shown_error
from costpipe.engine.spool import Spools
from costpipe.engine.state import StatusFile
from costpipe.sinks.deadletter import DeadLetterFile

__all__ = ["HealthServer", "HealthSource", "health_report", "is_loopback"]

log = structlog.get_logger("costpipe")

#: Outcomes of a provider's latest pass that make the daemon unhealthy.
_UNHEALTHY = {"auth", "failed", "partial"}


class HealthSource(Protocol):
    @property
    def providers(self) -> Sequence[Provider[Any]]: ...

    @property
    def status(self) -> StatusFile: ...

    @property
    def spools(self) -> Spools: ...

    def dead_letters(self) -> list[DeadLetterFile]: ...

    def undelivered_notifications(self) -> dict[str, tuple[int, str]]: ...


def health_report(source: HealthSource) -> tuple[int, dict[str, object]]:
    """The HTTP status and JSON body of ``/healthz``: 200 when every configured
    provider's last pass succeeded, no spool holds data, no dead-letter file holds
    points and every notifier delivers; 503 with the problems otherwise.
    ``status.json`` may still hold a provider removed from the config (by a
    reload or a restart): that one is not reported. A dead-letter file stays a
    problem until ``costpipe deadletter replay`` empties it (or it is removed); a
    notifier stays one until its failed notifications are delivered."""
    configured = {p.instance for p in source.providers}
    providers = {
        name: {
            "state": status.state,
            "last_success": status.last_success,
            "last_attempt": status.last_attempt,
            "last_error": status.last_error,
        }
        for name, status in sorted(source.status.providers.items())
        if name in configured
    }
    spool = {
        s.instance: {"bytes": s.pending_bytes, "batches": s.pending_batches} for s in source.spools
    }
    problems = [
        f"provider {name}: {p['state']}"
        for name, p in providers.items()
        if p["state"] in _UNHEALTHY
    ]
    problems += [
        f"sink {name}: {v['batches']} batch(es) spooled"
        for name, v in spool.items()
        if v["batches"]
    ]
    dead_letters = {
        f.sink: {"points": f.stored(), "file": str(f.path)} for f in source.dead_letters()
    }
    problems += [
        f"sink {name}: {v['points']} point(s) refused by the store, kept in {v['file']};"
        f" fix the cause, then run: {replay_command(name)}"
        for name, v in dead_letters.items()
        if v["points"]
    ]
    notifiers = {
        name: {"undelivered": count, "last_error": shown_error(error)}
        for name, (count, error) in source.undelivered_notifications().items()
    }
    problems += [
        f"notifier {name}: {v['undelivered']} notification(s) not delivered"
        f" ({v['last_error']}); retried after each pass"
        for name, v in notifiers.items()
    ]
    body: dict[str, object] = {
        "status": "ok" if not problems else "degraded",
        "problems": problems,
        "providers": providers,
        "spool": spool,
        "dead_letters": dead_letters,
        "notifiers": notifiers,
    }
    return (200 if not problems else 503), body


def is_loopback(address: str) -> bool:
    """Whether *address* (an IP or ``localhost``) reaches this machine only."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


class HealthServer:
    """Serves ``/healthz`` from *source* and ``/metrics`` from *metrics*."""

    def __init__(
        self,
        address: str,
        port: int,
        *,
        source: Callable[[], HealthSource],
        metrics: DaemonMetrics,
    ) -> None:
        self.address = address
        self.requested_port = port
        self.source = source
        self.metrics = metrics
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics_page)
        return app

    async def start(self) -> int:
        """Start serving; returns the bound port (the kernel's choice with port 0)."""
        if not is_loopback(self.address):
            # Health and metrics name providers, sinks and errors: say once that
            # anyone who can reach this address can read them.
            log.warning(
                "health_not_loopback",
                address=self.address,
                hint="/healthz and /metrics have no authentication; bind 127.0.0.1 "
                "or restrict access with a firewall or a proxy",
            )
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.address, self.requested_port).start()
        port = self.port
        log.info("health_listening", url=f"http://{_host(self.address)}:{port}/healthz")
        return port

    @property
    def port(self) -> int:
        """The bound port (``AppRunner.addresses`` lists every listening socket)."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the health server is not listening")
        return int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def healthz(self, _request: web.Request) -> web.Response:
        status, body = health_report(self.source())
        return web.json_response(body, status=status)

    async def metrics_page(self, _request: web.Request) -> web.Response:
        response = web.Response(body=self.metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
