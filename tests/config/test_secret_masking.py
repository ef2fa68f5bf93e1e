"""Secret masking masks secret values, never fragments of other text (issue 15.6).

``register_config_secrets`` used to split every secret on ``:``, so a webhook
URL with a port registered ``//127.0.0.1`` and every logged URL read
``http:***:33693/...``, hiding the host an operator needed to see.
"""

from __future__ import annotations

import pytest

from costpipe import logging as costpipe_logging
from costpipe.config.settings import parse_config
from costpipe.engine.runtime import register_config_secrets
from costpipe.logging import redact
from costpipe.plugins import build_plugin_manager

WEBHOOK = "http://127.0.0.1:33693/services/T000/B000/hook-token-5d1e8b"
INFLUX_PASSWORD = "influx-pass-2e9a"
API_KEY = "sk-admin-7c4e1f0a"


@pytest.fixture(autouse=True)
def fresh_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The set of registered secrets is process-wide: give this test its own."""
    monkeypatch.setattr(costpipe_logging, "_SECRETS", set())


@pytest.fixture
def registered() -> None:
    document = {
        "providers": {"openai": [{"api_key": API_KEY, "base_url": "http://127.0.0.1:8086/v1"}]},
        "sinks": {
            "influxdb": [
                {"url": "http://127.0.0.1:8086", "username": "u", "password": INFLUX_PASSWORD}
            ]
        },
        "notifiers": {"webhook": [{"url": WEBHOOK}]},
        "dashboard": {"basic_auth": "admin:dash-pass-81b3"},
    }
    settings = parse_config(document, build_plugin_manager(entry_points=False)[1], env={})
    register_config_secrets(settings)


@pytest.mark.usefixtures("registered")
def test_urls_that_are_not_secret_stay_readable() -> None:
    for text in (
        "http://127.0.0.1:8086",
        "POST http://127.0.0.1:33693/healthz failed",
        "https://api.openai.com:443/v1/organization/costs",
        "admin logged in",
    ):
        assert text == redact(text)


@pytest.mark.usefixtures("registered")
def test_secret_values_are_masked_whole() -> None:
    assert "delivery to *** failed" == redact(f"delivery to {WEBHOOK} failed")
    assert "key=*** password=***" == redact(f"key={API_KEY} password={INFLUX_PASSWORD}")
    assert "auth *** / ***" == redact("auth admin:dash-pass-81b3 / dash-pass-81b3")
