"""Keeping credentials out of everything costpipe prints, logs or serves.

Two rules, used by every component that shows a URL or a server's answer:

* a URL is shown without user info (``user:password@``) and without the values
  of credential-like query parameters (:func:`redact_url`);
* text that may echo a credential is masked *before* it is shortened
  (:func:`safe_excerpt`): cutting first could split a key so that the masking
  no longer recognises it and all but its last characters leak.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from yarl import URL

from costpipe.logging import redact

__all__ = ["mask_secrets", "redact_url", "safe_excerpt"]

_SECRET_PARAMS = frozenset(
    {"key", "api_key", "apikey", "token", "access_token", "password", "p", "u", "secret"}
)
# Provider key shapes (OpenAI sk-..., sk-proj-..., Anthropic sk-ant-admin01-...).
_KEY_LIKE = re.compile(r"\b(sk-[A-Za-z0-9_\-*.…]+)")


def redact_url(url: str | URL) -> str:
    """*url* without user info and without values of credential-like query keys.

    InfluxDB 1.x takes ``u`` and ``p`` query parameters; they are masked too.
    A string that is not a URL is returned with anything before an ``@`` in
    its authority removed, so a malformed ``http://user:pw@`` never leaks.
    """
    try:
        parsed = url if isinstance(url, URL) else URL(url)
    except (ValueError, TypeError):
        return re.sub(r"//[^/@]*@", "//", str(url))
    clean = parsed
    if parsed.user is not None or parsed.password is not None:
        clean = parsed.with_user(None)
    if any(key.lower() in _SECRET_PARAMS for key in clean.query):
        clean = clean.with_query(
            [(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in clean.query.items()]
        )
    return str(clean)


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """*text* with each of *secrets* and anything shaped like a provider key replaced."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return _KEY_LIKE.sub("sk-***", text)


def safe_excerpt(text: str | bytes, limit: int = 200, secrets: Iterable[str] = ()) -> str:
    """At most *limit* characters of *text*, with secrets masked first, then cut."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    masked = mask_secrets(text, secrets)
    # Registered secrets (every credential the config resolved) are masked too.
    masked = redact(masked)
    if len(masked) <= limit:
        return masked.strip()
    return masked[:limit].strip() + "…"
