"""HTTP behaviour shared by every provider, built-in or third-party.

A provider builds one :class:`HttpClient` in ``__init__`` (no IO), opens it in
``start()`` and closes it in ``close()``. The client guarantees:

* one :class:`aiohttp.ClientSession` per provider instance;
* every request attempt holds one of ``context.request_slots`` (the global
  in-flight bound) while it is on the wire, and none while it sleeps between
  retries, so a throttled provider never starves the others;
* 408, 409, 429, 5xx, timeouts and connection errors are retried with the
  ``backoff`` library, at most ``max_retries`` times: a ``retry-after-ms`` or
  ``Retry-After`` header is honoured (capped at ``retry_wait_max``), otherwise
  the wait doubles from ``retry_backoff`` with jitter. When retries run out, or
  the server says ``x-should-retry: false``, or the 429 is an exhausted quota,
  :class:`~costpipe.errors.TransientError` is raised: a later pass may succeed;
* 401 and 403 are never retried: :class:`~costpipe.errors.AuthError` names the
  instance, the config key, the environment variable it came from (when the
  core told us) and the key or scope the provider needs;
* any other 4xx, and a 2xx body that is not JSON, raise :class:`PageError` (a
  :class:`~costpipe.errors.MalformedDataError`), which providers set aside;
* JSON numbers with a fraction are parsed as :class:`~decimal.Decimal` from
  the response text, so ``0.00012073404268330895`` dollars stay exact;
* no log line or error message carries the key: URLs are logged without
  user info, and credentials echoed by a server are masked.

``pages_fetched`` (2xx responses) and ``retries`` are counted on the provider.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import re
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import aiohttp
import backoff
from pydantic import Field, SecretStr
from yarl import URL

import costpipe
from costpipe.components import ComponentConfig, ComponentContext, Provider
from costpipe.config.durations import Duration
from costpipe.errors import AuthError, MalformedDataError, TransientError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "USER_AGENT",
    "AuthHint",
    "HttpClient",
    "HttpProvider",
    "HttpProviderConfig",
    "Page",
    "PageError",
    "RequestStats",
    "redact_url",
    "retry_after_seconds",
]

USER_AGENT = f"costpipe/{costpipe.__version__} (+https://github.com/costpipe/costpipe)"

_RETRY_STATUSES = frozenset({408, 409, 429})
_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-*.…]+)")
_SECRET_PARAMS = frozenset({"key", "api_key", "token", "access_token", "apikey"})


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
    organization: str | None = Field(
        default=None, description="Label stored as `account` (default: the instance name)."
    )


class RequestStats(Protocol):
    """Counters the client updates; :class:`~costpipe.components.Provider` has them."""

    pages_fetched: int
    retries: int


@dataclass(frozen=True, slots=True)
class AuthHint:
    """What a refused-credential message tells the human."""

    requirement: str
    """The kind of key or scope needed, e.g. ``an Admin key with api.usage.read``."""
    config_key: str = "api_key"
    env_var: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """One decoded JSON response and the (secret-free) URL it came from."""

    url: str
    body: Any


class PageError(MalformedDataError):
    """A response that cannot be used: not JSON, wrong shape, or a 4xx refusal
    of this one request. Providers pass ``url`` and ``reason`` to ``set_aside``."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")


class _Retryable(Exception):
    """One failed attempt that another attempt may fix (internal)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def redact_url(url: URL) -> str:
    """*url* without user info and without values of credential-like query keys."""
    clean = url.with_user(None).with_password(None)
    if any(key.lower() in _SECRET_PARAMS for key in clean.query):
        clean = clean.with_query(
            [(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in clean.query.items()]
        )
    return str(clean)


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The server's requested wait: ``retry-after-ms`` first, then ``Retry-After``
    in seconds or as an HTTP date; ``None`` if absent or unreadable."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            value = float(millis) / 1000
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    header = headers.get("retry-after")
    if not header:
        return None
    try:
        seconds = float(header)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    return max(seconds, 0.0)


def _wait_times(
    *, base: float, cap: float, rng: random.Random
) -> Generator[float, BaseException | None, None]:
    """backoff wait generator: receives each failure, yields the next wait."""
    retry = 0
    failure = yield 0.0  # primed by backoff with send(None)
    while True:
        retry += 1
        hint = failure.retry_after if isinstance(failure, _Retryable) else None
        if hint is not None:
            # Never earlier than asked; a little later so that clients told the
            # same Retry-After do not all return in the same instant.
            wait = min(hint + rng.uniform(0, min(hint * 0.1, 1.0)), cap)
        else:
            ceiling = min(cap, base * 2 ** (retry - 1))
            wait = ceiling / 2 + rng.uniform(0, ceiling / 2)
        failure = yield wait


def _error_message(body: bytes) -> str:
    """The human text of an OpenAI- or Anthropic-shaped error body, if any."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(data.get("message"), str):
            return str(data["message"])
    return ""


def _error_code(body: bytes) -> str:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return ""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or error.get("type") or "")
    return ""


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
        secrets: Sequence[str] = (),
    ) -> None:
        self.instance = instance
        self.base_url = base_url.rstrip("/")
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **headers}
        self._slots = slots
        self._stats = stats
        self._log = log
        self._auth = auth
        self._verify_tls = verify_tls
        self._timeout = aiohttp.ClientTimeout(total=timeout.total_seconds())
        self._max_retries = max_retries
        self._secrets = tuple(s for s in secrets if s)
        self._session: aiohttp.ClientSession | None = None
        self._get_with_retries = backoff.on_exception(
            _wait_times,
            _Retryable,
            max_tries=max_retries + 1,
            jitter=None,
            on_backoff=self._on_backoff,
            logger=None,
            base=retry_backoff.total_seconds(),
            cap=retry_wait_max.total_seconds(),
            rng=random.Random(),
        )(self._attempt)

    @classmethod
    def for_provider(
        cls,
        provider: Provider[Any],
        config: HttpProviderConfig,
        *,
        headers: Mapping[str, str],
        requirement: str,
    ) -> HttpClient:
        """A client wired to *provider*'s context, counters and common options."""
        return cls(
            instance=provider.instance,
            base_url=config.base_url,
            headers=headers,
            slots=provider.context.request_slots,
            stats=provider,
            log=provider.log,
            auth=AuthHint(requirement, "api_key", provider.context.secret_env.get("api_key")),
            verify_tls=config.verify_tls,
            timeout=config.timeout,
            max_retries=config.max_retries,
            retry_backoff=config.retry_backoff,
            retry_wait_max=config.retry_wait_max,
            secrets=(config.api_key.get_secret_value(),),
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
            headers=self._headers, timeout=self._timeout, connector=connector
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
        return URL(self.base_url + path).with_query(list(params))

    async def get_json(self, path: str, params: Sequence[tuple[str, str]] = ()) -> Page:
        """GET ``base_url + path`` and decode JSON (fractions as Decimal).

        Raises AuthError, TransientError or PageError as described above.
        """
        url = self.url(path, params)
        safe = redact_url(url)
        try:
            page: Page = await self._get_with_retries(url, safe)
        except _Retryable as exc:
            raise TransientError(
                f"{self.instance}: {safe}: {exc.reason} "
                f"(gave up after {self._max_retries + 1} attempts)"
            ) from None
        return page

    async def _attempt(self, url: URL, safe: str) -> Page:
        if self._session is None:
            raise RuntimeError(f"{self.instance}: HTTP client used before start()")
        async with self._slots:
            try:
                async with self._session.get(url) as response:
                    status = response.status
                    headers = response.headers
                    body = await response.read()
            except TimeoutError:
                raise _Retryable("timed out") from None
            except aiohttp.ClientError as exc:
                raise _Retryable(f"connection failed ({type(exc).__name__})") from None
        if status in (401, 403):
            raise AuthError(self._auth_message(status, body))
        if status in _RETRY_STATUSES or status >= 500:
            reason = f"HTTP {status}"
            message = self._scrub(_error_message(body))
            if message:
                reason += f": {message[:200]}"
            if headers.get("x-should-retry", "").lower() == "false" or (
                status == 429 and _error_code(body) == "insufficient_quota"
            ):
                # The server says waiting will not help within this pass.
                raise TransientError(f"{self.instance}: {safe}: {reason}")
            raise _Retryable(reason, retry_after_seconds(headers))
        if status >= 400:
            message = self._scrub(_error_message(body))[:300]
            raise PageError(safe, f"HTTP {status}" + (f": {message}" if message else ""))
        self._stats.pages_fetched += 1
        try:
            data = json.loads(body.decode("utf-8"), parse_float=Decimal)
        # RecursionError: a body nested deeper than the interpreter's stack (hostile).
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise PageError(safe, f"response is not valid JSON ({exc})") from None
        return Page(safe, data)

    def _on_backoff(self, details: Mapping[str, Any]) -> None:
        self._stats.retries += 1
        # Debug only: the core logs the outcome once, never each retry.
        self._log.debug(
            "http_retry",
            provider=self.instance,
            url=details["args"][1],
            attempt=details["tries"],
            wait=round(details["wait"], 3),
            reason=str(details.get("exception", "")),
        )

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _KEY_LIKE.sub("sk-***", text)

    def _auth_message(self, status: int, body: bytes) -> str:
        detail = self._scrub(_error_message(body))[:300]
        what = "the API key was refused" if status == 401 else "the API key lacks a permission"
        source = f" (read from ${self._auth.env_var})" if self._auth.env_var else ""
        return (
            f"{self.instance}: {what} (HTTP {status}"
            + (f": {detail}" if detail else "")
            + f"). Check the config key `{self._auth.config_key}` of {self.instance}{source}: "
            + f"{self._auth.requirement} is needed."
        )


HttpConfigT = TypeVar("HttpConfigT", bound=HttpProviderConfig)


class HttpProvider(Provider[HttpConfigT]):
    """Base class of providers that read one HTTP API.

    It gives every instance one :class:`HttpClient` (the shared retry, auth and
    malformed-page behaviour, opened in :meth:`start` and closed in
    :meth:`close`), the ``account`` label (``organization`` or the instance
    name) and a clock that tests can replace. Subclasses set
    ``auth_requirement`` (named when a key is refused) and override
    :meth:`auth_headers` when the API does not take a bearer token.
    """

    secret_fields: ClassVar[tuple[str, ...]] = ("api_key",)
    auth_requirement: ClassVar[str] = "a valid API key"

    def __init__(
        self,
        config: HttpConfigT,
        context: ComponentContext,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(config, context)
        self.account = config.organization or context.instance
        self.http = HttpClient.for_provider(
            self, config, headers=self.auth_headers(config), requirement=self.auth_requirement
        )
        self._clock = clock or (lambda: datetime.now(UTC))

    def auth_headers(self, config: HttpConfigT) -> Mapping[str, str]:
        """Headers that carry the credential (default: a bearer token)."""
        return {"Authorization": f"Bearer {config.api_key.get_secret_value()}"}

    async def start(self) -> None:
        await self.http.start()

    async def close(self) -> None:
        await self.http.close()
