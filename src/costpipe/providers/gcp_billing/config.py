"""``[[providers.gcp_billing]]``: the export table, how to sign in, the bounds."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator

from costpipe.components import ComponentConfig
from costpipe.config.durations import Duration
from costpipe.providers.http.client import DEFAULT_MAX_RESPONSE_BYTES

__all__ = ["TABLE_PATTERN", "GcpBillingConfig"]

#: ``project.dataset.table``: the table name is put into the SQL text (BigQuery
#: takes no table as a query parameter), so only these characters are allowed.
TABLE_PATTERN = re.compile(
    r"^[a-z][a-z0-9:.\-]{4,90}\.[A-Za-z0-9_]{1,1024}\.[A-Za-z0-9_\-]{1,1024}$"
)
_LABEL_KEY = re.compile(r"^[a-z][a-z0-9_\-]{0,62}$")


class GcpBillingConfig(ComponentConfig):
    """``[[providers.gcp_billing]]``."""

    table: str = Field(
        description="The Cloud Billing export table, `project.dataset.gcp_billing_export_v1_<ID>` "
        "(standard) or `...gcp_billing_export_resource_v1_<ID>` (detailed)."
    )
    job_project: str | None = Field(
        default=None,
        description="Project that runs (and pays for) the query jobs; default: the table's project.",
    )
    location: str | None = Field(
        default=None, description="Dataset location (`US`, `EU`, `europe-west1`, ...); optional."
    )
    credentials_file: Path | None = Field(
        default=None,
        description="A service-account key or workload identity federation (`external_account`) "
        "JSON file; none: the metadata server (GKE Workload Identity, Compute Engine, Cloud Run).",
    )
    services: list[str] = Field(
        default=["Vertex AI", "Gemini API"],
        min_length=1,
        max_length=20,
        description="`service.description` values whose cost is read.",
    )
    label_keys: list[str] = Field(
        default=[],
        max_length=20,
        description="Resource labels kept as record tags (e.g. `team`); other labels are ignored.",
    )
    api_root: str = Field(
        default="https://bigquery.googleapis.com/bigquery/v2",
        description="BigQuery REST root (a test server); getQueryResults is only asked here.",
    )
    page_rows: int = Field(
        default=5000, ge=1, le=100_000, description="`maxResults` of one result page."
    )
    timeout: Duration = Field(
        default=timedelta(seconds=60), description="Time limit of one request attempt."
    )
    max_retries: int = Field(
        default=6, ge=0, le=20, description="Retries of a 429, rateLimitExceeded, 5xx or timeout."
    )
    retry_backoff: Duration = Field(
        default=timedelta(seconds=2), description="First wait between retries; doubles each time."
    )
    retry_wait_max: Duration = Field(
        default=timedelta(seconds=120), description="Longest wait between retries."
    )
    max_polls: int = Field(
        default=120, ge=1, le=10_000, description="Most `jobComplete: false` answers of one query."
    )
    max_response_bytes: int = Field(
        default=DEFAULT_MAX_RESPONSE_BYTES, ge=1024, description="Largest response body."
    )
    max_pages: int = Field(
        default=1000, ge=1, description="Most result pages of one fetch; past it the pass fails."
    )
    organization: str | None = Field(
        default=None, description="Label stored as `account` (default: the instance name)."
    )

    @field_validator("table")
    @classmethod
    def _table_is_a_name(cls, value: str) -> str:
        value = value.strip().strip("`")
        if not TABLE_PATTERN.match(value):
            raise ValueError("must be `project.dataset.table` (letters, digits, _ and -)")
        return value

    @field_validator("label_keys")
    @classmethod
    def _label_keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if not _LABEL_KEY.match(key):
                raise ValueError(f"{key[:70]!r} is not a Google Cloud label key")
        return sorted(set(value))

    @property
    def billing_project(self) -> str:
        """The project whose jobs.query runs the query."""
        return self.job_project or self.table.split(".", 1)[0]
