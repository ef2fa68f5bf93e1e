"""Options of ``[[sinks.influxdb]]`` (the pydantic model; no IO).

``url`` may carry ``user:password@``: the writer moves that user info into the
``Authorization`` header and never shows it (every URL it logs or reports
passes through :func:`costpipe.redaction.redact_url`).
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, SecretStr

from costpipe.components import ComponentConfig

__all__ = ["InfluxDBConfig"]


class InfluxDBConfig(ComponentConfig):
    """Options of ``[[sinks.influxdb]]``."""

    # The URL may hold a password: a failed validation must not echo it.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    url: str = Field(default="http://127.0.0.1:8086", description="Base URL of the server.")
    database: str = Field(default="costpipe", description="Database (bucket via DBRP on 2.x).")
    username: str | None = Field(default=None, description="User for basic auth.")
    password: SecretStr | None = Field(default=None, description="Password for basic auth.")
    token: SecretStr | None = Field(
        default=None, description="API token (InfluxDB 2.x/3.x v1 compatibility)."
    )
    retention_policy: str | None = Field(
        default=None, description="Retention policy to write to (default: the database's)."
    )
    verify_tls: bool = Field(default=True, description="Verify the server's TLS certificate.")
    batch_size: int = Field(default=5000, ge=1, le=100_000, description="Points per request.")
    create_database: bool = Field(
        default=True, description="Run CREATE DATABASE (idempotent) before the first write."
    )
    max_tries: int = Field(
        default=5, ge=1, le=20, description="Attempts per request on connection errors and 5xx."
    )
    retry_base_seconds: float = Field(
        default=0.5, gt=0, le=60, description="First backoff delay; doubles per attempt."
    )
    timeout_seconds: float = Field(default=30, gt=0, description="Timeout of one request.")
