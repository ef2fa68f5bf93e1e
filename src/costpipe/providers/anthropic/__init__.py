"""Anthropic Admin API usage and cost reports (``[[providers.anthropic]]``).

* Usage report ``/v1/organizations/usage_report/messages`` (``bucket_width``,
  hourly by default), grouped by model, workspace, API key and service tier,
  priced with the price table -> ``estimated`` (or ``unpriced``).
* Cost report ``/v1/organizations/cost_report`` (daily), grouped by workspace
  and description -> ``billed``. ``amount`` is a decimal *string in cents*:
  dollars are ``Decimal(amount) / 100``, exactly.

Modules, in the order the data travels: :mod:`.plan` (which requests a window
needs), :mod:`.schema` (msgspec Structs mirroring the Admin API reference,
cited there), :mod:`.decode` (one page's bytes to records and its cursor;
pure; the token mapping), :mod:`.provider` (config, headers, and the fetch
through the shared request-plan loop of :mod:`costpipe.providers.planning`).
A malformed page is set aside with the JSON path of the bad value and the next
piece of the window is fetched.
"""

from __future__ import annotations

from typing import Any

from costpipe.components import Provider
from costpipe.hookspecs import hookimpl
from costpipe.providers.anthropic.decode import COSTS, USAGE
from costpipe.providers.anthropic.provider import AnthropicConfig, AnthropicProvider

__all__ = [
    "COST_PATH",
    "USAGE_PATH",
    "AnthropicConfig",
    "AnthropicProvider",
    "register_providers",
]

COST_PATH = COSTS.path
USAGE_PATH = USAGE.path


@hookimpl
def register_providers() -> list[type[Provider[Any]]]:
    return [AnthropicProvider]
