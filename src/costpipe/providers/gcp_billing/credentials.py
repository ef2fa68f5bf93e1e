"""OAuth access tokens for BigQuery through gcloud-aio-auth (async).

gcloud-aio-auth (the ``gcp`` extra, imported only when a ``gcp_billing``
instance starts) does the sign-in flows on aiohttp:

* a service-account key file (``"type": "service_account"``): an RS256 JWT
  assertion posted to the key's ``token_uri`` (so a test key can point it at
  the simulator);
* workload identity federation (``"type": "external_account"``): the
  subject token exchanged at STS;
* no file: the metadata server (GKE Workload Identity, Compute Engine, Cloud
  Run; ``GCE_METADATA_HOST`` moves it).

Why not gcloud-aio-bigquery: its ``Job.query`` returns the decoded JSON with
floats and follows no bounds; costpipe needs the raw body (size-limited,
Decimal) and its own page and retry limits, so the BigQuery calls are plain
aiohttp (:mod:`.client`). Why :meth:`refresh` rather than ``Token.get``: the
latter retries any failure five times with waits up to 60 s (tenacity, not
configurable), so a refused key would hang ``check --connect`` for minutes;
here a refusal is an :class:`~costpipe.errors.AuthError` at once and the token
is cached until 5 minutes before it expires. google-auth was not needed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp

from costpipe.errors import AuthError, ConfigError, TransientError
from costpipe.redaction import safe_excerpt

__all__ = ["SCOPE", "TokenSource", "open_token_source"]

SCOPE = "https://www.googleapis.com/auth/bigquery.readonly"
_EARLY = 300.0


class TokenSource:
    """A cached access token from one gcloud-aio-auth ``Token``."""

    def __init__(self, token: Any, instance: str, kind: str, secrets: tuple[str, ...]) -> None:
        self._token = token
        self._instance = instance
        self._kind = kind
        self._secrets = secrets
        self._value: str | None = None
        self._until = 0.0

    async def token(self) -> str:
        if self._value is not None and time.monotonic() < self._until:
            return self._value
        try:
            answer = await self._token.refresh(timeout=30)
        except aiohttp.ClientResponseError as exc:
            detail = safe_excerpt(str(exc.message or ""), 300, self._secrets)
            if exc.status in (400, 401, 403):
                raise AuthError(
                    f"{self._instance}: Google refused the sign-in with the {self._kind} "
                    f"(HTTP {exc.status}: {detail}). Check `credentials_file` of {self._instance}."
                ) from None
            raise TransientError(
                f"{self._instance}: the token endpoint answered HTTP {exc.status}"
            ) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientError(
                f"{self._instance}: no token from the {self._kind} ({type(exc).__name__})"
            ) from None
        except (KeyError, ValueError, TypeError) as exc:
            raise AuthError(
                f"{self._instance}: the {self._kind} gave no usable token "
                f"({safe_excerpt(str(exc), 200, self._secrets)})"
            ) from None
        value = str(answer.value)
        if not value:
            raise AuthError(f"{self._instance}: the {self._kind} returned no access token")
        self._value = value
        lifetime = max(float(answer.expires_in or 0), 60.0)
        self._until = time.monotonic() + max(lifetime - _EARLY, lifetime / 2)
        return value

    async def close(self) -> None:
        await self._token.close()


def _secrets_of(path: Path) -> tuple[str, ...]:
    """The key file's private key, masked wherever a message could show it."""
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return ()
    key = data.get("private_key") if isinstance(data, dict) else None
    return (key,) if isinstance(key, str) and key else ()


def open_token_source(credentials_file: Path | None, instance: str) -> TokenSource:
    """The token source the config names (no IO but reading the file)."""
    try:
        from gcloud.aio.auth import Token
    except ImportError:
        raise ConfigError(
            f"providers.gcp_billing ({instance})",
            "needs gcloud-aio-auth: pip install 'costpipe[gcp]'",
        ) from None
    if credentials_file is None:
        return TokenSource(Token(scopes=[SCOPE]), instance, "metadata server identity", ())
    if not credentials_file.is_file():
        raise ConfigError(
            f"providers.gcp_billing ({instance})",
            f"credentials_file {str(credentials_file)[:200]} is not a readable file",
        )
    try:
        token = Token(service_file=str(credentials_file), scopes=[SCOPE])
    except (ValueError, KeyError, OSError) as exc:
        raise ConfigError(
            f"providers.gcp_billing ({instance})",
            f"credentials_file is not a Google credentials JSON ({type(exc).__name__})",
        ) from None
    kind = f"{token.token_type.value.replace('_', ' ')} credentials"
    return TokenSource(token, instance, kind, _secrets_of(credentials_file))
