"""The HTTP client every provider uses: GET JSON with retries, within bounds.

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
* JSON numbers with a fraction are parsed as :class:`~decimal.Decimal` from
  the response text, so ``0.00012073404268330895`` dollars stay exact;
* no log line or error message carries the key: URLs are shown without user
  info (``base_url`` is the shown form), and text echoed by a server is masked
  before it is cut.

``pages_fetched`` (2xx responses) and ``retries`` are counted on the provider.
Waiting goes through :attr:`timer`, so tests replace the clock and the sleep.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, Protocol

import aiohttp
from yarl import URL

from costpipe.errors import AuthError, TransientError
from costpipe.providers.http.responses import (
    ERROR_BODY_LIMIT,
    BodyTooLarge,
    EndpointError,
    Page,
    PageError,
    error_code,
    error_excerpt,
    format_bytes,
    read_body,
)
from costpipe.providers.http.retry import (
    RETRY_STATUSES,
    Retryable,
    Timer,
    next_wait,
    retry_after_seconds,
)
from costpipe.redaction import redact_url, safe_excerpt

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "AuthHint", "HttpClient", "RequestStats", "user_agent"]

#: Far above any real page (the largest real ones are a few MiB).
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024


def user_agent() -> str:
    """``costpipe/<version> (+https://github.com/costpipe/costpipe)``."""
    import costpipe  # at call time: the package imports this module while it loads

    return f"costpipe/{costpipe.__version__} (+https://github.com/costpipe/costpipe)"


class RequestStats(Protocol):
    """Counters the client updates; :class:`~costpipe.components.Provider` has them."""

    pages_fetched: int
    retries: int


@dataclass(frozen=True, slots=True)
class AuthHint:
    """What a refused-credential or wrong-URL message tells the human."""

    requirement: str
    """The kind of key or scope needed, e.g. ``an Admin key with api.usage.read``."""
    config_key: str = "api_key"
    env_var: str | None = None
    documented_base_url: str | None = None
    """The API root the provider documents, suggested when an endpoint is not found."""


class HttpClient:
    """GET JSON from one provider API with the guarantees in the module docstring."""

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
        self._auth = auth
        self._verify_tls = verify_tls
        self._timeout = aiohttp.ClientTimeout(total=timeout.total_seconds())
        self._max_retries = max_retries
        self._backoff = retry_backoff.total_seconds()
        self._wait_max = retry_wait_max.total_seconds()
        self.max_response_bytes = max_response_bytes
        self._secrets = tuple(s for s in secrets if s)
        self.timer = timer or Timer()
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
        if self._userinfo_conflict:
            raise EndpointError(
                f"{self.instance}: `base_url` ({self.base_url}) carries `user:password@`, "
                "which would replace the API key's Authorization header: remove it from "
                f"the config key `base_url` of {self.instance}."
            )
        url = self.url(path, params)
        safe = redact_url(url)
        failures = 0
        while True:
            try:
                return await self._attempt(url, safe)
            except Retryable as exc:
                if failures >= self._max_retries:
                    raise TransientError(
                        f"{self.instance}: {safe}: {exc.reason} "
                        f"(gave up after {failures + 1} attempts)"
                    ) from None
                failures += 1
                wait = next_wait(
                    failures, exc.retry_after, base=self._backoff, cap=self._wait_max, rng=self._rng
                )
                self._stats.retries += 1
                # Debug only: the core logs the outcome once, never each retry.
                self._log.debug(
                    "http_retry",
                    provider=self.instance,
                    url=safe,
                    attempt=failures,
                    wait=round(wait, 3),
                    reason=exc.reason,
                )
                await self.timer.sleep(wait)

    async def _attempt(self, url: URL, safe: str) -> Page:
        if self._session is None:
            raise RuntimeError(f"{self.instance}: HTTP client used before start()")
        async with self._slots:
            try:
                async with self._session.get(url, allow_redirects=False) as response:
                    status = response.status
                    if 300 <= status < 400:
                        raise self._redirect_error(url, status, response.headers)
                    headers = response.headers
                    body = await self._read(response, safe, status)
            except TimeoutError:
                raise Retryable("timed out") from None
            except aiohttp.ClientError as exc:
                raise Retryable(f"connection failed ({type(exc).__name__})") from None
        return self._interpret(url, safe, status, headers, body)

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

    def _interpret(
        self, url: URL, safe: str, status: int, headers: Mapping[str, str], body: bytes
    ) -> Page:
        if status in (401, 403):
            raise AuthError(self._auth_message(status, body))
        if status in RETRY_STATUSES or status >= 500:
            reason = f"HTTP {status}"
            message = error_excerpt(body, self._secrets)
            if message:
                reason += f": {message}"
            if headers.get("x-should-retry", "").lower() == "false" or (
                status == 429 and error_code(body) == "insufficient_quota"
            ):
                # The server says waiting will not help within this pass.
                raise TransientError(f"{self.instance}: {safe}: {reason}")
            raise Retryable(reason, retry_after_seconds(headers))
        if status == 404:
            raise self._not_found_error(url, body)
        if status >= 400:
            message = error_excerpt(body, self._secrets, 300)
            raise PageError(safe, f"HTTP {status}" + (f": {message}" if message else ""))
        self._stats.pages_fetched += 1
        try:
            data = json.loads(body.decode("utf-8"), parse_float=Decimal)
        # RecursionError: a body nested deeper than the interpreter's stack (hostile).
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise PageError(safe, f"response is not valid JSON ({exc})") from None
        return Page(safe, data)

    def _redirect_error(self, url: URL, status: int, headers: Mapping[str, str]) -> EndpointError:
        location = headers.get("Location", "")
        try:
            target = redact_url(url.join(URL(location)))
        except (ValueError, TypeError):
            target = redact_url(location)
        target = safe_excerpt(target, 300, self._secrets) or "(no Location header)"
        return EndpointError(
            f"{self.instance}: {redact_url(url.with_query(None))} answered HTTP {status}, "
            f"a redirect to {target}. costpipe never follows a provider's redirect (it "
            "could carry the API key to another host); if that location is the "
            f"provider's real API, set `base_url` of {self.instance} to it."
        )

    def _not_found_error(self, url: URL, body: bytes) -> EndpointError:
        detail = error_excerpt(body, self._secrets)
        documented = self._auth.documented_base_url
        fix = (
            f"the provider documents {documented}"
            if documented
            else "it must be the API root the provider documents"
        )
        return EndpointError(
            f"{self.instance}: {redact_url(url.with_query(None))} answered HTTP 404"
            + (f" ({detail})" if detail else "")
            + f": this endpoint is not where `base_url` ({self.base_url}) points. "
            f"Check the config key `base_url` of {self.instance}: {fix}."
        )

    def _auth_message(self, status: int, body: bytes) -> str:
        detail = error_excerpt(body, self._secrets, 300)
        what = "the API key was refused" if status == 401 else "the API key lacks a permission"
        source = f" (read from ${self._auth.env_var})" if self._auth.env_var else ""
        return (
            f"{self.instance}: {what} (HTTP {status}"
            + (f": {detail}" if detail else "")
            + f"). Check the config key `{self._auth.config_key}` of {self.instance}{source}: "
            + f"{self._auth.requirement} is needed."
        )
