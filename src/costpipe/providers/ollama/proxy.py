"""The metering proxy: an aiohttp reverse proxy in front of one Ollama server.

Guarantees:

* **Unchanged**: the method, path, query, end-to-end headers and body go to
  Ollama as the client sent them; the status, end-to-end headers and body bytes
  come back as Ollama sent them. Hop-by-hop headers (RFC 9110 §7.6.1: those
  named in ``Connection`` too) are not forwarded; compressed answers stay
  compressed (no decoding on the way).
* **Streaming**: every chunk is written to the client as soon as it arrives;
  the proxy keeps only the stream's last object (:class:`FinalObject`), so a
  long answer costs no memory and its rhythm is Ollama's.
* **Metered once**: a successful (2xx) request on a metered route
  (:data:`METERED_ROUTES`) appends one :class:`UsageEvent` to the journal when
  its answer ends; errors (an unknown model's 404), administration (pulls, tags)
  and model loads are forwarded and not metered.
* **Bounded**: request bodies above ``max_request_bytes`` are refused with 413
  before anything is forwarded; the metered final object is read up to
  ``max_metered_bytes``.
* **Callers**: an unknown caller is refused with 401 before anything reaches
  Ollama, or metered as ``anonymous`` (``unknown_callers``). Neither the bearer
  token nor the request body is ever logged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from costpipe.providers.ollama.config import OllamaConfig, split_listen
from costpipe.providers.ollama.identity import Caller, Callers
from costpipe.providers.ollama.journal import Journal, UsageEvent
from costpipe.providers.ollama.usage import METERED_ROUTES, FinalObject, UsageKind, usage_of
from costpipe.redaction import redact_url

__all__ = ["MeteringProxy"]

_HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Proxy-Connection",
    )
)
# Headers aiohttp's client adds when the caller did not send them: skipped so that
# Ollama sees exactly the client's headers.
_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


def _end_to_end(headers: CIMultiDictProxy[str], drop: tuple[str, ...]) -> CIMultiDict[str]:
    named = {
        token.strip().lower()
        for value in headers.getall("Connection", [])
        for token in value.split(",")
    }
    kept: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        lower = name.lower()
        if lower in _HOP_BY_HOP or lower in named or lower in drop:
            continue
        kept.add(name, value)
    return kept


def _refusal(path: str) -> web.Response:
    if path.startswith("/v1/"):
        body = (
            b'{"error":{"message":"costpipe proxy: unknown caller (no known bearer token)",'
            b'"type":"invalid_request_error","param":null,"code":"invalid_api_key"}}\n'
        )
    else:
        body = b'{"error":"costpipe proxy: unknown caller (no known bearer token)"}'
    return web.Response(
        status=401,
        body=body,
        headers={"Content-Type": "application/json", "WWW-Authenticate": "Bearer"},
    )


def _failure(status: int, message: str) -> web.Response:
    return web.json_response({"error": f"costpipe proxy: {message}"}, status=status)


class MeteringProxy:
    """Serves ``config.listen`` and forwards to ``config.upstream``, metering into *journal*.

    Runs inside the ``costpipe run`` daemon (started by the provider) or on its
    own (tests, the benchmark, the demo): :meth:`start`, then :meth:`stop`.
    *clock_ns* stamps events (Unix nanoseconds); tests and the demo replace it.
    """

    def __init__(
        self,
        config: OllamaConfig,
        journal: Journal,
        *,
        instance: str = "ollama",
        clock_ns: Callable[[], int] = time.time_ns,
        log: Any = None,
    ) -> None:
        self.config = config
        self.journal = journal
        self.instance = instance
        self._clock_ns = clock_ns
        self._callers = Callers(config)
        self._upstream = config.upstream
        self._log = log or structlog.get_logger("costpipe").bind(component=instance)
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.address: tuple[str, int] | None = None
        self.requests_metered = 0
        self.requests_refused = 0

    @property
    def url(self) -> str:
        """``http://host:port`` of the listening socket, once started."""
        if self.address is None:
            raise RuntimeError("proxy not started")
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=10, sock_read=self.config.upstream_timeout.total_seconds()
        )
        # limit=0: Ollama queues requests itself (OLLAMA_MAX_QUEUE); a second queue here
        # would only add latency.
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, auto_decompress=False, cookie_jar=None
        )
        app = web.Application(client_max_size=self.config.max_request_bytes)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=10.0)
        await runner.setup()
        host, port = split_listen(self.config.listen)
        # reuse_port: during a SIGHUP reload the new configuration's proxy binds
        # before the old one closes (ConfigReloader starts the new runner first).
        site = web.TCPSite(runner, host, port, reuse_port=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            await self._session.close()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self.address = (address[0], address[1])
        if not self.config.listens_on_loopback():
            self._log.warning("proxy_not_on_loopback", listen=self.config.listen)
        self._log.info(
            "proxy_listening",
            provider=self.instance,
            url=self.url,
            upstream=redact_url(self._upstream),
        )

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish (10 s at most), close."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        caller = self._callers.identify(request.headers)
        if caller is None:
            self.requests_refused += 1
            return _refusal(request.path)
        body = await request.read()
        route = METERED_ROUTES.get(request.path) if request.method == "POST" else None
        assert self._session is not None, "proxy not started"
        skip = [h for h in _AUTO_HEADERS if h not in request.headers]
        began = time.monotonic_ns()
        try:
            upstream = await self._session.request(
                request.method,
                URL(self._upstream + request.raw_path, encoded=True),
                headers=_end_to_end(request.headers, ("host", "content-length", "expect")),
                data=body if body or request.method not in ("GET", "HEAD") else None,
                skip_auto_headers=skip,
                allow_redirects=False,
            )
        except TimeoutError:
            return _failure(504, "Ollama did not answer in time")
        except aiohttp.ClientError as exc:
            self._log.error(
                "upstream_unreachable", provider=self.instance, error=type(exc).__name__
            )
            return _failure(502, "Ollama is unreachable")
        try:
            return await self._relay(request, upstream, route, caller, began)
        finally:
            upstream.release()

    async def _relay(
        self,
        request: web.Request,
        upstream: aiohttp.ClientResponse,
        route: str | None,
        caller: Caller,
        began: int,
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        response.headers.extend(_end_to_end(upstream.headers, ("content-length",)))
        length = upstream.headers.get("Content-Length")
        if length is not None and length.isdigit() and "Transfer-Encoding" not in upstream.headers:
            response.content_length = int(length)
        metered = route is not None and 200 <= upstream.status < 300
        final = (
            FinalObject(upstream.headers.get("Content-Type", ""), self.config.max_metered_bytes)
            if metered
            else None
        )
        complete = False
        try:
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
                if final is not None:
                    final.feed(chunk)
            await response.write_eof()
            complete = True
        except (ConnectionError, aiohttp.ClientError, TimeoutError) as exc:
            # The client went away or Ollama broke off: the request was (partly) served.
            self._log.info("stream_cut", provider=self.instance, error=type(exc).__name__)
            if request.transport is not None:
                request.transport.abort()
        finally:
            if final is not None and route is not None:
                self._meter(route, caller, final, began, complete)
        return response

    def _meter(
        self, route: str, caller: Caller, final: FinalObject, began: int, complete: bool
    ) -> None:
        elapsed = time.monotonic_ns() - began
        # A cut stream's last object is not the final one: usage_of finds no counts
        # in it and the request is metered as served, tokens unknown.
        usage = usage_of(route, final.result(), elapsed)
        if usage.kind is UsageKind.SKIPPED:
            return
        self.journal.append(
            UsageEvent(
                at=self._clock_ns(),
                route=route,
                model=usage.model,
                user=caller.user,
                project=caller.project,
                api_key_id=caller.api_key_id,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                duration_ns=usage.duration_ns,
                counted=usage.kind is UsageKind.COUNTED,
            )
        )
        self.requests_metered += 1
