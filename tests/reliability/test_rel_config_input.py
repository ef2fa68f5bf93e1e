"""Hostile configuration: ``parse_config`` with random TOML-shaped documents
(hypothesis) returns Settings or raises ConfigError naming a TOML path, never
anything else; ``costpipe check`` with malformed files always exits 2 with one
line naming the path, never a traceback.

The fuzz runs the hypothesis profile the root conftest loads: derandomized
(the same examples every run) when ``CI`` is set, random otherwise, and
``HYPOTHESIS_PROFILE=thorough`` for a long random run. Documents that once
crashed the loader are kept as explicit examples, so CI checks them on every
run whatever the profile draws."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from costpipe.config.settings import parse_config
from costpipe.errors import ConfigError
from costpipe.plugins import KINDS, build_plugin_manager

_, REGISTRY = build_plugin_manager([])

#: Every key a real config uses, so that documents reach deep into validation.
KEYS = sorted(
    {
        "pipeline", "budgets", "alerts", "health", "dashboard", "prices", *KINDS,
        "interval", "lookback", "timezone", "state_dir", "chunk", "plugin_dirs",
        "max_concurrent_requests", "spool_max_bytes", "shutdown_timeout",
        "name", "amount_usd", "period", "week_start", "filters", "group_by", "thresholds",
        "cost_basis", "notify", "repeat_interval", "provider", "model", "input", "output",
        "effective_from", "port", "address", "basic_auth", "store", "url", "api_key",
        "base_url", "verify_tls", "timeout", "max_retries", "bucket_width", "path",
        "database", "password", "token", "host", "to", "from_addr", "format", "headers",
        "openai", "anthropic", "openrouter", "litellm", "sqlite", "influxdb", "webhook",
        "email", "teams", "unpriced_notify", "stale_after", "max_attempts", "enabled",
    }
)  # fmt: skip

SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "",
            "15m",
            "0s",
            "-1d",
            "99999999999d",
            "1h",
            "${UNSET_VARIABLE}",
            "${HOME}",
            "$${literal",
            "${",
            "Europe/Nowhere",
            "../../etc/passwd",
            "http://127.0.0.1:1",
            "user:pass",
            "month",
            "\x00",
            "'; DROP TABLE costs; --",
            "\u202e",
        ]
    ),
    st.text(max_size=12),
    st.dates().map(lambda d: d),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.times(),
)

KEY = st.one_of(st.sampled_from(KEYS), st.text(max_size=8))

VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(KEY, inner, max_size=5),
    ),
    max_leaves=25,
)

DOCUMENTS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6)


def component_tables() -> st.SearchStrategy[dict[str, Any]]:
    """A document with well-formed [[kind.name]] arrays of hostile tables."""
    kinds = st.sampled_from(sorted(KINDS))
    names = st.sampled_from(["openai", "anthropic", "sqlite", "influxdb", "webhook", "email"])
    tables = st.lists(st.dictionaries(KEY, VALUES, max_size=6), min_size=1, max_size=2)
    return st.dictionaries(kinds, st.dictionaries(names, tables, max_size=2), max_size=2)


@settings(
    # Six times the profile's count: 600 examples in CI, many more when thorough.
    max_examples=6 * settings.default.max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.one_of(DOCUMENTS, component_tables()))
# Once crashed with TypeError / OverflowError inside parse_duration (issue 15.3).
@example({"pipeline": {"interval": []}})
@example({"providers": {"openai": [{"timeout": []}]}})
@example({"notifiers": {"webhook": [{"timeout": {"s": 1}}]}})
@example({"pipeline": {"chunk": "99999999999d"}})
@example({"alerts": {"stale_after": float("inf")}})
@example({"budgets": [{"repeat_interval": -(2**70)}]})
def test_hostile_documents_give_settings_or_config_error(document: dict[str, Any]) -> None:
    message = "accepted"
    try:
        parse_config(document, REGISTRY, env={"HOME": "/home/x"})
    except ConfigError as exc:
        message = str(exc)
    assert message.strip(), "an error says something"


MALFORMED = {
    "not TOML": "[pipeline\ninterval = ",
    "duplicate table": "[pipeline]\n[pipeline]\n",
    "binary": "\x00\x01\x02",
    "not UTF-8": None,  # written as bytes below
    "unknown top-level": "[pipelines]\ninterval = '1m'\n",
    "bad duration": "[pipeline]\ninterval = 'soon'\n",
    "duration as a list": "[[providers.openai]]\napi_key = 'sk-x1y2z3'\ntimeout = []\n",
    "duration without unit": "[pipeline]\ninterval = 15\n",
    "misspelled key": "[pipeline]\nlookbak = '48h'\n",
    "table not array": "[providers.openai]\napi_key = 'x'\n",
    "unknown plugin": "[[providers.nope]]\napi_key = 'x'\n",
    "unset variable": "[[providers.openai]]\napi_key = '${COSTPIPE_REL_UNSET}'\n",
    "empty key": "[[providers.openai]]\napi_key = ''\n",
    "wrong type": "[health]\nport = 'eighty'\n",
    "port range": "[health]\nport = 70000\n",
    "budgets as table": "[budgets]\nname = 'x'\n",
    "huge integer": "[pipeline]\nmax_concurrent_requests = 99999999999999999999\n",
    "deep nesting": "x = " + "[" * 5000 + "]" * 5000 + "\n",
    "bad notify": "[[budgets]]\nname = 'b'\namount_usd = 5\nnotify = ['ghost']\n",
    "bad timezone": "[pipeline]\ntimezone = 'Mars/Olympus'\n",
}


#: The TOML location each validation error must name.
NAMED = {
    "unknown top-level": "pipelines",
    "bad duration": "pipeline.interval",
    "duration as a list": "providers.openai[0].timeout: expected a duration",
    "duration without unit": 'pipeline.interval: a duration needs a unit: write "15s"',
    "misspelled key": "pipeline.lookbak: unknown key, did you mean `lookback`?",
    "table not array": "providers.openai",
    "unknown plugin": "providers.nope",
    "unset variable": "providers.openai[0].api_key",
    "empty key": "providers.openai[0].api_key",
    "wrong type": "health.port",
    "port range": "health.port",
    "budgets as table": "budgets",
    "huge integer": "pipeline.max_concurrent_requests",
    "bad notify": "budgets[0].notify",
    "bad timezone": "pipeline.timezone",
    "not TOML": "line 1, column 10",
    "deep nesting": "nested too deeply",
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_cli_rejects_malformed_files_with_exit_2(case: str, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    text = MALFORMED[case]
    if text is None:
        config.write_bytes(b"[pipeline]\ntimezone = '\xff\xfe'\n")
    else:
        config.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "costpipe", "--config", str(config), "check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, (case, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("costpipe: error: "), lines
    assert NAMED.get(case, "") in lines[0]
