"""JSON requests with an OAuth bearer token: the part the Azure and GCP clients share.

:class:`BearerClient` owns the session, asks its token source for a fresh token
per attempt, holds one of the global request slots while on the wire, reads the
body within ``max_response_bytes`` (64 KiB for an error answer) and retries
through :func:`~costpipe.providers.http.retry.with_retries`. A subclass judges
the answer (``status``, headers, body) in its own terms: which statuses retry,
which refusal names which role.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol, TypeVar

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from costpipe.providers.http.client import RequestStats, user_agent
from costpipe.providers.http.responses import BodyTooLarge, PageError, read_body
from costpipe.providers.http.retry import Retryable, Timer, with_retries
from costpipe.redaction import redact_url

__all__ = ["ERROR_BODY_LIMIT", "BearerClient", "TokenSource"]

#: How much of a non-2xx answer is read: enough for the service's error text.
ERROR_BODY_LIMIT = 64 * 1024
T = TypeVar("T")


class TokenSource(Protocol):
    """Where the bearer tokens come from (refreshed by the source itself)."""

    async def token(self) -> str: ...

    async def close(self) -> None: ...


class BearerClient:
    """Session, token, slot, bounded read and retries of one provider instance."""

    #: Names the client in "used before start()".
    service: ClassVar[str] = "HTTP"

    def __init__(
        self,
        *,
        instance: str,
        root: str,
        tokens: TokenSource,
        slots: asyncio.Semaphore,
        stats: RequestStats,
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
        self.root = URL(root.rstrip("/"))
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

    async def retried(self, url: URL, attempt: Callable[[], Awaitable[T]]) -> T:
        """``attempt()`` with this client's retries; *url* is shown redacted."""
        return await with_retries(
            attempt,
            instance=self.instance,
            safe=redact_url(url),
            max_retries=self._max_retries,
            backoff=self._backoff,
            wait_max=self._wait_max,
            rng=self._rng,
            stats=self._stats,
            log=self._log,
            timer=self.timer,
        )

    async def exchange(
        self, method: str, url: URL, body: object | None
    ) -> tuple[int, CIMultiDictProxy[str], bytes]:
        """One attempt on the wire: status, headers and the bounded body.

        Timeouts and connection failures raise :class:`Retryable`; a body past
        the limit a :class:`PageError`. Redirects are never followed.
        """
        if self._session is None:
            raise RuntimeError(f"{self.instance}: {self.service} client used before start()")
        token = await self._tokens.token()
        headers = {"Authorization": f"Bearer {token}"}
        async with self._slots:
            try:
                async with self._session.request(
                    method, url, json=body, headers=headers, allow_redirects=False
                ) as response:
                    status = response.status
                    response_headers = response.headers
                    limit = self.max_response_bytes if status < 300 else ERROR_BODY_LIMIT
                    data = await read_body(response, limit)
            except TimeoutError:
                raise Retryable("timed out") from None
            except aiohttp.ClientError as exc:
                raise Retryable(f"connection failed ({type(exc).__name__})") from None
            except BodyTooLarge:
                raise PageError(
                    redact_url(url), f"response larger than {limit} bytes (max_response_bytes)"
                ) from None
        return status, response_headers, data
