"""OpenRouter activity (``[[providers.openrouter]]``).

``GET /api/v1/activity`` reports, per completed UTC day, model and upstream
endpoint, the credits spent (``usage``, dollars) with request and token
counts; asked with ``group_by=workspace`` (as every request is), per
workspace too, which becomes the record's ``project_id``. It needs a *management* key; an inference key is refused with 403.
:mod:`.decode` gives the mapping to records (one daily ``billed`` record per
day, model and upstream provider; BYOK inference only with
``include_byok = true``, as a separate ``<provider>, byok`` record).

Only *completed* UTC days exist (the API never reports today) and only the
last 30 of them: a window reaching further back is fetched for the days the
API still has, with a warning. Remaining credit is read from
``/api/v1/credits`` by ``check_connection`` (``costpipe check --connect``
prints it) and after every fetch: it is logged as ``openrouter_credits`` with
``remaining_usd``, kept in :attr:`OpenRouterProvider.remaining_credit_usd`, and
a warning ``openrouter_credit_low`` is logged once when it falls under
``low_credit_usd``. A malformed ``/activity`` answer is set aside with the
JSON path of the bad field in the log.

Modules: :mod:`.plan` (the request), :mod:`.schema` (the wire Structs and the
specification each mirrors), :mod:`.decode` (bytes to rows to records; pure),
:mod:`.provider` (config and IO).
"""

from __future__ import annotations

from typing import Any

from costpipe.components import Provider
from costpipe.hookspecs import hookimpl
from costpipe.providers.openrouter.provider import OpenRouterConfig, OpenRouterProvider

__all__ = ["OpenRouterConfig", "OpenRouterProvider", "register_providers"]


@hookimpl
def register_providers() -> list[type[Provider[Any]]]:
    return [OpenRouterProvider]
