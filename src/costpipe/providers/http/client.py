"""The HTTP client every provider uses: GET a page with retries, within bounds.

A provider builds one :class:`HttpClient` in ``__init__`` (no IO), opens it in
``start()`` and closes it in ``close()``. The client guarantees:

* one :class:`aiohttp.ClientSession` per provider instance;
* every request attempt holds one of ``context.request_slots`` (the global
  in-flight bound) while it is on the wire, and none while it sleeps between
  retries, so a throttled provider never starves the others;
* 408, 409, 429, 5xx, timeouts and connection errors are retried at most
  ``max_retries`` times: a ``retry-after-ms`` or ``Retry-After`` header is
  honoured (capped at ``retry_wait_max``), otherwise the wait doubles from
  ``retry_backoff`` with jitter. When retries run out, or the server says
  ``x-should-retry: false``, or the 429 is an exhausted quota,
  :class:`~costpipe.errors.TransientError` is raised: a later pass may succeed;
* 401 and 403 are never retried: :class:`~costpipe.errors.AuthError` names the
  instance, the config key, the environment variable it came from (when the
  core told us) and the key or scope the provider needs;
* redirects are never followed (aiohttp would carry custom headers such as
  ``x-api-key`` to another host) and a 404 means the endpoint is not where
  ``base_url`` says: both raise :class:`EndpointError` naming the URL and the
  fix, never retried, never set aside;
* a body is read incrementally and refused past ``max_response_bytes`` after
  decompression (a gzip bomb costs at most the limit);
* any other 4xx, a 2xx body that is not JSON or is too large raise
  :class:`PageError` (a :class:`~costpipe.errors.MalformedDataError`), which
  providers set aside;
* :meth:`HttpClient.get_bytes` returns the body undecoded (a
  :class:`RawPage`) for a typed decoder that reads it once, straight into its
  types; :meth:`HttpClient.get_json` decodes it as JSON with numbers that have
  a fraction parsed as :class:`~decimal.Decimal` from the response text, so
  ``0.00012073404268330895`` dollars stay exact;
* no log line or error message carries the key: URLs are shown without user
  info (``base_url`` is the shown form), and text echoed by a server is masked
  before it is cut.

``pages_fetched`` (2xx responses) and ``retries`` are counted on the provider.
Waiting goes through :attr:`timer`, so tests replace the clock and the sleep.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol

import aiohttp
from yarl import URL

from costpipe.providers.http.responses import (
    ERROR_BODY_LIMIT,
    AuthHint,
    BodyTooLarge,
    EndpointError,
    Page,
    PageError,
    RawPage,
    Requester,
    decode_json,
    format_bytes,
    interpret_raw,
    read_body,
    redirect_error,
)
from costpipe.providers.http.retry import Retryable, Timer, with_retries
from costpipe.redaction import redact_url
from costpipe.version import __version__

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "AuthHint",
    "HttpClient",
    "RawPage",
    "RequestStats",
    "user_agent",
]

#: Far above any real page (the largest real ones are a few MiB).
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


def user_agent() -> str:
    """``costpipe/<version> (+https://github.com/costpipe/costpipe)``."""
    return f"costpipe/{__version__} (+https://github.com/costpipe/costpipe)"


class RequestStats(Protocol):
    """Counters the client updates; :class:`~costpipe.components.Provider` has them."""

    pages_fetched: int
    retries: int


class HttpClient:
    """GET pages from one provider API with the guarantees in the module docstring."""

    def __init__(
        self,
        *,
        instance: str,
        base_url: str,
        headers: Mapping[str, str],
        slots: asyncio.Semaphore,
        stats: RequestStats,
        log: Any,
        auth: AuthHint,
        verify_tls: bool = True,
        timeout: timedelta = timedelta(seconds=30),
        max_retries: int = 4,
        retry_backoff: timedelta = timedelta(seconds=1),
        retry_wait_max: timedelta = timedelta(seconds=60),
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        secrets: Sequence[str] = (),
        timer: Timer | None = None,
    ) -> None:
        self.instance = instance
        self._root = base_url.rstrip("/")
        #: The API root as it may be shown: without user info or credential parameters.
        self.base_url = redact_url(self._root)
        # Accept-Encoding is ours: the body is inflated here, within the size limit.
        self._headers = {
            "User-Agent": user_agent(),
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            **headers,
        }
        self._slots = slots
        self._stats = stats
        self._log = log
        self._verify_tls = verify_tls
        self._timeout = aiohttp.ClientTimeout(total=timeout.total_seconds())
        self._max_retries = max_retries
        self._backoff = retry_backoff.total_seconds()
        self._wait_max = retry_wait_max.total_seconds()
        self.max_response_bytes = max_response_bytes
        self._secrets = tuple(s for s in secrets if s)
        self.timer = timer or Timer()
        self._requester = Requester(instance, self.base_url, auth, self._secrets)
        self._rng = random.Random()
        self._session: aiohttp.ClientSession | None = None
        # aiohttp turns `user:password@` into an Authorization header; with a bearer
        # key that is a conflict it reports as a bare ValueError.
        self._userinfo_conflict = URL(self._root).user is not None and any(
            name.lower() == "authorization" for name in headers
        )

    async def start(self) -> None:
        """Open the session (inside the running event loop)."""
        if self._session is not None:
            return
        if not self._verify_tls:
            self._log.warning(
                "tls_verification_disabled", provider=self.instance, url=self.base_url
            )
        connector = aiohttp.TCPConnector(ssl=self._verify_tls)
        self._session = aiohttp.ClientSession(
            headers=self._headers,
            timeout=self._timeout,
            connector=connector,
            auto_decompress=False,
        )

    async def close(self) -> None:
        """Close the session; never raises."""
        session, self._session = self._session, None
        if session is not None:
            try:
                await session.close()
            except Exception as exc:  # close() must not raise (Component contract)
                self._log.warning("http_close_failed", provider=self.instance, error=repr(exc))

    def url(self, path: str, params: Sequence[tuple[str, str]] = ()) -> URL:
        """``base_url + path`` with *params* in order; repeated keys stay repeated."""
        return URL(self._root + path).with_query(list(params))

    def endpoint(self, path: str) -> str:
        """``base_url + path`` as it may be shown (no credentials, no query)."""
        return self.base_url + path

    async def get_json(self, path: str, params: Sequence[tuple[str, str]] = ()) -> Page:
        """GET ``base_url + path`` and decode JSON (fractions as Decimal).

        Raises AuthError, EndpointError, TransientError or PageError as described above.
        """
        return decode_json(await self.get_bytes(path, params))

    async def get_bytes(self, path: str, params: Sequence[tuple[str, str]] = ()) -> RawPage:
        """GET ``base_url + path`` and return the 2xx body undecoded, with its shown URL.

        Raises AuthError, EndpointError, TransientError or PageError as described
        above; the caller decodes the body (a malformed one is its PageError to raise).
        """
        if self._userinfo_conflict:
            raise EndpointError(
                f"{self.instance}: `base_url` ({self.base_url}) carries `user:password@`, "
                "which would replace the API key's Authorization header: remove it from "
                f"the config key `base_url` of {self.instance}."
            )
        url = self.url(path, params)
        safe = redact_url(url)
        return await with_retries(
            lambda: self._attempt(url, safe),
            instance=self.instance,
            safe=safe,
            max_retries=self._max_retries,
            backoff=self._backoff,
            wait_max=self._wait_max,
            rng=self._rng,
            stats=self._stats,
            log=self._log,
            timer=self.timer,
        )

    async def _attempt(self, url: URL, safe: str) -> RawPage:
        if self._session is None:
            raise RuntimeError(f"{self.instance}: HTTP client used before start()")
        async with self._slots:
            try:
                async with self._session.get(url, allow_redirects=False) as response:
                    status = response.status
                    if 300 <= status < 400:
                        raise redirect_error(self._requester, url, status, response.headers)
                    headers = response.headers
                    body = await self._read(response, safe, status)
            except TimeoutError:
                raise Retryable("timed out") from None
            except aiohttp.ClientError as exc:
                raise Retryable(f"connection failed ({type(exc).__name__})") from None
        if status < 300:
            self._stats.pages_fetched += 1
        return interpret_raw(self._requester, url, status, headers, body)

    async def _read(self, response: aiohttp.ClientResponse, safe: str, status: int) -> bytes:
        limit = self.max_response_bytes if status < 300 else ERROR_BODY_LIMIT
        try:
            return await read_body(response, limit)
        except BodyTooLarge:
            response.close()  # drop the connection instead of draining the rest
            if status >= 300:
                return b""  # an error page too long to quote: the status says enough
            raise PageError(
                safe,
                f"response larger than {format_bytes(limit)} after decompression "
                "(max_response_bytes); not read further",
            ) from None
        except ValueError as exc:
            response.close()
            if status >= 300:
                return b""
            raise PageError(safe, str(exc)) from None
