"""The seeded Azure subscription behind the Azure OpenAI fake: resources, meters, daily cost.

One subscription with a few Azure OpenAI (``Microsoft.CognitiveServices/accounts``)
resources in awkwardly named resource groups, billed per meter per UTC day.
Meter names are as inconsistent as Microsoft's (``gpt 4o 0806 Outp glbl
Tokens`` next to ``GPT-4o-mini-0718-Inp-DZone``), with meters the provider
cannot map (provisioned units, embeddings) and rows of another service
(``Storage``) that a correct ``ServiceName`` filter leaves out.

Costs are exact Decimals with 11 decimals (written as JSON numbers of at most
15 significant digits, so even a float-based client would round-trip them; the
provider reads the text as Decimal regardless). :meth:`AzureWorld.truth` sums
exactly what is served. **Late revisions**: the last :data:`REVISED_DAYS`
days before "now" depend on :attr:`AzureWorld.revision`; :meth:`revise` bumps
it, so a re-read of the lookback sees new figures for those days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from costpipe.simulator.hostile_names import hostile_names
from costpipe.simulator.seeded import SeededHash

__all__ = [
    "DEPLOYMENTS",
    "METERS",
    "MONITORED",
    "RESOURCES",
    "REVISED_DAYS",
    "AzureWorld",
    "CostRow",
    "Meter",
    "Resource",
]

REVISED_DAYS = 3
HISTORY_DAYS = 400
_CENT_DIGITS = Decimal("1e-11")


@dataclass(frozen=True, slots=True)
class Meter:
    name: str
    service: str = "Cognitive Services"


@dataclass(frozen=True, slots=True)
class Resource:
    group: str
    account: str

    def resource_id(self, subscription: str) -> str:
        # Cost Management returns resource IDs lower-cased.
        return (
            f"/subscriptions/{subscription}/resourcegroups/{self.group}"
            f"/providers/microsoft.cognitiveservices/accounts/{self.account}"
        ).lower()


METERS: tuple[Meter, ...] = (
    Meter("gpt-4o-0513 Input global Tokens"),
    Meter("gpt 4o 0806 Outp glbl Tokens"),
    Meter("gpt 4o 0806 cached Inp glbl Tokens"),
    Meter("GPT-4o-mini-0718-Inp-DZone"),
    Meter("GPT-4o-mini-0718-Outp-DZone"),
    Meter("o3-mini 0131 cached Inp regnl Tokens"),
    Meter("o3-mini 0131 Outp regnl Tokens"),
    Meter("gpt-4.1 Inp Data Zone 1M Tokens"),
    Meter("gpt-4.1-nano Batch Input Tokens"),
    Meter("text-embedding-3-large Tokens"),
    Meter("Provisioned Managed Global Unit"),
    Meter("Standard LRS Data Stored", service="Storage"),
)

#: Deployments (user-chosen names) and the model each serves, per resource account.
DEPLOYMENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "contoso-aoai-swc": (("GPT4o_Prod.v2", "gpt-4o"), ("mini-2024-07-18-batch", "gpt-4o-mini")),
    "AOAI-EUS2-01": (("o3-mini", "o3-mini"), ("gpt-4.1__eval", "gpt-4.1")),
    "research-openai": (("exp", "gpt-4o"),),
}
#: Resources whose metrics the reader identity may read (Monitoring Reader).
MONITORED = ("contoso-aoai-swc", "AOAI-EUS2-01")

RESOURCES: tuple[Resource, ...] = (
    Resource("RG-AI-Prod_SwedenCentral", "contoso-aoai-swc"),
    Resource("rg.shared.eastus2", "AOAI-EUS2-01"),
    Resource("rg-research(old)", "research-openai"),
)


@dataclass(frozen=True, slots=True)
class CostRow:
    day: date
    resource_id: str
    meter: Meter
    cost: Decimal


class AzureWorld:
    """Deterministic daily Azure cost of one subscription."""

    def __init__(self, seed: int, hostile: bool = False) -> None:
        self._hash = SeededHash(seed)
        self.subscription_id = _uuid(self._hash, "subscription")
        self.tenant_id = _uuid(self._hash, "tenant")
        self.meters = METERS + tuple(
            Meter(name) for name in (hostile_names(seed) if hostile else ())
        )
        self.resources = RESOURCES
        #: Header the App Service managed-identity endpoint requires (IDENTITY_HEADER).
        self.identity_header = self._hash.token(32, "azure", "identity-header")
        #: Access token of the identity with Cost Management Reader.
        self.reader_token = "eyJ0eXAiOiJKV1Qi." + self._hash.token(48, "azure", "reader")
        #: A user-assigned identity without any role on the subscription.
        self.no_role_client_id = _uuid(self._hash, "no-role-client")
        self.no_role_token = "eyJ0eXAiOiJKV1Qi." + self._hash.token(48, "azure", "no-role")
        #: An app registration for the client-secret flow (Entra token endpoint).
        self.app_client_id = _uuid(self._hash, "app-client")
        self.app_client_secret = "Qx8~" + self._hash.token(36, "azure", "app-secret")
        #: The Kubernetes service-account token a workload identity presents.
        self.federated_token = "eyJhbGciOiJSUzI1NiJ9." + self._hash.token(40, "azure", "federated")
        self.revision = 0
        #: Every n-th query request is throttled once (0: never).
        self.throttle_every = 3
        self.throttle_seconds = 2
        self.page_rows = 25
        #: A hostile server's nextLink host (None: this server's own URL).
        self.next_link_host: str | None = None
        self.query_requests = 0
        self.throttled = 0

    @property
    def scope(self) -> str:
        return f"/subscriptions/{self.subscription_id}"

    def revise(self) -> None:
        """Late data arrives: the last :data:`REVISED_DAYS` days change."""
        self.revision += 1

    def rows(self, first: date, last: date, services: set[str], today: date) -> list[CostRow]:
        """Rows of the days ``first..last`` (inclusive, completed days and today's
        partial one) for *services*, in (day, resource, meter) order."""
        rows: list[CostRow] = []
        day = max(first, today - timedelta(days=HISTORY_DAYS))
        while day <= min(last, today):
            for resource in self.resources:
                for meter in self.meters:
                    if meter.service not in services:
                        continue
                    cost = self.cost(day, resource, meter, today)
                    if cost is not None:
                        rows.append(
                            CostRow(day, resource.resource_id(self.subscription_id), meter, cost)
                        )
            day += timedelta(days=1)
        return rows

    def cost(self, day: date, resource: Resource, meter: Meter, today: date) -> Decimal | None:
        labels: tuple[object, ...] = ("azure", day.isoformat(), resource.account, meter.name)
        if (today - day).days <= REVISED_DAYS:
            labels += ("rev", self.revision)
        w = self._hash.words(*labels)
        if w[0] % 4 == 0:
            return None  # the meter was not used on this resource that day
        return Decimal(w[1] % 4_000_000_000_000) * _CENT_DIGITS

    def hourly(self, hour: datetime, account: str, deployment: str) -> tuple[int, int, int] | None:
        """(prompt tokens, generated tokens, requests) of one deployment-hour."""
        w = self._hash.words("azure-metrics", hour.isoformat(), account, deployment)
        if w[0] % 3 == 0:
            return None
        requests = 1 + w[1] % 300
        return requests * (100 + w[2] % 3000), requests * (10 + w[3] % 700), requests

    def usage_truth(self, start: datetime, end: datetime, now: datetime) -> tuple[int, int, int]:
        """Token and request totals served for the completed hours in ``[start, end)``
        of the monitored resources."""
        totals = [0, 0, 0]
        hour = start
        while hour < end and hour + timedelta(hours=1) <= now:
            for account in MONITORED:
                for deployment, _model in DEPLOYMENTS[account]:
                    counts = self.hourly(hour, account, deployment)
                    if counts is not None:
                        totals = [a + b for a, b in zip(totals, counts, strict=True)]
            hour += timedelta(hours=1)
        return totals[0], totals[1], totals[2]

    def resource(self, group: str, account: str) -> Resource | None:
        for resource in self.resources:
            if resource.group == group and resource.account == account:
                return resource
        return None

    def truth(self, start: datetime, end: datetime, now: datetime) -> Decimal:
        """Exact Azure OpenAI cost served for the completed days in ``[start, end)``."""
        services = {"Cognitive Services"}
        last = (end - timedelta(microseconds=1)).date()
        rows = self.rows(start.date(), last, services, now.date())
        return sum((r.cost for r in rows if r.day < now.date()), Decimal(0))


def _uuid(hashes: SeededHash, label: str) -> str:
    h = hashes.token(32, "azure", label).lower()
    hexed = "".join(c if c in "0123456789abcdef" else format(ord(c) % 16, "x") for c in h)
    return f"{hexed[:8]}-{hexed[8:12]}-4{hexed[13:16]}-8{hexed[17:20]}-{hexed[20:32]}"
