"""``[[providers.ollama]]``: where the metering proxy listens, where Ollama is,
who the callers are, what local inference costs and how the journal is written."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from yarl import URL

from costpipe.components import ComponentConfig
from costpipe.config.durations import Duration

__all__ = ["OllamaConfig", "OllamaKey", "split_listen"]

_NAME = r"^[^\x00-\x1f\x7f]{1,128}$"


class OllamaKey(BaseModel):
    """One entry of ``[providers.ollama.keys]``: a bearer token and whose it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr = Field(description="The bearer token clients send (write `${ENV_VAR}`).")
    user: str = Field(pattern=_NAME, description="User the token's requests are metered to.")
    project: str = Field(default="", pattern=r"^[^\x00-\x1f\x7f]{0,128}$", description="Project.")


def split_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:11435"`` -> ``("127.0.0.1", 11435)``; ``"[::1]:80"`` too."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError("expected host:port, e.g. 127.0.0.1:11435")
    number = int(port)
    if not 0 <= number <= 65535:
        raise ValueError("port must be 0-65535")
    return host.strip("[]"), number


class OllamaConfig(ComponentConfig):
    """``[[providers.ollama]]``."""

    upstream: str = Field(
        default="http://127.0.0.1:11434", description="The Ollama server the proxy forwards to."
    )
    listen: str = Field(
        default="127.0.0.1:11435",
        description="host:port clients connect to instead of Ollama (loopback by default).",
    )
    keys: dict[str, OllamaKey] = Field(
        default_factory=dict,
        description='Bearer tokens by label: `alice = { token = "${OLLAMA_ALICE}", '
        'user = "alice", project = "research" }`. Only a hash of a token is stored.',
    )
    identity_header: str | None = Field(
        default=None,
        description="Request header naming the user, set by a gateway in front of the proxy "
        "(wins over a token's user; trust it only if the gateway strips it from clients).",
    )
    project_header: str | None = Field(
        default=None, description="Request header naming the project, set by that gateway."
    )
    unknown_callers: Literal["reject", "anonymous"] = Field(
        default="reject",
        description="A caller with no known token or identity header: refused with 401, "
        "or served and metered as user `anonymous`.",
    )
    gpu_hour_usd: Decimal | None = Field(
        default=None,
        ge=0,
        description="Internal rate of this Ollama server's GPU time, charged by each "
        "request's `total_duration` for models without a `[[prices]]` entry.",
    )
    max_request_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="Largest request body forwarded (413)."
    )
    max_metered_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=4096,
        description="Largest final object read for usage (a larger one is metered without "
        "token counts; it is still passed on whole).",
    )
    upstream_timeout: Duration = Field(
        default=timedelta(minutes=10),
        description="Longest silence from Ollama inside one request (model loads are slow).",
    )
    journal_batch_events: int = Field(
        default=64,
        ge=1,
        le=100_000,
        description="Usage events written and fsynced together; a `kill -9` loses at most "
        "one open batch.",
    )
    journal_flush_interval: Duration = Field(
        default=timedelta(seconds=1),
        description="A batch is written at the latest this long after its first event.",
    )

    @field_validator("upstream")
    @classmethod
    def _http_url(cls, value: str) -> str:
        url = URL(value)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("expected an http(s) URL, e.g. http://127.0.0.1:11434")
        return value.rstrip("/")

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        split_listen(value)
        return value

    @field_validator("identity_header", "project_header")
    @classmethod
    def _header_name(cls, value: str | None) -> str | None:
        if value is not None and not value.replace("-", "").replace("_", "").isalnum():
            raise ValueError("expected a header name such as X-Forwarded-User")
        return value

    @field_validator("journal_flush_interval")
    @classmethod
    def _interval(cls, value: timedelta) -> timedelta:
        if not timedelta(milliseconds=10) <= value <= timedelta(minutes=1):
            raise ValueError("expected 10ms to 1m")
        return value

    @model_validator(mode="after")
    def _distinct_tokens(self) -> OllamaConfig:
        tokens = [key.token.get_secret_value() for key in self.keys.values()]
        if len(set(tokens)) != len(tokens):
            raise ValueError("two entries of `keys` have the same token")
        if any(len(token) < 8 for token in tokens):
            raise ValueError("a token of `keys` is shorter than 8 characters")
        return self

    def listens_on_loopback(self) -> bool:
        host, _ = split_listen(self.listen)
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
