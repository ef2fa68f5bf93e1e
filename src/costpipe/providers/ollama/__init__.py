"""Local models served by Ollama (``[[providers.ollama]]``), metered by a proxy.

Ollama has no billing or usage API: it reports token counts and durations in
each answer and forgets them. costpipe puts a metering proxy in front of it
(clients connect to ``listen`` instead of Ollama), writes one usage event per
request to a journal in ``state_dir``, and the provider's ``fetch`` reads the
journal back as hourly records, like any other provider's usage API.

Modules, in the order the data travels: :mod:`.config`, :mod:`.identity` (who
called: a bearer token, a gateway's header, or nobody known),
:mod:`.proxy` (forwarding, streaming), :mod:`.usage` (the counts in Ollama's
final objects), :mod:`.journal` (durable events, compaction),
:mod:`.aggregate` (hourly records and their price) and :mod:`.provider`.
See ``docs/providers/ollama.md``.
"""

from __future__ import annotations

from typing import Any

from costpipe.components import Provider
from costpipe.hookspecs import hookimpl
from costpipe.providers.ollama.config import OllamaConfig, OllamaKey
from costpipe.providers.ollama.journal import Journal, UsageEvent
from costpipe.providers.ollama.provider import OllamaProvider
from costpipe.providers.ollama.proxy import MeteringProxy

__all__ = [
    "Journal",
    "MeteringProxy",
    "OllamaConfig",
    "OllamaKey",
    "OllamaProvider",
    "UsageEvent",
    "register_providers",
]


@hookimpl
def register_providers() -> list[type[Provider[Any]]]:
    return [OllamaProvider]
