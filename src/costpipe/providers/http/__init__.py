"""The HTTP layer under every provider: client, retry timing, responses, paging bounds."""

from costpipe.providers.http.client import (
    DEFAULT_MAX_RESPONSE_BYTES,
    AuthHint,
    HttpClient,
    RequestStats,
    user_agent,
)
from costpipe.providers.http.paging import FetchBudget, PagingLimitError
from costpipe.providers.http.responses import EndpointError, Page, PageError, RawPage, read_body
from costpipe.providers.http.retry import Timer, next_wait, retry_after_seconds

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "AuthHint",
    "EndpointError",
    "FetchBudget",
    "HttpClient",
    "Page",
    "PageError",
    "PagingLimitError",
    "RawPage",
    "RequestStats",
    "Timer",
    "next_wait",
    "read_body",
    "retry_after_seconds",
    "user_agent",
]
