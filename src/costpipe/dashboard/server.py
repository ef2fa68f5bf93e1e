"""Serve the dashboard with Panel's (Bokeh's) Tornado server.

The server and the store reader share one asyncio loop: the reader is
opened lazily inside that loop by the first session and reused by every
later one (readers hold connections bound to the loop that opened them).
Panel is imported only here and in :mod:`costpipe.dashboard.app`, so the
daemon runs without the ``dashboard`` extra.

Binding: loopback unless told otherwise. With ``basic_auth="user:password"``
every route is guarded by :class:`~costpipe.dashboard.auth.LoginProvider` (a
signed cookie set by ``/login``, throttled, same-origin posts only); the Bokeh
websocket refuses connections without that cookie, so data cannot be pulled
around the login page. ``trusted_proxy`` makes the server believe a TLS proxy's
``X-Forwarded-Proto``/``X-Forwarded-For`` (tornado's ``xheaders``); without it
those headers are ignored.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from costpipe.components import Sink
from costpipe.config.settings import Settings
from costpipe.dashboard.auth import Credentials, LoginProvider, LoginThrottle
from costpipe.engine.runtime import build_component, store_specs
from costpipe.errors import ConfigError
from costpipe.query.api import CostReader

__all__ = [
    "BackgroundDashboard",
    "DashboardServer",
    "ReaderHandle",
    "open_reader",
    "serve",
]

T = TypeVar("T")


@dataclass(slots=True)
class ReaderHandle:
    """A started sink and its reader; :meth:`close` closes the sink."""

    reader: CostReader
    sink: Sink[Any] | None = None

    async def close(self) -> None:
        if self.sink is not None:
            await self.sink.close()


async def open_reader(settings: Settings) -> ReaderHandle:
    """Start the sink named by ``[dashboard] store`` (else the first readable
    one) and return its reader. Must run inside the serving loop."""
    for spec in store_specs(settings):
        sink = build_component(settings, spec)
        assert isinstance(sink, Sink)
        sink.context.state_dir.mkdir(parents=True, exist_ok=True)
        await sink.start()
        reader = sink.reader()
        if reader is not None:
            return ReaderHandle(reader, sink)
        await sink.close()
    raise ConfigError("sinks", "no configured sink can be read; the dashboard needs one")


def _free_port(address: str) -> int:
    # Bokeh needs the port before it binds (the websocket origin allow-list names
    # it), so port 0 is resolved here; the window for a race is a few microseconds.
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


@dataclass(slots=True)
class DashboardServer:
    """A Panel server bound to the running loop. ``start`` and ``stop`` must be
    awaited in the same loop; the reader opens on first use and closes on stop."""

    settings: Settings
    address: str = "127.0.0.1"
    port: int = 5006
    basic_auth: str | None = None
    """``"user:password"``; ``None`` serves without a login."""
    opener: Callable[[], Any] | None = None
    """Coroutine function returning a :class:`ReaderHandle` (default :func:`open_reader`)."""
    clock: Callable[[], datetime] | None = None
    trusted_proxy: bool = False
    """Believe ``X-Forwarded-Proto``/``-For``: only behind a proxy that sets them."""
    throttle: LoginThrottle | None = None
    """Failed-login throttle (tests pass one with their own clock)."""
    _server: Any = None
    _handle: ReaderHandle | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def _reader(self) -> CostReader:
        async with self._lock:
            if self._handle is None:
                opener = self.opener or (lambda: open_reader(self.settings))
                self._handle = await opener()
            return self._handle.reader

    async def start(self) -> int:
        """Start listening; returns the bound port (useful with port 0)."""
        import panel as pn
        from tornado.ioloop import IOLoop

        from costpipe.dashboard.app import Dashboard, DashboardOptions

        options = DashboardOptions.from_settings(self.settings)

        def session() -> Any:
            if self.clock is None:
                return Dashboard(self._reader, options).page()
            return Dashboard(self._reader, options, self.clock).page()

        kwargs: dict[str, Any] = {}
        if self.basic_auth is not None:
            provider = LoginProvider(
                Credentials.parse(self.basic_auth),
                self.throttle,
                public_url=self.settings.dashboard.url,
                title=options.title,
            )
            # A fresh secret per process: restarting the dashboard logs everyone out,
            # which is acceptable and keeps secrets out of the config.
            kwargs.update(auth_provider=provider, cookie_secret=secrets.token_urlsafe(32))
        port = self.port or _free_port(self.address)
        self._server = pn.serve(
            {"/": session},
            port=port,
            address=self.address,
            websocket_origin=self._origins(port),
            loop=IOLoop.current(),
            show=False,
            start=False,
            verbose=False,
            title=options.title,
            use_xheaders=self.trusted_proxy,
            **kwargs,
        )
        self._server.start()
        return int(self._server.port)

    def _origins(self, port: int) -> list[str]:
        # The websocket is only accepted from pages this server served (and the
        # public URL): a cookie-authenticated socket must not be reachable from
        # another site's page.
        origins = {f"{host}:{port}" for host in (self.address, "127.0.0.1", "localhost")}
        if self.settings.dashboard.url:
            public = urlsplit(self.settings.dashboard.url)
            if public.hostname:
                default = 443 if public.scheme == "https" else 80
                origins.add(f"{public.hostname}:{public.port or default}")
        return sorted(origins)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._handle is not None:
            await self._handle.close()
            self._handle = None


def serve(
    settings: Settings,
    address: str = "127.0.0.1",
    port: int = 5006,
    basic_auth: str | None = None,
    trusted_proxy: bool = False,
) -> None:
    """Serve the dashboard until SIGINT or SIGTERM."""

    async def main() -> None:
        server = DashboardServer(settings, address, port, basic_auth, trusted_proxy=trusted_proxy)
        bound = await server.start()
        print(f"costpipe dashboard on http://{address}:{bound}/", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            await server.stop()

    asyncio.run(main())


class BackgroundDashboard:
    """A :class:`DashboardServer` on its own event loop in a daemon thread.

    For tests, screenshots and benchmarks, which drive a browser from the main
    thread. ``with BackgroundDashboard(server) as port: ...`` starts it and
    stops it (closing the reader) on exit.
    """

    def __init__(self, server: DashboardServer) -> None:
        self.server = server
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=60)

    def call(self, function: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run a coroutine function on the server's loop (e.g. write to the store)."""
        return self._call(function())

    def __enter__(self) -> int:
        self._thread.start()
        self.port = self._call(self.server.start())
        return self.port

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._call(self.server.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
