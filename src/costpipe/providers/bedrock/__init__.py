"""Amazon Bedrock spend of an AWS account (``[[providers.bedrock]]``).

Money comes from Cost Explorer ``GetCostAndUsage`` (``billed``: the bill,
daily or hourly, by usage type and linked account or a cost-allocation tag),
for Amazon Bedrock and the Marketplace-billed "(Amazon Bedrock Edition)"
models, read on its own interval because every request costs $0.01. Token
counts come from CloudWatch ``GetMetricData`` (``AWS/Bedrock`` by ``ModelId``,
hourly), priced with the price table (``estimated`` or ``unpriced``).

Modules, in the order the data travels: :mod:`.config`, :mod:`.plan` (the
requests of a window), :mod:`.client` (aiobotocore, errors, pages, request
count), :mod:`.schema` (msgspec types of botocore's output shapes),
:mod:`.usage_types` (usage type -> model and token category),
:mod:`.decode` (answers to records) and :mod:`.provider`. Needs the ``bedrock``
extra (``pip install 'costpipe[bedrock]'``). See ``docs/providers/bedrock.md``.
"""

from __future__ import annotations

from typing import Any

from costpipe.components import Provider
from costpipe.hookspecs import hookimpl
from costpipe.providers.bedrock.config import BedrockConfig
from costpipe.providers.bedrock.provider import BedrockProvider
from costpipe.providers.bedrock.usage_types import classify

__all__ = ["BedrockConfig", "BedrockProvider", "classify", "register_providers"]


@hookimpl
def register_providers() -> list[type[Provider[Any]]]:
    return [BedrockProvider]
