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

from typing import Any, ClassVar

from yarl import URL

from costpipe.errors import AuthError
from costpipe.providers.gcp_billing.schema import error_reason
from costpipe.providers.http.bearer import BearerClient
from costpipe.providers.http.responses import (
    AuthHint,
    EndpointError,
    RawPage,
    Requester,
    interpret_raw,
)
from costpipe.providers.http.retry import Retryable, retry_after_seconds
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


class BigQueryClient(BearerClient):
    """GET/POST JSON on the BigQuery REST root with a fresh token, bounded and retried."""

    service: ClassVar[str] = "BigQuery"

    def __init__(self, *, project: str, table: str, **options: Any) -> None:
        super().__init__(**options)
        self.project = project
        self.table = table

    async def request(self, method: str, url: URL, body: object | None = None) -> RawPage:
        """One request with retries; raises AuthError, EndpointError,
        TransientError or PageError."""
        return await self.retried(url, lambda: self._attempt(method, url, body))

    async def _attempt(self, method: str, url: URL, body: object | None) -> RawPage:
        status, response_headers, data = await self.exchange(method, url, body)
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
