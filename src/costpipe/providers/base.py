"""The base of every HTTP provider, built-in or third-party.

Subclass :class:`HttpProvider` (exported as ``costpipe.HttpProvider``) with a
config model derived from :class:`HttpProviderConfig`; it gives each instance:

* ``self.http``, an :class:`~costpipe.providers.http.client.HttpClient` with
  the shared retry, auth, redirect, size and malformed-page behaviour (its
  module docstring lists the guarantees), opened in :meth:`start` and closed
  in :meth:`close`;
* :meth:`HttpProvider.fetch_budget`, the page and time bounds of one fetch
  (``max_pages``, ``max_fetch_duration``): past them the pass fails. Ask it
  before every page request, and yield after every page (an empty batch when
  the page held no records) so that the core can stop between pages;
* :meth:`HttpProvider.setting_aside`, the one place a malformed page is set
  aside so that the rest of the window is still fetched;
* the ``account`` label (``organization`` or the instance name) and a clock
  that tests can replace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import ClassVar, TypeVar

from pydantic import Field, SecretStr

from costpipe.components import ComponentConfig, ComponentContext, Provider
from costpipe.config.durations import Duration
from costpipe.errors import MalformedDataError
from costpipe.providers.http.client import (
    DEFAULT_MAX_RESPONSE_BYTES,
    AuthHint,
    HttpClient,
    RequestStats,
)
from costpipe.providers.http.paging import FetchBudget, PagingLimitError
from costpipe.providers.http.responses import EndpointError, Page, PageError
from costpipe.providers.http.retry import Timer, retry_after_seconds

__all__ = [
    "AuthHint",
    "EndpointError",
    "FetchBudget",
    "HttpClient",
    "HttpProvider",
    "HttpProviderConfig",
    "Page",
    "PageError",
    "PagingLimitError",
    "RequestStats",
    "Timer",
    "retry_after_seconds",
]


class HttpProviderConfig(ComponentConfig):
    """Options every HTTP provider shares; subclass it and set ``base_url``'s default."""

    api_key: SecretStr = Field(description="The API key (write `${ENV_VAR}`).")
    base_url: str = Field(description="API root; change it for a proxy or a test server.")
    verify_tls: bool = Field(
        default=True, description="Check the server's TLS certificate (off logs a warning)."
    )
    timeout: Duration = Field(
        default=timedelta(seconds=30), description="Time limit of one request attempt."
    )
    max_retries: int = Field(
        default=4, ge=0, le=20, description="Retries of a 429, 5xx, timeout or connection error."
    )
    retry_backoff: Duration = Field(
        default=timedelta(seconds=1), description="First wait between retries; doubles each time."
    )
    retry_wait_max: Duration = Field(
        default=timedelta(seconds=60),
        description="Longest wait between retries, also for a server's Retry-After.",
    )
    max_response_bytes: int = Field(
        default=DEFAULT_MAX_RESPONSE_BYTES,
        ge=1024,
        description="Largest response body after decompression; a larger page is set aside.",
    )
    max_pages: int = Field(
        default=10_000,
        ge=1,
        description="Most pages one request may page through; past it the pass fails.",
    )
    max_fetch_duration: Duration = Field(
        default=timedelta(hours=1),
        description="Longest time one fetch (one piece of a pass) may take; past it "
        "the pass fails.",
    )
    organization: str | None = Field(
        default=None, description="Label stored as `account` (default: the instance name)."
    )


HttpConfigT = TypeVar("HttpConfigT", bound=HttpProviderConfig)


class HttpProvider(Provider[HttpConfigT]):
    """Base class of providers that read one HTTP API.

    Subclasses set ``auth_requirement`` (named when a key is refused) and
    override :meth:`auth_headers` when the API does not take a bearer token.
    The default of their config's ``base_url`` is the API root the provider
    documents; a 404 suggests it.
    """

    secret_fields: ClassVar[tuple[str, ...]] = ("api_key",)
    auth_requirement: ClassVar[str] = "a valid API key"

    def __init__(
        self,
        config: HttpConfigT,
        context: ComponentContext,
        *,
        clock: Callable[[], datetime] | None = None,
        timer: Timer | None = None,
    ) -> None:
        super().__init__(config, context)
        self.account = config.organization or context.instance
        documented = type(config).model_fields["base_url"].default
        self.http = HttpClient(
            instance=self.instance,
            base_url=config.base_url,
            headers=self.auth_headers(config),
            slots=context.request_slots,
            stats=self,
            log=self.log,
            auth=AuthHint(
                self.auth_requirement,
                "api_key",
                context.secret_env.get("api_key"),
                documented if isinstance(documented, str) else None,
            ),
            verify_tls=config.verify_tls,
            timeout=config.timeout,
            max_retries=config.max_retries,
            retry_backoff=config.retry_backoff,
            retry_wait_max=config.retry_wait_max,
            max_response_bytes=config.max_response_bytes,
            secrets=(config.api_key.get_secret_value(),),
            timer=timer,
        )
        self._clock = clock or (lambda: datetime.now(UTC))

    def auth_headers(self, config: HttpConfigT) -> Mapping[str, str]:
        """Headers that carry the credential (default: a bearer token)."""
        return {"Authorization": f"Bearer {config.api_key.get_secret_value()}"}

    def fetch_budget(self) -> FetchBudget:
        """The bounds of one fetch, counted from now; call it once per ``fetch``
        and ``before_page`` before every page request."""
        return FetchBudget(
            self.instance,
            max_pages=self.config.max_pages,
            max_duration=self.config.max_fetch_duration,
            timer=self.http.timer,
        )

    @contextmanager
    def setting_aside(self, path: str) -> Iterator[None]:
        """Set aside a malformed page raised inside the block, and go on after it.

        A :class:`PageError` names its page; another
        :class:`~costpipe.errors.MalformedDataError` (raised by a parser that
        does not know the URL) is filed under ``base_url + path``. Errors that
        are not about one page (auth, a wrong ``base_url``, paging bounds,
        exhausted retries) pass through and fail the pass.
        """
        try:
            yield
        except PageError as exc:
            self.set_aside(exc.url, exc.reason)
        except MalformedDataError as exc:
            self.set_aside(self.http.endpoint(path), str(exc))

    async def start(self) -> None:
        await self.http.start()

    async def close(self) -> None:
        await self.http.close()
