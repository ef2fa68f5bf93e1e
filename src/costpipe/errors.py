"""costpipe's error types.

Components wrap library errors in one of these, so that the core can decide
what to do without knowing the library: retry later (:class:`TransientError`),
stop and ask a human (:class:`AuthError`), or set the input aside
(:class:`MalformedDataError`).
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "CostpipeError",
    "MalformedDataError",
    "PluginError",
    "SinkUnavailableError",
    "TransientError",
    "UndeliverableError",
]


class CostpipeError(Exception):
    """Base class of every error costpipe raises on purpose."""

    retryable: bool = False


class ConfigError(CostpipeError):
    """The configuration is wrong. ``path`` names the TOML location, e.g.
    ``providers.openai[0].bucket_width``."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class PluginError(CostpipeError):
    """A plugin could not be loaded or is inconsistent (names the plugin)."""


class TransientError(CostpipeError):
    """A failure that a later retry can fix (timeouts, 5xx, 429)."""

    retryable = True


class AuthError(CostpipeError):
    """A credential was refused (401/403). Never retried: a human must act."""


class MalformedDataError(CostpipeError):
    """A provider answered with something that cannot be parsed. The page is set
    aside; the rest of the run goes on."""


class SinkUnavailableError(TransientError):
    """A store cannot take data right now; the spool keeps it until it can."""


class UndeliverableError(CostpipeError):
    """This one notification can never be delivered by this notifier (its message
    cannot be built); later notifications can. The outbox records it as
    ``rejected`` and goes on with the next one instead of retrying it."""
