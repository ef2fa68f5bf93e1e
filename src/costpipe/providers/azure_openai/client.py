"""Azure Resource Manager requests: a bearer token, retries, Cost Management's throttling.

Plain aiohttp rather than ``azure-mgmt-costmanagement`` / ``azure-mgmt-monitor``:
those SDKs are synchronous-first, pull in msrest-era models that parse money as
``float`` (the exact JSON text is lost), follow ``nextLink`` wherever it points,
and hide the ratelimit headers in their own retry policy. Here the body is
read once into Decimal, ``nextLink`` is followed only on ``management_url``'s
host (provider data never decides where the token goes), and the waits are
costpipe's (bounded by ``retry_wait_max``, through a replaceable timer).

Throttling: Cost Management answers 429 with
``x-ms-ratelimit-microsoft.costmanagement-{qpu,entity,tenant,client}-retry-after``
(seconds; docs "Cost Management API throttling"); the longest of them, or
``Retry-After``, is honoured. Status handling otherwise is the shared one
(:func:`~costpipe.providers.http.responses.interpret_raw`): 401/403 raise
:class:`~costpipe.errors.AuthError` naming the role needed, 5xx retry, other
4xx set the page aside.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp
from yarl import URL

from costpipe.errors import AuthError, TransientError
from costpipe.providers.azure_openai.credentials import TokenSource
from costpipe.providers.http.client import user_agent
from costpipe.providers.http.responses import (
    AuthHint,
    BodyTooLarge,
    EndpointError,
    PageError,
    RawPage,
    Requester,
    error_excerpt,
    interpret_raw,
    read_body,
)
from costpipe.providers.http.retry import Retryable, Timer, next_wait, retry_after_seconds
from costpipe.redaction import redact_url

__all__ = ["RATELIMIT_HEADERS", "ArmClient", "refusal_message", "throttle_wait"]

RATELIMIT_HEADERS = tuple(
    f"x-ms-ratelimit-microsoft.costmanagement-{kind}-retry-after"
    for kind in ("qpu", "entity", "tenant", "client")
)


def throttle_wait(headers: Mapping[str, str]) -> float | None:
    """The longest wait the ratelimit headers or ``Retry-After`` ask for."""
    waits: list[float] = []
    for name in RATELIMIT_HEADERS:
        raw = headers.get(name)
        if raw:
            try:
                value = float(raw)
            except ValueError:
                continue
            if value == value and value >= 0:
                waits.append(value)
    standard = retry_after_seconds(headers)
    if standard is not None:
        waits.append(standard)
    return max(waits) if waits else None


def refusal_message(who: Requester, status: int, body: bytes) -> str:
    """A 401/403 from ARM: Azure's error text and the role that is needed."""
    detail = error_excerpt(body, who.secrets, 300)
    what = "Azure refused the token" if status == 401 else "the identity lacks a role"
    return (
        f"{who.instance}: {what} (HTTP {status}" + (f": {detail}" if detail else "") + "). "
        f"{who.auth.requirement[:1].upper()}{who.auth.requirement[1:]} is needed; check the "
        f"identity that `auth` of {who.instance} signs in as."
    )


class ArmClient:
    """POST/GET JSON on ARM with a fresh token, within bounds and retries."""

    def __init__(
        self,
        *,
        instance: str,
        management_url: str,
        tokens: TokenSource,
        slots: asyncio.Semaphore,
        stats: Any,
        log: Any,
        timeout: float,
        max_retries: int,
        backoff: float,
        wait_max: float,
        max_response_bytes: int,
        timer: Timer | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.instance = instance
        self.ca_file = ca_file
        self.root = URL(management_url.rstrip("/"))
        self._tokens = tokens
        self._slots = slots
        self._stats = stats
        self._log = log
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_retries = max_retries
        self._backoff = backoff
        self._wait_max = wait_max
        self.max_response_bytes = max_response_bytes
        self.timer = timer or Timer()
        self._rng = random.Random()
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            connector = None
            if self.ca_file:
                connector = aiohttp.TCPConnector(
                    ssl=ssl.create_default_context(cafile=self.ca_file)
                )
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": user_agent(), "Accept": "application/json"},
                timeout=self._timeout,
                connector=connector,
            )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        await self._tokens.close()

    def same_origin(self, url: URL) -> bool:
        return (
            url.scheme == self.root.scheme
            and url.host == self.root.host
            and (url.port == self.root.port)
        )

    async def request(
        self, method: str, url: URL, requirement: str, body: object | None = None
    ) -> RawPage:
        """One request with retries; raises AuthError, EndpointError,
        TransientError or PageError."""
        if not self.same_origin(url):
            raise EndpointError(
                f"{self.instance}: refusing to send the Azure token to {redact_url(url)[:200]}, "
                f"which is not on management_url {self.root}"
            )
        safe = redact_url(url)
        who = Requester(self.instance, str(self.root), AuthHint(requirement, "auth"))
        failures = 0
        while True:
            try:
                return await self._attempt(method, url, who, body)
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
                self._log.debug(
                    "http_retry",
                    provider=self.instance,
                    url=safe,
                    wait=round(wait, 3),
                    reason=exc.reason,
                )
                await self.timer.sleep(wait)

    async def _attempt(self, method: str, url: URL, who: Requester, body: object | None) -> RawPage:
        if self._session is None:
            raise RuntimeError(f"{self.instance}: ARM client used before start()")
        token = await self._tokens.token()
        headers = {"Authorization": f"Bearer {token}"}
        async with self._slots:
            try:
                async with self._session.request(
                    method, url, json=body, headers=headers, allow_redirects=False
                ) as response:
                    status = response.status
                    response_headers = response.headers
                    limit = self.max_response_bytes if status < 300 else 64 * 1024
                    data = await read_body(response, limit)
            except TimeoutError:
                raise Retryable("timed out") from None
            except aiohttp.ClientError as exc:
                raise Retryable(f"connection failed ({type(exc).__name__})") from None
            except BodyTooLarge:
                raise PageError(
                    redact_url(url), f"response larger than {limit} bytes (max_response_bytes)"
                ) from None
        if status in (401, 403):
            raise AuthError(refusal_message(who, status, data))
        if status == 404:
            detail = error_excerpt(data, who.secrets, 300)
            raise EndpointError(
                f"{self.instance}: {redact_url(url.with_query(None))} answered HTTP 404"
                + (f" ({detail})" if detail else "")
                + f": check `scope` and `resources` of {self.instance} (a subscription, "
                "resource group or resource that does not exist, or that this identity "
                "cannot see) and `management_url`."
            )
        if 300 <= status < 400:
            raise EndpointError(
                f"{self.instance}: {redact_url(url)} answered a redirect ({status})"
            )
        try:
            page = interpret_raw(who, url, status, response_headers, data)
        except Retryable as exc:
            raise Retryable(exc.reason, throttle_wait(response_headers)) from None
        self._stats.pages_fetched += 1
        return page
