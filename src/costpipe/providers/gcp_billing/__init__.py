"""Google Vertex AI and Gemini API billed cost (``[[providers.gcp_billing]]``),
docs/providers/gcp_billing.md.

Billed money comes from the Cloud Billing export in BigQuery (standard or
detailed table), read with a parameterised ``jobs.query`` and
``jobs.getQueryResults`` paging, one billed record per hour, project, SKU,
labels and credit type, with the model and token category read from the SKU
description (:mod:`.skus`). Auth is an OAuth token from gcloud-aio-auth
(:mod:`.credentials`).

Modules: :mod:`.config`, :mod:`.plan` (the SQL and request), :mod:`.schema`
(the wire shape and the spec it mirrors), :mod:`.decode` (rows to records;
pure), :mod:`.skus` (the SKU table), :mod:`.credentials`, :mod:`.client`
(BigQuery requests, throttling, refusals), :mod:`.provider` (the IO).
"""

from __future__ import annotations

from typing import Any

from costpipe.components import Provider
from costpipe.hookspecs import hookimpl
from costpipe.providers.gcp_billing.config import GcpBillingConfig
from costpipe.providers.gcp_billing.provider import GcpBillingProvider

__all__ = ["GcpBillingConfig", "GcpBillingProvider", "register_providers"]


@hookimpl
def register_providers() -> list[type[Provider[Any]]]:
    return [GcpBillingProvider]
