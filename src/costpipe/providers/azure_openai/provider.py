"""The Azure OpenAI provider: billed daily cost from the Cost Management Query API (IO).

The request is :mod:`.plan`, the decoding :mod:`.schema` / :mod:`.decode`, the
meter names :mod:`.meters`, the token :mod:`.credentials`, the HTTP
:mod:`.client`. Each completed-day span is one ``POST {scope}/providers/
Microsoft.CostManagement/query``; ``properties.nextLink`` is followed by
POSTing the same body to it (the documented way), at most ``max_pages`` pages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import msgspec
from yarl import URL

from costpipe.components import ComponentContext, Provider
from costpipe.errors import AuthError, MalformedDataError
from costpipe.providers.azure_openai.client import ArmClient
from costpipe.providers.azure_openai.config import AzureOpenAIConfig
from costpipe.providers.azure_openai.credentials import open_token_source
from costpipe.providers.azure_openai.decode import query_records
from costpipe.providers.azure_openai.monitor import HOUR, decode_metrics, metrics_params
from costpipe.providers.azure_openai.plan import QUERY_PATH, plan_spans, query_body
from costpipe.providers.azure_openai.schema import QueryProperties, decode_query
from costpipe.providers.azure_openai.usage import usage_records
from costpipe.providers.http.paging import FetchBudget
from costpipe.providers.http.responses import PageError
from costpipe.providers.http.retry import Timer
from costpipe.providers.planning import UsagePricer, aligned_range, merge_duplicates
from costpipe.records import CostRecord, Window
from costpipe.redaction import redact_url

__all__ = ["COST_READER", "AzureOpenAIProvider"]

COST_READER = "the Cost Management Reader role (Microsoft.CostManagement/query/action) on the scope"
MONITORING_READER = (
    "the Monitoring Reader role (Microsoft.Insights/metrics/read) on the Azure OpenAI resource"
)
METRICS_PATH = "providers/Microsoft.Insights/metrics"
METRICS_SPAN = timedelta(days=7)


class AzureOpenAIProvider(Provider[AzureOpenAIConfig]):
    """Daily billed Azure OpenAI cost of one scope, by resource and meter."""

    name: ClassVar[str] = "azure_openai"
    config_model: ClassVar[type[AzureOpenAIConfig]] = AzureOpenAIConfig
    # client_secret is optional (only auth = client_secret needs it, which the config
    # model checks); a SecretStr field is masked and leak-checked all the same.
    secret_fields: ClassVar[tuple[str, ...]] = ()
    # Finest bucket: hourly usage (the bill is daily), as for OpenAI.
    bucket: ClassVar[str] = "1h"

    def __init__(
        self,
        config: AzureOpenAIConfig,
        context: ComponentContext,
        *,
        clock: Callable[[], datetime] | None = None,
        timer: Timer | None = None,
    ) -> None:
        super().__init__(config, context)
        self.account = config.organization or context.instance
        self._pricer = UsagePricer("openai", self.instance, context.prices, self.log)
        self._monitor_refused: set[str] = set()
        self._clock = clock or (lambda: datetime.now(UTC))
        self.arm = ArmClient(
            instance=self.instance,
            root=config.management_url,
            tokens=open_token_source(config, self.instance),
            slots=context.request_slots,
            stats=self,
            log=self.log,
            timeout=config.timeout.total_seconds(),
            max_retries=config.max_retries,
            backoff=config.retry_backoff.total_seconds(),
            wait_max=config.retry_wait_max.total_seconds(),
            max_response_bytes=config.max_response_bytes,
            timer=timer,
            ca_file=config.ca_file,
        )

    @property
    def query_url(self) -> URL:
        return (self.arm.root / self.config.scope.lstrip("/") / QUERY_PATH.lstrip("/")).with_query(
            {"api-version": self.config.api_version}
        )

    async def start(self) -> None:
        await self.arm.start()

    async def close(self) -> None:
        await self.arm.close()

    async def check_connection(self) -> str:
        now = self._clock()
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        span = Window(day - timedelta(days=1), day)
        raw = await self.arm.request(
            "POST", self.query_url, COST_READER, query_body(span, self.config.service_names)
        )
        page = self._decode(raw.url, raw.body)
        for resource in self.config.resources:
            await self.arm.request(
                "GET",
                self._metrics_url(resource, Window(span.end - HOUR, span.end)),
                MONITORING_READER,
            )
        monitored = (
            f"; Azure Monitor metrics readable on {len(self.config.resources)} resource(s)"
            if self.config.resources
            else "; no `resources`: usage metrics are not read"
        )
        return (
            f"Cost Management at {self.arm.root} answered the query on {self.config.scope} "
            f"({len(page.rows)} rows for {span.start.date().isoformat()}){monitored}; "
            "Cost Management queries are not billed (they are rate-limited); Azure Monitor "
            "is read with one metrics call per resource and 7 days of each pass"
        )

    def _metrics_url(self, resource: str, span: Window) -> URL:
        url = self.arm.root / resource.lstrip("/") / METRICS_PATH
        params = [("api-version", self.config.monitor_api_version), *metrics_params(span)]
        return url.with_query(params)

    async def _usage(self, window: Window) -> list[CostRecord]:
        """Hourly usage of the configured resources; a resource whose metrics are
        refused is skipped with a warning (once), the billed money is kept."""
        hours = aligned_range(window, HOUR, self._clock())
        if hours is None:
            return []
        records: list[CostRecord] = []
        for resource in self.config.resources:
            for piece in hours.split(METRICS_SPAN):
                url = self._metrics_url(resource, piece)
                try:
                    with self._aside(redact_url(url)):
                        raw = await self.arm.request("GET", url, MONITORING_READER)
                        rows = decode_metrics(raw.body, resource, piece)
                        records.extend(usage_records(rows, self._pricer, self.account))
                except AuthError as exc:
                    if resource not in self._monitor_refused:
                        self._monitor_refused.add(resource)
                        self.log.warning(
                            "azure_monitor_not_granted", provider=self.instance, error=str(exc)
                        )
                    break
        return records

    async def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        budget = FetchBudget(
            self.instance,
            max_pages=self.config.max_pages,
            max_duration=self.config.max_fetch_duration,
            timer=self.arm.timer,
        )
        for span in plan_spans(window, self._clock()):
            body = query_body(span, self.config.service_names)
            url: URL | None = self.query_url
            records: list[CostRecord] = []
            number = 0
            while url is not None:
                number += 1
                budget.before_page(str(self.query_url.with_query(None)), number)
                request_url, url = url, None
                try:
                    # A 4xx or an oversized body is a PageError too: set aside, not fatal.
                    raw = await self.arm.request("POST", request_url, COST_READER, body)
                    page = self._decode(raw.url, raw.body)
                    records.extend(query_records(page, span, self.account))
                except PageError as exc:
                    self.set_aside(exc.url, exc.reason)
                    continue
                if page.nextLink:
                    url = URL(page.nextLink)
                yield []
            if records:
                # One span's pages hold disjoint (day, resource, meter) rows; merged
                # in case a server split one across pages.
                yield merge_duplicates(records)
        if self.config.resources:
            usage = await self._usage(window)
            if usage:
                yield usage

    @contextmanager
    def _aside(self, shown_url: str) -> Iterator[None]:
        try:
            yield
        except MalformedDataError as exc:
            self.set_aside(shown_url, str(exc)[:300])

    def _decode(self, shown_url: str, body: bytes) -> QueryProperties:
        try:
            return decode_query(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise PageError(shown_url, str(exc)[:300]) from None
        except MalformedDataError as exc:
            raise PageError(shown_url, str(exc)[:300]) from None
