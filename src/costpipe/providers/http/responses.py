"""What a provider's HTTP answer means, read within bounds.

* :func:`read_body` reads a body incrementally and stops as soon as it
  exceeds its limit *after decompression*: a 1 GiB page or a small gzip that
  inflates to gigabytes costs at most the limit plus one chunk of memory.
* :class:`PageError` is a response that cannot be used (not JSON, wrong shape,
  too large, a 4xx refusal of this one request): the provider sets the page
  aside and the pass goes on.
* :class:`EndpointError` is a response that says the configuration is wrong
  (a redirect, a 404 on a documented endpoint): never retried, never set
  aside, it fails the provider's pass with a message naming the URL
  (without credentials) and the setting to change.
* Error texts from a server are masked first, then cut
  (:func:`costpipe.redaction.safe_excerpt`), so a key straddling the cut
  never leaks in part.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import aiohttp
from yarl import URL

from costpipe.errors import AuthError, ConfigError, MalformedDataError, TransientError
from costpipe.providers.http.retry import RETRY_STATUSES, Retryable, retry_after_seconds
from costpipe.redaction import redact_url, safe_excerpt

__all__ = [
    "ERROR_BODY_LIMIT",
    "AuthHint",
    "EndpointError",
    "Page",
    "PageError",
    "RawPage",
    "Requester",
    "auth_message",
    "decode_json",
    "error_code",
    "error_excerpt",
    "format_bytes",
    "interpret",
    "interpret_raw",
    "not_found_error",
    "read_body",
    "redirect_error",
]

#: An error body is read up to this size: enough for any API's message.
ERROR_BODY_LIMIT = 64 * 1024
_CHUNK = 64 * 1024
_INFLATE_ANY = zlib.MAX_WBITS | 32  # accepts a gzip or a zlib header


@dataclass(frozen=True, slots=True)
class Page:
    """One decoded JSON response and the (secret-free) URL it came from."""

    url: str
    body: Any


@dataclass(frozen=True, slots=True)
class RawPage:
    """The body of one 2xx response, not yet decoded, and the (secret-free) URL
    it came from: a typed decoder reads the bytes once, straight into its types."""

    url: str
    body: bytes


@dataclass(frozen=True, slots=True)
class AuthHint:
    """What a refused-credential or wrong-URL message tells the human."""

    requirement: str
    """The kind of key or scope needed, e.g. ``an Admin key with api.usage.read``."""
    config_key: str = "api_key"
    env_var: str | None = None
    documented_base_url: str | None = None
    """The API root the provider documents, suggested when an endpoint is not found."""


class PageError(MalformedDataError):
    """A response that cannot be used: not JSON, wrong shape, too large, or a 4xx
    refusal of this one request. Providers pass ``url`` and ``reason`` to ``set_aside``."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")


class EndpointError(ConfigError):
    """The server's answer says ``base_url`` is wrong (a redirect, a 404 on an
    endpoint the provider documents). A human must change the configuration:
    the pass fails, nothing is retried or set aside."""

    def __init__(self, message: str) -> None:
        super().__init__("", message)


class BodyTooLarge(Exception):
    """Raised by :func:`read_body` (internal): the body exceeded the limit."""


def format_bytes(count: int) -> str:
    """``1 MiB``, ``64 MiB``, ``512 KiB``, ``100 bytes``: for messages."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size and count % size == 0:
            return f"{count // size} {unit}"
    return f"{count} bytes"


async def read_body(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The decoded body of *response*, read chunk by chunk.

    Raises :class:`BodyTooLarge` as soon as more than *limit* bytes would have
    to be kept, *after* decompression (the session must not decompress: it
    would inflate a whole network chunk at once), and :class:`ValueError` for
    an unknown ``Content-Encoding`` or a corrupt compressed stream.
    """
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        inflate = None
        declared = response.content_length
        if declared is not None and declared > limit:
            raise BodyTooLarge
    elif encoding in ("gzip", "x-gzip", "deflate"):
        inflate = zlib.decompressobj(_INFLATE_ANY)
    else:
        raise ValueError(f"unsupported Content-Encoding {encoding[:40]!r}")
    # Pieces joined once at the end: a growing bytearray would briefly hold two
    # copies while it reallocates, doubling the peak of a body near the limit.
    pieces: list[bytes] = []
    size = 0
    # The chunks as aiohttp received them: reading fixed-size chunks instead
    # copied each network chunk into 64 KiB slices first (a third copy of every
    # page). A chunk stays small: aiohttp stops reading the socket once its
    # buffer passes 128 KiB, and asyncio reads at most 256 KiB at a time, so
    # the check below still stops a body within a chunk of the limit.
    async for chunk in response.content.iter_any():
        if inflate is None:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            pieces.append(chunk)
            continue
        pending = chunk
        while pending:
            try:
                # At most one byte past the limit is ever inflated, in steps of one
                # chunk: 64 KiB of a bomb inflates to 64 MiB in a single unbounded call.
                piece = inflate.decompress(pending, min(limit - size + 1, _CHUNK))
            except zlib.error as exc:
                raise ValueError(f"corrupt {encoding} body ({exc})") from None
            size += len(piece)
            if size > limit:
                raise BodyTooLarge
            pieces.append(piece)
            pending = inflate.unconsumed_tail
    if inflate is not None:
        piece = inflate.flush()
        size += len(piece)
        if size > limit:
            raise BodyTooLarge
        pieces.append(piece)
        if not inflate.eof:
            raise ValueError(f"truncated {encoding} body")
    return b"".join(pieces)


def _decoded(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def error_excerpt(body: bytes, secrets: Iterable[str] = (), limit: int = 200) -> str:
    """The human text of an OpenAI- or Anthropic-shaped error body (else the
    body's start), with secrets masked first and then cut to *limit* characters."""
    data = _decoded(body)
    text = ""
    if data is None:
        text = body.decode("utf-8", "replace")
    elif isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            text = error["message"]
        elif isinstance(error, str):
            text = error
        elif isinstance(data.get("message"), str):
            text = data["message"]
    return safe_excerpt(text, limit, secrets)


def error_code(body: bytes) -> str:
    """``error.code`` (or ``error.type``) of an error body, ``""`` when absent."""
    data = _decoded(body)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or error.get("type") or "")[:100]
    return ""


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asked, for the messages about the answer: the instance, its API root
    as shown (no credentials), what its key must be, and the secrets to mask."""

    instance: str
    base_url: str
    auth: AuthHint
    secrets: tuple[str, ...] = ()


def interpret(
    who: Requester, url: URL, status: int, headers: Mapping[str, str], body: bytes
) -> Page:
    """The decoded page of a 2xx answer (JSON fractions as Decimal); otherwise
    raise what the status means (see :func:`interpret_raw`)."""
    return decode_json(interpret_raw(who, url, status, headers, body))


def decode_json(raw: RawPage) -> Page:
    """*raw* decoded as JSON, fractions as Decimal; PageError when it is not JSON."""
    try:
        data = json.loads(raw.body.decode("utf-8"), parse_float=Decimal)
    # RecursionError: a body nested deeper than the interpreter's stack (hostile).
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PageError(raw.url, f"response is not valid JSON ({exc})") from None
    return Page(raw.url, data)


def interpret_raw(
    who: Requester, url: URL, status: int, headers: Mapping[str, str], body: bytes
) -> RawPage:
    """The undecoded body of a 2xx answer; otherwise raise what the status
    means: AuthError (401, 403), Retryable or TransientError (408, 409, 429,
    5xx), EndpointError (404), PageError."""
    safe = redact_url(url)
    if status in (401, 403):
        raise AuthError(auth_message(who, status, body))
    if status in RETRY_STATUSES or status >= 500:
        reason = f"HTTP {status}"
        message = error_excerpt(body, who.secrets)
        if message:
            reason += f": {message}"
        if headers.get("x-should-retry", "").lower() == "false" or (
            status == 429 and error_code(body) == "insufficient_quota"
        ):
            # The server says waiting will not help within this pass.
            raise TransientError(f"{who.instance}: {safe}: {reason}")
        raise Retryable(reason, retry_after_seconds(headers))
    if status == 404:
        raise not_found_error(who, url, body)
    if status >= 400:
        message = error_excerpt(body, who.secrets, 300)
        raise PageError(safe, f"HTTP {status}" + (f": {message}" if message else ""))
    return RawPage(safe, body)


def redirect_error(
    who: Requester, url: URL, status: int, headers: Mapping[str, str]
) -> EndpointError:
    """A 3xx: never followed; the message names the target without credentials."""
    location = headers.get("Location", "")
    try:
        target = redact_url(url.join(URL(location)))
    except (ValueError, TypeError):
        target = redact_url(location)
    target = safe_excerpt(target, 300, who.secrets) or "(no Location header)"
    return EndpointError(
        f"{who.instance}: {redact_url(url.with_query(None))} answered HTTP {status}, "
        f"a redirect to {target}. costpipe never follows a provider's redirect (it "
        "could carry the API key to another host); if that location is the "
        f"provider's real API, set `base_url` of {who.instance} to it."
    )


def not_found_error(who: Requester, url: URL, body: bytes) -> EndpointError:
    """A 404 on an endpoint the provider documents: ``base_url`` is wrong."""
    detail = error_excerpt(body, who.secrets)
    documented = who.auth.documented_base_url
    fix = (
        f"the provider documents {documented}"
        if documented
        else "it must be the API root the provider documents"
    )
    return EndpointError(
        f"{who.instance}: {redact_url(url.with_query(None))} answered HTTP 404"
        + (f" ({detail})" if detail else "")
        + f": this endpoint is not where `base_url` ({who.base_url}) points. "
        f"Check the config key `base_url` of {who.instance}: {fix}."
    )


def auth_message(who: Requester, status: int, body: bytes) -> str:
    """A refused key: what was refused, where the key came from, what is needed."""
    detail = error_excerpt(body, who.secrets, 300)
    what = "the API key was refused" if status == 401 else "the API key lacks a permission"
    source = f" (read from ${who.auth.env_var})" if who.auth.env_var else ""
    return (
        f"{who.instance}: {what} (HTTP {status}"
        + (f": {detail}" if detail else "")
        + f"). Check the config key `{who.auth.config_key}` of {who.instance}{source}: "
        + f"{who.auth.requirement} is needed."
    )
