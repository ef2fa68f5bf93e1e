"""structlog set-up: JSON lines off a terminal, readable console output on one.

Secrets never reach a log line: every secret the config resolves is
registered with :func:`register_secret`, and a processor replaces each
occurrence in any rendered value with ``***``. This is a last line of
defence; components also avoid logging secrets in the first place.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

__all__ = ["configure_logging", "redact", "register_secret"]

_SECRETS: set[str] = set()
#: Shorter values would redact ordinary words; a real key is far longer.
_MIN_SECRET_LENGTH = 6


def register_secret(value: str | None) -> None:
    """Remember *value* so that it is masked in every later log line."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        _SECRETS.add(value)


def redact(text: str) -> str:
    """*text* with every registered secret replaced by ``***``."""
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact_value(v) for v in value)
    if isinstance(value, BaseException):
        return redact(repr(value))
    return value


def _redact_processor(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    if not _SECRETS:
        return event_dict
    for key, value in list(event_dict.items()):
        event_dict[key] = _redact_value(value)
    return event_dict


def _redact_rendered(_logger: Any, _name: str, rendered: Any) -> Any:
    # Tracebacks are rendered late (format_exc_info); mask the final string too.
    if isinstance(rendered, str) and _SECRETS:
        return redact(rendered)
    return rendered


def configure_logging(
    level: str = "info", *, json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Configure structlog for the CLI. ``json=None`` picks JSON when *stream*
    is not a terminal."""
    stream = stream or sys.stderr
    if json is None:
        json = not stream.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info
            if json
            else structlog.processors.StackInfoRenderer(),
            _redact_processor,
            renderer,
            _redact_rendered,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
