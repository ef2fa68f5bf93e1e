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

Walk guarantees:

* ``start_date``/``end_date`` are ``YYYY-MM-DD HH:MM:SS`` UTC and LiteLLM
  compares them inclusively at both ends, so rows starting exactly at the
  window's end are dropped here: consecutive windows never count a row twice.
* Pages are offsets into a list ordered ``startTime`` descending; requests
  logged during the walk push rows down into the next page. Rows are therefore
  de-duplicated by ``request_id``; rows inserted at the top during a walk are
  picked up by the next pass (windows are re-fetched over the lookback).
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
