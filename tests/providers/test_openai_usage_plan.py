"""Which usage endpoints the OpenAI provider asks for, with which buckets, and
the `usage_endpoints` choice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from costpipe.providers.openai import OpenAIConfig
from costpipe.providers.openai.plan import USAGE_PAGE_LIMITS, plan
from costpipe.providers.openai.provider import USAGE_ENDPOINTS
from costpipe.records import Window

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
#: The usage paths of the spec (openai-openapi openapi.yaml, /organization/usage/*).
SPEC_PATHS = {
    f"/organization/usage/{name}"
    for name in (
        "audio_speeches",
        "audio_transcriptions",
        "code_interpreter_sessions",
        "completions",
        "embeddings",
        "file_search_calls",
        "images",
        "moderations",
        "vector_stores",
        "web_search_calls",
    )
}


def _param(params: list[tuple[str, str]], name: str) -> str:
    [value] = [v for k, v in params if k == name]
    return value


@pytest.mark.parametrize("width", ["1m", "1h", "1d"])
def test_every_usage_endpoint_of_the_spec_is_requested_within_its_page_limits(width: str) -> None:
    window = Window(NOW - timedelta(days=40), NOW)
    requests = plan(window, NOW, bucket_width=width, project_ids=[], cost_group_by_api_key=True)
    usage = [r for r in requests if r.endpoint.path.startswith("/organization/usage/")]
    assert SPEC_PATHS == {r.endpoint.path for r in usage}
    for request in usage:
        sent = _param(request.params, "bucket_width")
        daily = request.endpoint.path.endswith("/vector_stores")
        assert ("1d" if daily else width) == sent
        assert 1 <= int(_param(request.params, "limit")) <= USAGE_PAGE_LIMITS[sent]


def test_vector_stores_are_read_in_whole_days_only() -> None:
    """A gauge stored as byte-days: hourly config, daily requests, complete days."""
    window = Window(datetime(2026, 11, 10, 6, tzinfo=UTC), datetime(2026, 11, 13, 6, tzinfo=UTC))
    requests = plan(window, NOW, bucket_width="1h", project_ids=[], cost_group_by_api_key=True)
    [vector] = [r for r in requests if r.endpoint.path.endswith("/vector_stores")]
    assert Window(datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 13, tzinfo=UTC)) == (
        vector.span
    )
    assert [("group_by", "project_id")] == [p for p in vector.params if p[0] == "group_by"]


def test_group_by_values_are_the_spec_enums_a_record_keeps() -> None:
    requests = plan(
        Window(NOW - timedelta(days=1), NOW),
        NOW,
        bucket_width="1h",
        project_ids=["proj_a"],
        cost_group_by_api_key=True,
    )
    groups = {
        r.endpoint.path.rsplit("/", 1)[1]: {v for k, v in r.params if k == "group_by"}
        for r in requests
    }
    assert {"model", "project_id", "user_id", "api_key_id", "size", "source"} == groups["images"]
    assert {"model", "project_id", "user_id", "api_key_id", "context_level"} == groups[
        "web_search_calls"
    ]
    assert {"project_id", "user_id", "api_key_id"} == groups["file_search_calls"]
    assert {"project_id"} == groups["code_interpreter_sessions"]
    assert all(("project_ids", "proj_a") in r.params for r in requests)


def test_usage_endpoints_chooses_which_are_read() -> None:
    config = OpenAIConfig(api_key="sk-admin-x")
    assert list(USAGE_ENDPOINTS) == config.usage_endpoints  # default: all ten
    requests = plan(
        Window(NOW - timedelta(days=1), NOW),
        NOW,
        bucket_width="1h",
        project_ids=[],
        cost_group_by_api_key=True,
        usage_endpoints=frozenset({"images", "vector_stores"}),
    )
    assert {
        "/organization/costs",
        "/organization/usage/images",
        "/organization/usage/vector_stores",
    } == {r.endpoint.path for r in requests}


def test_an_unknown_usage_endpoint_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="usage_endpoints"):
        OpenAIConfig(api_key="sk-admin-x", usage_endpoints=["images", "videos"])
