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

from collections.abc import Mapping
from typing import ClassVar

from yarl import URL

from costpipe.errors import AuthError
from costpipe.providers.http.bearer import BearerClient
from costpipe.providers.http.responses import (
    AuthHint,
    EndpointError,
    RawPage,
    Requester,
    error_excerpt,
    interpret_raw,
)
from costpipe.providers.http.retry import Retryable, retry_after_seconds
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


class ArmClient(BearerClient):
    """POST/GET JSON on ARM with a fresh token, within bounds and retries."""

    service: ClassVar[str] = "ARM"

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
        who = Requester(self.instance, str(self.root), AuthHint(requirement, "auth"))
        return await self.retried(url, lambda: self._attempt(method, url, who, body))

    async def _attempt(self, method: str, url: URL, who: Requester, body: object | None) -> RawPage:
        status, response_headers, data = await self.exchange(method, url, body)
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
