"""LiteLLM proxy spend logs (``[[providers.litellm]]``).

``GET /spend/logs/v2`` lists one row per request the proxy handled, newest
first, with the dollars the proxy charged it (``spend``). costpipe walks the
rows of each complete UTC hour range and aggregates them into **hourly**
records per (user, team, virtual key, model, upstream provider):

=====================  ==========================================================
record field           LiteLLM field
=====================  ==========================================================
``user_id``            ``user`` (the internal user owning the key)
``project_id``         ``team_id`` (LiteLLM teams are the proxy's projects)
``api_key_id``         ``api_key`` (sha256 of the virtual key, never the key)
``model``              ``model`` (sent upstream), else ``model_group``
``line_item``          ``custom_llm_provider`` (``openai``, ``azure``...)
``cost_usd``           sum of ``spend`` (Decimal from the JSON text), ``billed``
``uncached_input_...`` sum of ``prompt_tokens`` (cache splits are not reliable)
``output_tokens``      sum of ``completion_tokens``
``requests``           number of rows (failed requests included)
=====================  ==========================================================

Walk guarantees (the proxy's paging, with its source lines, is in :mod:`.plan`):

* ``start_date``/``end_date`` are ``YYYY-MM-DD HH:MM:SS`` UTC and LiteLLM
  compares them inclusively at both ends, so rows starting exactly at a
  slice's end are left to the next slice: consecutive windows and slices
  never count a row twice.
* The proxy counts at most 10,000 rows (``total_is_capped``) and orders rows
  only by ``startTime`` under OFFSET paging, so neither ``total_pages`` nor
  OFFSET can be trusted. Each piece is cut into time slices until every
  slice comes back in one answer (fewer rows than ``page_size``, at most
  1000): one SQL statement, exact whatever the order of ties. Rows logged
  into a slice after it was read are picked up by the next pass (windows are
  re-fetched over the lookback). One second holding more rows than the
  largest page is paged with OFFSET and verified against the proxy's count;
  if it cannot be, its piece is set aside, never recorded short.
* Windows are walked in pieces of ``chunk_hours`` and each piece yields its
  aggregated records once complete, so a record is never split across batches.
  A malformed page sets its whole piece aside (its hours would be incomplete),
  with the JSON path of the bad field in the log.

Modules: :mod:`.plan` (the requests), :mod:`.schema` (the wire Structs and
the source each mirrors), :mod:`.decode` (bytes to rows, rows to hourly
records; pure), :mod:`.provider` (config and the walk).
"""

from __future__ import annotations

from typing import Any

from costpipe.components import Provider
from costpipe.hookspecs import hookimpl
from costpipe.providers.litellm.provider import LiteLLMConfig, LiteLLMProvider

__all__ = ["LiteLLMConfig", "LiteLLMProvider", "register_providers"]


@hookimpl
def register_providers() -> list[type[Provider[Any]]]:
    return [LiteLLMProvider]
