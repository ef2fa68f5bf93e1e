"""BigQuery REST requests: a bearer token, retries, BigQuery's throttling and refusals.

Plain aiohttp (see :mod:`.credentials` for why not gcloud-aio-bigquery): the
body is read within ``max_response_bytes`` and decoded once into msgspec types,
and requests go only to ``api_root`` (the ``jobReference`` in an answer never
decides where the token goes: the URL is built from the configured root).

Statuses (BigQuery "Troubleshoot errors"): 429, 5xx and a 403 whose reason is
``rateLimitExceeded`` or ``backendError`` are retried (with ``Retry-After``
when given); other 401/403 raise :class:`~costpipe.errors.AuthError` naming
the role and permission that is missing; 404 (``notFound``: no such table,
project or job) and 400 (``invalidQuery``: the table is not a billing export)
are configuration errors; other 4xx set the page aside.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import aiohttp
from yarl import URL

from costpipe.errors import AuthError, TransientError
from costpipe.providers.gcp_billing.credentials import TokenSource
from costpipe.providers.gcp_billing.schema import error_reason
from costpipe.providers.http.client import user_agent
from costpipe.providers.http.responses import (
    AuthHint,
    BodyTooLarge,
    EndpointError,
    PageError,
    RawPage,
    Requester,
    interpret_raw,
    read_body,
)
from costpipe.providers.http.retry import Retryable, Timer, next_wait, retry_after_seconds
from costpipe.redaction import redact_url, safe_excerpt

__all__ = ["DATA_VIEWER", "JOB_USER", "BigQueryClient", "refusal_message"]

JOB_USER = "roles/bigquery.jobUser (permission bigquery.jobs.create) on project {project}"
DATA_VIEWER = (
    "roles/bigquery.dataViewer (permission bigquery.tables.getData) on the billing "
    "export dataset of {table}"
)
_RETRY_REASONS = {"rateLimitExceeded", "backendError", "internalError", "RESOURCE_EXHAUSTED"}


def refusal_message(instance: str, status: int, body: bytes, project: str, table: str) -> str:
    """A 401/403 from BigQuery: Google's text and the role that is needed."""
    reason, message = error_reason(body)
    detail = safe_excerpt(message, 300)
    if status == 401:
        return (
            f"{instance}: BigQuery refused the access token (HTTP 401"
            + (f": {detail}" if detail else "")
            + f"). Check `credentials_file` of {instance}."
        )
    need = (
        JOB_USER.format(project=project)
        if "jobs.create" in message or "jobs." in message
        else DATA_VIEWER.format(table=table)
    )
    return (
        f"{instance}: the identity lacks a permission (HTTP 403 {reason or 'accessDenied'}"
        + (f": {detail}" if detail else "")
        + f"). Grant it {need}."
    )


class BigQueryClient:
    """GET/POST JSON on the BigQuery REST root with a fresh token, bounded and retried."""

    def __init__(
        self,
        *,
        instance: str,
        api_root: str,
        project: str,
        table: str,
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
    ) -> None:
        self.instance = instance
        self.root = URL(api_root.rstrip("/"))
        self.project = project
        self.table = table
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
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": user_agent(), "Accept": "application/json"},
                timeout=self._timeout,
            )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        await self._tokens.close()

    async def request(self, method: str, url: URL, body: object | None = None) -> RawPage:
        """One request with retries; raises AuthError, EndpointError,
        TransientError or PageError."""
        safe = redact_url(url)
        failures = 0
        while True:
            try:
                return await self._attempt(method, url, body)
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

    async def _attempt(self, method: str, url: URL, body: object | None) -> RawPage:
        if self._session is None:
            raise RuntimeError(f"{self.instance}: BigQuery client used before start()")
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
        reason, message = error_reason(data) if status >= 400 else ("", "")
        if (status in (403, 429) and reason in _RETRY_REASONS) or status == 429:
            raise Retryable(
                f"HTTP {status} {reason or 'throttled'}", retry_after_seconds(response_headers)
            )
        if status in (401, 403):
            raise AuthError(refusal_message(self.instance, status, data, self.project, self.table))
        if 300 <= status < 400:
            raise EndpointError(
                f"{self.instance}: {redact_url(url)} answered a redirect ({status})"
            )
        if status in (400, 404):
            raise EndpointError(
                f"{self.instance}: BigQuery answered HTTP {status} {reason}: "
                f"{safe_excerpt(message, 300)}. Check `table` ({self.table}), `job_project` "
                f"and `location` of {self.instance}."
            )
        who = Requester(
            self.instance, str(self.root), AuthHint("BigQuery access", "credentials_file")
        )
        page = interpret_raw(who, url, status, response_headers, data)
        self._stats.pages_fetched += 1
        return page
