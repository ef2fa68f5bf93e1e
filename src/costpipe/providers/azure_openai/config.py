"""``[[providers.azure_openai]]``: the scope to read, how to sign in, the bounds."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from costpipe.components import ComponentConfig
from costpipe.config.durations import Duration
from costpipe.providers.http.client import DEFAULT_MAX_RESPONSE_BYTES

__all__ = ["AzureOpenAIConfig"]


class AzureOpenAIConfig(ComponentConfig):
    """``[[providers.azure_openai]]``."""

    scope: str = Field(
        description="Cost Management scope, e.g. `/subscriptions/<id>` or "
        "`/subscriptions/<id>/resourceGroups/<group>`."
    )
    auth: Literal["client_secret", "workload_identity", "managed_identity"] = Field(
        default="managed_identity",
        description="How to get an Entra ID token (azure-identity's async credentials).",
    )
    tenant_id: str | None = Field(default=None, description="Entra tenant (client_secret).")
    client_id: str | None = Field(
        default=None,
        description="App (client) ID; for managed_identity a user-assigned identity's "
        "client ID (default: the system-assigned one).",
    )
    client_secret: SecretStr | None = Field(
        default=None, description="Client secret (client_secret; write `${ENV_VAR}`)."
    )
    federated_token_file: str | None = Field(
        default=None,
        description="workload_identity: the projected service-account token "
        "(default: $AZURE_FEDERATED_TOKEN_FILE, set by the AKS webhook).",
    )
    authority: str = Field(
        default="https://login.microsoftonline.com",
        description="Entra authority host (another cloud, or a test server).",
    )
    management_url: str = Field(
        default="https://management.azure.com",
        description="Azure Resource Manager endpoint; nextLink pages are only followed "
        "on this host.",
    )
    ca_file: str | None = Field(
        default=None,
        description="PEM bundle of extra CA certificates trusted for `authority` and "
        "`management_url` (a TLS-inspecting proxy, a private cloud); default: the system's.",
    )
    api_version: str = Field(default="2023-11-01", description="Cost Management API version.")
    service_names: list[str] = Field(
        default=["Cognitive Services", "Azure OpenAI", "Foundry Models"],
        min_length=1,
        description="`ServiceName` values whose cost is read (Azure OpenAI meters are "
        "billed under these).",
    )
    resources: list[str] = Field(
        default=[],
        max_length=200,
        description="Azure OpenAI resource IDs (`/subscriptions/<id>/resourceGroups/<group>/"
        "providers/Microsoft.CognitiveServices/accounts/<name>`) whose Azure Monitor token "
        "metrics are read hourly as usage (needs Monitoring Reader); empty: billed cost only.",
    )
    monitor_api_version: str = Field(
        default="2023-10-01", description="Azure Monitor metrics API version."
    )
    timeout: Duration = Field(
        default=timedelta(seconds=60), description="Time limit of one request attempt."
    )
    max_retries: int = Field(
        default=6, ge=0, le=20, description="Retries of a 429, 5xx, timeout or connection error."
    )
    retry_backoff: Duration = Field(
        default=timedelta(seconds=2), description="First wait between retries; doubles each time."
    )
    retry_wait_max: Duration = Field(
        default=timedelta(seconds=120),
        description="Longest wait between retries, also for the ratelimit headers.",
    )
    max_response_bytes: int = Field(
        default=DEFAULT_MAX_RESPONSE_BYTES, ge=1024, description="Largest response body."
    )
    max_pages: int = Field(
        default=1000, ge=1, description="Most nextLink pages of one fetch; past it the pass fails."
    )
    max_fetch_duration: Duration = Field(
        default=timedelta(hours=1),
        description="Longest time one fetch may take (throttling waits included); past it "
        "the pass fails.",
    )
    organization: str | None = Field(
        default=None, description="Label stored as `account` (default: the instance name)."
    )

    @field_validator("scope")
    @classmethod
    def _scope_is_a_path(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith("/") or "?" in value or "#" in value or ".." in value:
            raise ValueError("must be an ARM scope path such as /subscriptions/<id>")
        return value

    @field_validator("resources")
    @classmethod
    def _resources_are_paths(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item.startswith("/subscriptions/") or "?" in item or ".." in item:
                raise ValueError(f"{item[:80]!r} is not an ARM resource ID")
        return [item.rstrip("/") for item in value]

    @model_validator(mode="after")
    def _client_secret_complete(self) -> AzureOpenAIConfig:
        if self.auth == "client_secret":
            secret = self.client_secret.get_secret_value() if self.client_secret else ""
            if not (self.tenant_id and self.client_id and secret.strip()):
                raise ValueError(
                    "auth = client_secret needs tenant_id, client_id and client_secret"
                )
        return self
