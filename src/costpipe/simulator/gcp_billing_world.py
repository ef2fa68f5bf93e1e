"""The seeded billing account behind the BigQuery billing-export fake.

One Cloud Billing account exported to ``<project>.billing_export.
gcp_billing_export_v1_<ID>``; three projects (one the Gemini API's own
``gen-lang-client-...`` project) with labels, and SKUs of Vertex AI and the
Gemini API with Google's inconsistent descriptions (plus SKUs no table reads,
and a ``Cloud Storage`` SKU a correct ``service.description`` filter leaves out).

Export lines: each (hour, project, SKU) cell that was used has a first line
exported 1 to 19 hours after the hour ends and, for one cell in four, a
correction line exported 1 to 3 days later (late data). A line counts only once
``export_time <= now``. Some first lines carry credits (``FREE_TIER``,
``PROMOTION``). **Late revisions**: :meth:`revise` changes the correction lines
of the last :data:`REVISED_HOURS` hours. Amounts have at most 9 decimals, so a
``NUMERIC`` sum is exact; :meth:`truth` sums exactly what is served.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from costpipe.simulator.seeded import SeededHash

__all__ = ["HOUR", "PROJECTS", "REVISED_HOURS", "SKUS", "ExportLine", "GcpWorld", "Sku"]

HOUR = timedelta(hours=1)
REVISED_HOURS = 72
_NANO = Decimal("1e-9")
_MICRO = Decimal("1e-6")


@dataclass(frozen=True, slots=True)
class Sku:
    id: str
    description: str
    service: str
    unit: str = "count"


@dataclass(frozen=True, slots=True)
class ExportLine:
    hour: datetime
    project: str
    sku: Sku
    labels: tuple[tuple[str, str], ...]
    cost: Decimal
    usage: Decimal
    credits: tuple[tuple[str, Decimal], ...]
    export_time: datetime


SKUS: tuple[Sku, ...] = (
    Sku("9D8C-1A2B-0001", "Gemini 2.5 Pro Input Text Tokens (<= 200K)", "Vertex AI"),
    Sku("9D8C-1A2B-0002", "Gemini 2.5 Pro Thinking Output Text Tokens", "Vertex AI"),
    Sku("9D8C-1A2B-0003", "Gemini 2.0 Flash-Lite Cached Input Text Tokens", "Vertex AI"),
    Sku(
        "9D8C-1A2B-0004",
        "Generate content input token count Gemini 2.0 Flash short input text",
        "Vertex AI",
    ),
    Sku("9D8C-1A2B-0005", "Gemini 1.5 Flash Text Output - Predictions", "Vertex AI"),
    Sku(
        "9D8C-1A2B-0006",
        "Online Prediction n1-standard-4 Running in Americas",
        "Vertex AI",
        "seconds",
    ),
    Sku("AB12-CD34-0101", "Gemini 2.5 Flash Lite Input audio tokens (Paid Tier)", "Gemini API"),
    Sku("AB12-CD34-0102", "Gemini 2.5 Flash Image Output Tokens", "Gemini API"),
    Sku("AB12-CD34-0103", "Grounding with Google Search requests", "Gemini API", "requests"),
    Sku("AB12-CD34-0104", 'Gemini 3 "Preview" Output <script>x</script> Tokens ✨', "Gemini API"),
    Sku("5F6E-0000-AAAA", "Standard Storage US Multi-region", "Cloud Storage", "byte-seconds"),
)

#: (project id, labels): the Gemini API bills under its own generated project.
PROJECTS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("ml-prod-4471", (("env", "prod"), ("team", "search"))),
    ("research-sandbox-2", (("team", 'r&d / "lab"'),)),
    ("gen-lang-client-0123456789", ()),
)


@lru_cache(maxsize=1)
def _rsa_key() -> Any:
    """One RSA key per process: generating a 2048-bit key takes a noticeable
    fraction of a second, and which key signs does not matter to the fake."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class GcpWorld:
    """Deterministic hourly export lines of one billing account."""

    def __init__(self, seed: int) -> None:
        self._hash = SeededHash(seed)
        account = "-".join(self._hash.token(6, "gcp", "account", i).upper() for i in range(3))
        self.billing_account = account
        self.project = "billing-admin-" + self._hash.token(4, "gcp", "project").lower()
        #: Workload identity federation: the pool provider's audience, the subject
        #: token a pod holds (a projected OIDC token) and the principal it maps to.
        self.wif_audience = (
            "//iam.googleapis.com/projects/123456789/locations/global/"
            "workloadIdentityPools/costpipe-pool/providers/k8s"
        )
        self.federated_subject = "eyJhbGciOiJSUzI1NiJ9." + self._hash.token(60, "gcp", "oidc")
        self.federated_principal = (
            "principal://iam.googleapis.com/projects/123456789/locations/global/"
            "workloadIdentityPools/costpipe-pool/subject/system:serviceaccount:costpipe:reader"
        )
        self.table = (
            f"{self.project}.billing_export.gcp_billing_export_v1_{account.replace('-', '_')}"
        )
        #: Service-account email -> what it may do ("jobs": bigquery.jobs.create on
        #: the project, "data": bigquery.tables.getData on the dataset).
        self.grants: dict[str, set[str]] = {
            f"costpipe-reader@{self.project}.iam.gserviceaccount.com": {"jobs", "data"},
            f"no-job-user@{self.project}.iam.gserviceaccount.com": {"data"},
            f"no-data-viewer@{self.project}.iam.gserviceaccount.com": {"jobs"},
            # A Kubernetes service account through workload identity federation.
            self.federated_principal: {"jobs", "data"},
        }
        #: Every key made for an email stays valid (a service account has up to ten).
        self.public_keys: dict[str, list[bytes]] = {}
        #: The identity the metadata server's token belongs to (workload identity).
        self.metadata_identity = next(iter(self.grants))
        self.revision = 0
        #: Every n-th BigQuery request is throttled once (0: never).
        self.throttle_every = 5
        self.throttle_seconds = 1
        #: ``jobComplete: false`` answers before a job's rows are served.
        self.incomplete_polls = 2
        self.page_rows = 400
        self.requests = 0
        self.throttled = 0
        self.polls = 0
        #: (project, UTC day) whose usage is fifty times the usual (an anomaly).
        self.spike: tuple[str, date] | None = None

    @property
    def reader(self) -> str:
        return next(iter(self.grants))

    def token_for(self, email: str) -> str:
        return "ya29.c." + self._hash.token(40, "gcp", "token", email)

    def email_of(self, token: str) -> str | None:
        return next((e for e in self.grants if self.token_for(e) == token), None)

    def revise(self) -> None:
        """Late data arrives: the correction lines of recent hours change."""
        self.revision += 1

    def service_account_file(self, email: str, path: Path, token_uri: str) -> Path:
        """Write a service-account key file for *email* (a fresh RSA key whose
        public half this fake trusts), as the console's "Create key" gives it."""
        from cryptography.hazmat.primitives import serialization

        key = _rsa_key()
        self.public_keys.setdefault(email, []).append(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        data = {
            "type": "service_account",
            "project_id": self.project,
            "private_key_id": self._hash.token(40, "gcp", "key", email).lower(),
            "private_key": pem,
            "client_email": email,
            "client_id": str(10**20 + self._hash.below(10**9, "gcp", "client", email)),
            "token_uri": token_uri,
        }
        path.write_text(json.dumps(data))
        path.chmod(0o600)
        return path

    def lines(self, start: datetime, end: datetime, now: datetime) -> list[ExportLine]:
        """Export lines of the hours in ``[start, end)`` exported by *now*."""
        out: list[ExportLine] = []
        hour = start
        while hour < end and hour < now:
            for project, labels in PROJECTS:
                for sku in SKUS:
                    out.extend(self._cell(hour, project, labels, sku, now))
            hour += HOUR
        return [line for line in out if line.export_time <= now]

    def _cell(
        self,
        hour: datetime,
        project: str,
        labels: tuple[tuple[str, str], ...],
        sku: Sku,
        now: datetime,
    ) -> list[ExportLine]:
        w = self._hash.words("gcp", hour.isoformat(), project, sku.id)
        if w[0] % 5 < 2:
            return []
        cost = Decimal(w[1] % 90_000_000) * _MICRO * Decimal("0.001")  # <= 0.09, 9 decimals
        if self.spike == (project, hour.date()):
            cost *= 50
        usage = Decimal(1 + w[2] % 2_000_000)
        credits: tuple[tuple[str, Decimal], ...] = ()
        if w[3] % 5 == 0:
            credits = (("FREE_TIER", -(cost / 2).quantize(_NANO)),)
        elif w[3] % 7 == 0:
            credits = (("PROMOTION", -(cost / 10).quantize(_NANO)),)
        first = ExportLine(
            hour,
            project,
            sku,
            labels,
            cost,
            usage,
            credits,
            hour + HOUR + timedelta(minutes=60 + w[4] % (18 * 60)),
        )
        lines = [first]
        if w[5] % 4 == 0:
            rev: tuple[object, ...] = ()
            if now - hour <= timedelta(hours=REVISED_HOURS):
                rev = ("rev", self.revision)
            v = self._hash.words("gcp-late", hour.isoformat(), project, sku.id, *rev)
            delta = (Decimal(v[0] % 20_000_000) - Decimal(5_000_000)) * _NANO
            late = hour + timedelta(hours=24 + v[1] % 48)
            lines.append(ExportLine(hour, project, sku, labels, delta, Decimal(0), (), late))
        return lines

    def truth(
        self, start: datetime, end: datetime, now: datetime, services: frozenset[str] | None = None
    ) -> tuple[Decimal, Decimal]:
        """(gross cost, credits) served for the completed hours in ``[start, end)``."""
        wanted = services or frozenset({"Vertex AI", "Gemini API"})
        last = min(end, now.replace(minute=0, second=0, microsecond=0))
        gross = credit = Decimal(0)
        for line in self.lines(start, last, now):
            if line.sku.service in wanted:
                gross += line.cost
                credit += sum((amount for _, amount in line.credits), Decimal(0))
        return gross, credit
