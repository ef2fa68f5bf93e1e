"""What the simulator's middleware needs to know about one vendor's API.

Each vendor module (``openai_api``, ``anthropic_api``, ``openrouter_api``,
``litellm_api``) defines a :class:`Vendor`: how its requests authenticate
(:class:`AuthScheme`), how it words and shapes an error (:meth:`Vendor.render`),
what its injected failures and endless pages look like. The middleware in
:mod:`costpipe.simulator.auth` and :mod:`costpipe.simulator.fault_middleware`
is then written once for all of them.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import ClassVar

from aiohttp import web

from costpipe.simulator.seeded import SeededHash
from costpipe.simulator.wire import BadRequest

__all__ = [
    "AuthScheme",
    "Failure",
    "ProviderRequest",
    "RequestIds",
    "Vendor",
    "bearer_key",
    "provider_request",
    "register_routes",
]


@dataclass(frozen=True, slots=True)
class Failure:
    """An error answer, before the vendor shapes it: ``kind`` is the error type
    (OpenAI ``type``, Anthropic ``error.type``), ``code`` OpenAI's ``code``."""

    status: int
    kind: str
    message: str
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuthScheme:
    """How one vendor reads a key and refuses a request, checked in this order:
    no key, a valid key without the needed scope, an unknown (or revoked) key,
    then each required header."""

    read_key: Callable[[web.Request], str]
    admin_keys: Collection[str]
    lesser_key: str
    missing: Failure
    lesser: Failure
    unknown: Callable[[str], Failure]
    required_headers: tuple[tuple[str, Failure], ...] = ()


def bearer_key(request: web.Request) -> str:
    """The key of ``Authorization: Bearer <key>``, ``""`` without one."""
    auth = request.headers.get("Authorization", "")
    return auth[7:].strip() if auth.startswith("Bearer ") else ""


class Vendor(abc.ABC):
    """One vendor's API as the middleware sees it."""

    name: ClassVar[str]
    injects_failures: ClassVar[bool] = True
    """Whether the outage faults (429, 5xx, delays, a malformed page, a revoked
    key) apply. The OpenRouter and LiteLLM fakes serve their data plainly; the
    hostile faults (redirect, endless, oversized, gzip) apply to every vendor."""
    request_id_format: ClassVar[tuple[str, int] | None] = None
    """(prefix, length) of the request ID each answer carries, if the vendor sends one."""

    @property
    @abc.abstractmethod
    def auth(self) -> AuthScheme: ...

    @abc.abstractmethod
    def render(self, failure: Failure, request_id: str | None) -> web.Response:
        """*failure* in the vendor's error body and headers."""

    def page(self, body: bytes, request_id: str | None) -> web.Response:
        """A 200 answer carrying *body* (JSON)."""
        return web.Response(body=body, content_type="application/json")

    def bad_request(self, error: BadRequest) -> Failure:
        """The 400 answer to a parameter the API refuses."""
        return Failure(400, "invalid_request_error", error.message, None, error.param)

    def rate_limited(self, retry_after_s: int) -> Failure:
        """The injected 429 (asked only when :attr:`injects_failures`)."""
        raise NotImplementedError(f"{self.name} injects no failures")

    def server_error(self, variant: int) -> Failure:
        """The injected 5xx; *variant* picks among equivalent ones."""
        raise NotImplementedError(f"{self.name} injects no failures")

    def endless_page(self, request: web.Request, number: int, now: int) -> dict[str, object] | None:
        """An empty page claiming more (the *number*-th served), or None when
        the endpoint has no pages."""
        return None


class RequestIds:
    """Deterministic request IDs: the n-th provider request of a simulator gets
    the same ID on every run with the same seed."""

    def __init__(self, seed: int) -> None:
        self._hash = SeededHash(seed)
        self._served = 0

    def next(self, prefix: str, length: int) -> str:
        self._served += 1
        return prefix + self._hash.token(length, "request-id", self._served)


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    """The vendor a request is for and the request ID its answers carry."""

    vendor: Vendor
    request_id: str | None

    def render(self, failure: Failure) -> web.Response:
        return self.vendor.render(failure, self.request_id)


_VENDORS = web.AppKey("costpipe_sim_vendors", dict[str, Vendor])
_IDS = web.AppKey("costpipe_sim_request_ids", RequestIds)
_CONTEXT = web.RequestKey("costpipe_sim_provider_request", ProviderRequest)


def register_routes(
    app: web.Application, vendor: Vendor, paths: Collection[str], ids: RequestIds
) -> None:
    """Mark *paths* (already routed, or routed later) as *vendor*'s API."""
    app.setdefault(_VENDORS, {}).update(dict.fromkeys(paths, vendor))
    app[_IDS] = ids


def provider_request(request: web.Request) -> ProviderRequest | None:
    """The vendor context of *request*, None for the control API and unknown
    paths. Created by the first middleware that asks (so request IDs are
    numbered in arrival order), then kept on the request."""
    if _CONTEXT in request:
        return request[_CONTEXT]
    resource = request.match_info.route.resource
    vendors = request.app.get(_VENDORS, {})
    vendor = vendors.get(resource.canonical) if resource is not None else None
    if vendor is None:
        return None
    fmt = vendor.request_id_format
    context = ProviderRequest(vendor, request.app[_IDS].next(*fmt) if fmt else None)
    request[_CONTEXT] = context
    return context
