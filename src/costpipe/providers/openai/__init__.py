"""OpenAI organization Costs and Usage APIs (``[[providers.openai]]``).

Money comes from the Costs API (``billed``: what the invoice says, daily, per
project, line item and API key). Tokens, requests and users come from the
Usage API (completions and embeddings), priced with the price table
(``estimated``, or ``unpriced`` for a model without a price). The two are
different bases and are never summed together; OpenAI itself says they need
not reconcile exactly.

Modules, in the order the data travels: :mod:`.plan` (which requests a window
needs), :mod:`.schema` (msgspec Structs mirroring the OpenAPI spec's schemas,
with the spec file cited), :mod:`.decode` (one page's bytes to records and its
cursor; pure), :mod:`.provider` (config, and the fetch through the shared
request-plan loop of :mod:`costpipe.providers.planning`). A malformed page is
set aside with the JSON path of the bad value and the next piece is fetched.
"""

from __future__ import annotations

from typing import Any

from costpipe.components import Provider
from costpipe.hookspecs import hookimpl
from costpipe.providers.openai.decode import model_from_line_item
from costpipe.providers.openai.provider import OpenAIConfig, OpenAIProvider

__all__ = ["OpenAIConfig", "OpenAIProvider", "model_from_line_item", "register_providers"]


@hookimpl
def register_providers() -> list[type[Provider[Any]]]:
    return [OpenAIProvider]
