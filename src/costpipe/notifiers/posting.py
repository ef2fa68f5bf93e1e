"""One JSON POST per notification, shared by the webhook, Teams and PagerDuty notifiers.

Each of them builds its own body; what happens on the wire is the same: the
body is built or the notification is undeliverable, it is POSTed once without
following redirects, and the answer's status decides between acknowledged,
:class:`~costpipe.errors.AuthError`, :class:`~costpipe.errors.TransientError`
and a non-retryable :class:`~costpipe.errors.CostpipeError`. Library errors are
replaced by their type name because their text can contain the URL, which is a
secret (a Slack or Teams webhook URL is its own credential).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp

from costpipe.errors import AuthError, CostpipeError, TransientError, UndeliverableError
from costpipe.notification import Notification

if TYPE_CHECKING:
    from costpipe.components import ComponentContext

__all__ = ["JsonPoster", "build_or_undeliverable", "with_dashboard_url"]

T = TypeVar("T")


def with_dashboard_url(notification: Notification, context: ComponentContext) -> Notification:
    """*notification* with the instance's dashboard URL when it names none itself."""
    if notification.dashboard_url is None and context.dashboard_url:
        return dataclasses.replace(notification, dashboard_url=context.dashboard_url)
    return notification


def build_or_undeliverable(
    instance: str, notification: Notification, build: Callable[[], T], what: str
) -> T:
    """``build()``, or :class:`UndeliverableError` naming *what* could not be built.

    Permanent for this notification only (e.g. text that cannot be encoded as
    UTF-8): the outbox skips it for good.
    """
    try:
        return build()
    except Exception as exc:
        raise UndeliverableError(
            f"{instance}: notification {notification.id} cannot be built as {what}"
            f" ({type(exc).__name__})"
        ) from None


class JsonPoster:
    """A lazily opened session and the POST-and-judge-the-answer step of one notifier.

    *service* names the receiver in errors ("webhook", "Teams", "PagerDuty").
    """

    def __init__(
        self, instance: str, service: str, *, timeout: timedelta, verify_tls: bool
    ) -> None:
        self.instance = instance
        self.service = service
        self.timeout = timeout
        self.verify_tls = verify_tls
        self._session: aiohttp.ClientSession | None = None

    def warn_if_unverified(self, log: Any) -> None:
        """Say once, at start, that the server certificate will not be checked."""
        if not self.verify_tls:
            log.warning("tls_verification_disabled", notifier=self.instance)

    def open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout.total_seconds())
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], *, refused: str, rejected: str
    ) -> None:
        """POST *body* once; return on 2xx, raise otherwise.

        *refused* completes "<service> refused ..." (401/403), *rejected*
        "<service> rejected ..." (other 4xx).
        """
        try:
            async with self.open().post(
                url, data=body, headers=headers, ssl=self.verify_tls, allow_redirects=False
            ) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise TransientError(
                f"{self.instance}: {self.service} request failed ({type(exc).__name__})"
            ) from None
        if 200 <= status < 300:
            return
        if status in (401, 403):
            raise AuthError(f"{self.instance}: {self.service} refused {refused} ({status})")
        if status == 429 or status >= 500:
            raise TransientError(f"{self.instance}: {self.service} answered {status}")
        raise CostpipeError(f"{self.instance}: {self.service} rejected {rejected} ({status})")
