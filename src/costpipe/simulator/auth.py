"""One authentication middleware for every vendor the simulator fakes.

The vendor's :class:`~costpipe.simulator.vendor.AuthScheme` says how its key is
sent and which answer each kind of refusal gets; this middleware applies the
checks in the same order for all of them: no key, a key without the scope (an
OpenAI project key, an Anthropic workspace key, an OpenRouter inference key, a
LiteLLM user key), an unknown or revoked key, then required headers (Anthropic's
``anthropic-version``). Requests outside a vendor's API pass untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from costpipe.simulator.vendor import Failure, provider_request

__all__ = ["authentication"]


def authentication(key_revoked: Callable[[str], bool]) -> Middleware:
    """The middleware; ``key_revoked(vendor_name)`` counts one use of a valid
    admin key and says whether the ``revoke_key`` fault has revoked it."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        context = provider_request(request)
        if context is None:
            return await handler(request)
        vendor = context.vendor
        scheme = vendor.auth
        key = scheme.read_key(request)
        refusal: Failure | None = None
        if not key:
            refusal = scheme.missing
        elif key == scheme.lesser_key:
            refusal = scheme.lesser
        elif key not in scheme.admin_keys or (vendor.injects_failures and key_revoked(vendor.name)):
            refusal = scheme.unknown(key)
        else:
            for header, failure in scheme.required_headers:
                if not request.headers.get(header):
                    refusal = failure
                    break
        if refusal is not None:
            return context.render(refusal)
        return await handler(request)

    return authenticate
