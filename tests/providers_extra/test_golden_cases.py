"""Every golden page case of the LiteLLM and OpenRouter decoders (see golden.py)."""

from __future__ import annotations

import os

import pytest

from tests.providers_extra.golden import Case, cases, expected, run, write_expected

UPDATE = os.environ.get("COSTPIPE_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("case", cases(), ids=lambda case: case.id)
def test_golden_case(case: Case) -> None:
    got = run(case)
    if UPDATE:
        write_expected(case, got)
    assert got == expected(case)


def test_every_endpoint_has_cases_that_decode_and_cases_that_refuse() -> None:
    """A decoder pinned only by happy pages (or only by broken ones) pins little."""
    by_endpoint: dict[str, set[bool]] = {}
    for case in cases():
        refused = any("error" in line for line in expected(case))
        by_endpoint.setdefault(f"{case.provider}/{case.endpoint}", set()).add(refused)
    assert by_endpoint
    assert all(kinds == {True, False} for kinds in by_endpoint.values()), by_endpoint
