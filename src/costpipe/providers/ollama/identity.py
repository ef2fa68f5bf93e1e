"""Who made a request: a configured bearer token, a gateway's identity header,
or nobody known (refused, or metered as ``anonymous``).

Tokens are compared by their SHA-256 (a dict lookup, so no token is compared
character by character), and the only trace of a token that leaves this module
is :func:`key_id`, a truncated hash: the journal and the stores keep that as
``api_key_id``, never the token.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from costpipe.providers.ollama.config import OllamaConfig

__all__ = ["ANONYMOUS", "Caller", "Callers", "key_id"]

ANONYMOUS = "anonymous"
_MAX_NAME = 128


def key_id(token: str) -> str:
    """The stored identity of a bearer token: ``key-`` and 16 hex digits of its SHA-256."""
    return "key-" + hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Caller:
    user: str
    project: str
    api_key_id: str


def _bearer(headers: Mapping[str, str]) -> str:
    value = headers.get("Authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _clean(value: str | None) -> str:
    """A header value usable as a name: printable, bounded; else empty."""
    if not value or len(value) > _MAX_NAME or not value.isprintable():
        return ""
    return value.strip()


class Callers:
    """Resolves a request's headers to a :class:`Caller`, or ``None`` (refuse)."""

    def __init__(self, config: OllamaConfig) -> None:
        self._by_digest = {
            hashlib.sha256(key.token.get_secret_value().encode()).digest(): key
            for key in config.keys.values()
        }
        self._identity_header = config.identity_header
        self._project_header = config.project_header
        self._anonymous = config.unknown_callers == "anonymous"

    def identify(self, headers: Mapping[str, str]) -> Caller | None:
        token = _bearer(headers)
        known = self._by_digest.get(hashlib.sha256(token.encode()).digest()) if token else None
        api_key = key_id(token) if token else ""
        user = project = ""
        if known is not None:
            user, project = known.user, known.project
        if self._identity_header is not None:
            named = _clean(headers.get(self._identity_header))
            if named:
                user = named
                if self._project_header is not None:
                    project = _clean(headers.get(self._project_header)) or project
        if user:
            return Caller(user, project, api_key)
        if self._anonymous:
            return Caller(ANONYMOUS, "", api_key)
        return None
