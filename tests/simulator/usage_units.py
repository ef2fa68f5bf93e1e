"""Sums of what OpenAI's usage endpoints serve, per record counter, written from
the OpenAPI spec's ``Usage*Result`` schemas (not from the simulator's code).

The mapping is costpipe's record model (``costpipe.records``): text categories
exclude the audio and image splits; web search's ``num_model_requests`` is not
counted (completions count those requests); vector stores are left out (a gauge,
checked in daily buckets by ``test_usage_units.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import aiohttp

from tests.simulator.client import Params, all_pages, rows

Group = Callable[[dict[str, Any]], str]

#: Result field -> record counter, per endpoint.
FIELDS: dict[str, dict[str, str]] = {
    "completions": {
        "input_text_tokens": "uncached_input",
        "input_cached_text_tokens": "cached_input",
        "input_cache_write_tokens": "cache_write",
        "output_text_tokens": "output",
        "num_model_requests": "requests",
        "input_audio_tokens": "uncached_audio_input_tokens",
        "input_cached_audio_tokens": "cached_audio_input_tokens",
        "output_audio_tokens": "audio_output_tokens",
        "input_image_tokens": "uncached_image_input_tokens",
        "input_cached_image_tokens": "cached_image_input_tokens",
        "output_image_tokens": "image_output_tokens",
    },
    "embeddings": {"input_tokens": "uncached_input", "num_model_requests": "requests"},
    "moderations": {"input_tokens": "uncached_input", "num_model_requests": "requests"},
    "images": {"images": "images", "num_model_requests": "requests"},
    "audio_speeches": {"characters": "speech_characters", "num_model_requests": "requests"},
    "audio_transcriptions": {"seconds": "transcription_seconds", "num_model_requests": "requests"},
    "code_interpreter_sessions": {"num_sessions": "code_interpreter_sessions"},
    "file_search_calls": {"num_requests": "file_search_calls"},
    "web_search_calls": {"num_requests": "web_search_calls"},
}
#: What each endpoint can be grouped by (the spec's ``group_by`` enums).
GROUPABLE: dict[str, tuple[str, ...]] = {
    "completions": ("project_id", "user_id", "api_key_id", "model"),
    "embeddings": ("project_id", "user_id", "api_key_id", "model"),
    "moderations": ("project_id", "user_id", "api_key_id", "model"),
    "images": ("project_id", "user_id", "api_key_id", "model"),
    "audio_speeches": ("project_id", "user_id", "api_key_id", "model"),
    "audio_transcriptions": ("project_id", "user_id", "api_key_id", "model"),
    "code_interpreter_sessions": ("project_id",),
    "file_search_calls": ("project_id", "user_id", "api_key_id"),
    "web_search_calls": ("project_id", "user_id", "api_key_id", "model"),
}


async def served_counters(
    session: aiohttp.ClientSession,
    base_url: str,
    params: Params,
    headers: dict[str, str],
    by: str | None = None,
) -> dict[str, dict[str, int]]:
    """Counter sums per value of *by* (``""`` for null or not groupable), or
    under ``total`` when *by* is None."""
    served: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for endpoint, fields in FIELDS.items():
        grouped = by is not None and by in GROUPABLE[endpoint]
        query = [*params, *([("group_by", by)] if grouped else [])]
        url = f"{base_url}/organization/usage/{endpoint}"
        for row in rows(await all_pages(session, url, query, headers)):
            key = "total" if by is None else (row.get(by) or "" if grouped else "")
            for field, counter in fields.items():
                served[key][counter] += row[field]
    return {key: dict(counters) for key, counters in served.items()}
