"""Azure OpenAI billed cost (``[[providers.azure_openai]]``), docs/providers/azure_openai.md.

Billed money comes from the Cost Management Query API (``ActualCost``, daily,
grouped by ``ResourceId`` and ``MeterName``, filtered to the services that bill
Azure OpenAI meters), one billed record per day, resource and meter, with the
model read from the meter name (:mod:`.meters`). Auth is an Entra ID token from
azure-identity's async credentials (:mod:`.credentials`).

Modules: :mod:`.config`, :mod:`.plan` (the query body), :mod:`.schema` (the
wire shape and the spec it mirrors), :mod:`.decode` (rows to records; pure),
:mod:`.meters` (the meter-name table), :mod:`.credentials`, :mod:`.client`
(ARM requests, throttling), :mod:`.provider` (the IO).
"""

from __future__ import annotations

from typing import Any

from costpipe.components import Provider
from costpipe.hookspecs import hookimpl
from costpipe.providers.azure_openai.config import AzureOpenAIConfig
from costpipe.providers.azure_openai.provider import AzureOpenAIProvider

__all__ = ["AzureOpenAIConfig", "AzureOpenAIProvider", "register_providers"]


@hookimpl
def register_providers() -> list[type[Provider[Any]]]:
    return [AzureOpenAIProvider]
