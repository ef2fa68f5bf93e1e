"""The GCP billing provider: hourly billed Vertex AI / Gemini API cost from the
Cloud Billing export in BigQuery (IO).

The query is :mod:`.plan`, the decoding :mod:`.schema` / :mod:`.decode`, the
SKUs :mod:`.skus`, the token :mod:`.credentials`, the HTTP :mod:`.client`.
Each span of completed hours is one ``jobs.query``
(``POST {api_root}/projects/{project}/queries``); while ``jobComplete`` is
false the job is polled with ``jobs.getQueryResults`` (``GET
.../queries/{jobId}``, which waits up to ``timeoutMs`` on the server), then its
pages are read with ``pageToken`` until none is left, at most ``max_pages``
pages; the rows read must add up to ``totalRows``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import msgspec
from yarl import URL

from costpipe.components import ComponentContext, Provider
from costpipe.errors import MalformedDataError, TransientError
from costpipe.providers.gcp_billing.client import BigQueryClient
from costpipe.providers.gcp_billing.config import GcpBillingConfig
from costpipe.providers.gcp_billing.credentials import open_token_source
from costpipe.providers.gcp_billing.decode import response_records
from costpipe.providers.gcp_billing.plan import plan_spans, query_request
from costpipe.providers.gcp_billing.schema import QueryResponse, decode_response
from costpipe.providers.http.paging import FetchBudget
from costpipe.providers.http.responses import PageError
from costpipe.providers.http.retry import Timer
from costpipe.providers.planning import merge_duplicates
from costpipe.records import CostRecord, Window

__all__ = ["GcpBillingProvider"]

_JOB_ID = re.compile(r"^[A-Za-z0-9_\-]{1,1024}$")
_LOCATION = re.compile(r"^[A-Za-z0-9\-]{1,64}$")
#: Wait between two ``jobComplete: false`` answers (the server already waited
#: up to ``timeoutMs``; this only spaces out a server that answers at once).
POLL_WAIT = 1.0


class GcpBillingProvider(Provider[GcpBillingConfig]):
    """Hourly billed Vertex AI and Gemini API cost by project, SKU and labels."""

    name: ClassVar[str] = "gcp_billing"
    config_model: ClassVar[type[GcpBillingConfig]] = GcpBillingConfig
    secret_fields: ClassVar[tuple[str, ...]] = ()
    bucket: ClassVar[str] = "1h"

    def __init__(
        self,
        config: GcpBillingConfig,
        context: ComponentContext,
        *,
        clock: Callable[[], datetime] | None = None,
        timer: Timer | None = None,
    ) -> None:
        super().__init__(config, context)
        self.account = config.organization or context.instance
        self._clock = clock or (lambda: datetime.now(UTC))
        self.bigquery = BigQueryClient(
            instance=self.instance,
            root=config.api_root,
            project=config.billing_project,
            table=config.table,
            tokens=open_token_source(config.credentials_file, self.instance),
            slots=context.request_slots,
            stats=self,
            log=self.log,
            timeout=config.timeout.total_seconds(),
            max_retries=config.max_retries,
            backoff=config.retry_backoff.total_seconds(),
            wait_max=config.retry_wait_max.total_seconds(),
            max_response_bytes=config.max_response_bytes,
            timer=timer,
        )

    @property
    def queries_url(self) -> URL:
        return self.bigquery.root / "projects" / self.config.billing_project / "queries"

    async def start(self) -> None:
        await self.bigquery.start()

    async def close(self) -> None:
        await self.bigquery.close()

    async def check_connection(self) -> str:
        now = self._clock()
        day = now.replace(minute=0, second=0, microsecond=0)
        span = Window(day - timedelta(days=1), day)
        rows = 0
        scanned = ""
        async for page in self._pages(
            span,
            FetchBudget(
                self.instance,
                max_pages=3,
                max_duration=timedelta(minutes=10),
                timer=self.bigquery.timer,
            ),
        ):
            rows += len(page.rows)
            scanned = scanned or (page.totalBytesProcessed or "")
        cost = f"; the query scanned {scanned} bytes" if scanned else ""
        return (
            f"BigQuery at {self.bigquery.root} ran the billing query on {self.config.table} "
            f"as project {self.config.billing_project} ({rows} rows for the last 24 hours)"
            f"{cost}; each query is billed for the bytes it scans (on-demand pricing, "
            "10 MB minimum) in the columns it reads"
        )

    def _results_url(self, job: str, location: str | None, token: str | None) -> URL:
        query: dict[str, str] = {"maxResults": str(self.config.page_rows), "timeoutMs": "10000"}
        if location:
            query["location"] = location
        if token:
            query["pageToken"] = token
        return (self.queries_url / job).with_query(query)

    def _decode(self, url: str, body: bytes) -> QueryResponse:
        try:
            return decode_response(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise PageError(url, f"not a BigQuery QueryResponse ({str(exc)[:200]})") from None

    def _job(self, page: QueryResponse, url: str) -> tuple[str, str | None]:
        ref = page.jobReference
        if ref is None or not _JOB_ID.match(ref.jobId):
            raise PageError(url, "the answer names no valid jobReference.jobId")
        location = ref.location or self.config.location
        if location is not None and not _LOCATION.match(location):
            raise PageError(url, f"jobReference.location {location[:40]!r} is not a location")
        return ref.jobId, location

    async def _pages(self, span: Window, budget: FetchBudget) -> AsyncIterator[QueryResponse]:
        """Every result page of the query of *span* (polls until the job is done)."""
        config = self.config
        body = query_request(
            config.table,
            span,
            config.services,
            config.label_keys,
            page_rows=config.page_rows,
            location=config.location,
        )
        endpoint = str(self.queries_url)
        raw = await self.bigquery.request("POST", self.queries_url, body)
        page = self._decode(raw.url, raw.body)
        job, location = self._job(page, raw.url)
        polls = 0
        number = 1
        budget.before_page(endpoint, number)
        while not page.jobComplete:
            polls += 1
            if polls > config.max_polls:
                raise TransientError(
                    f"{self.instance}: the query job {job} was not complete after "
                    f"{config.max_polls} polls (max_polls); it is asked again next pass"
                )
            await self.bigquery.timer.sleep(POLL_WAIT)
            raw = await self.bigquery.request("GET", self._results_url(job, location, None))
            page = self._decode(raw.url, raw.body)
        read = len(page.rows)
        yield page
        while page.pageToken:
            number += 1
            budget.before_page(endpoint, number)
            url = self._results_url(job, location, page.pageToken[:4096])
            raw = await self.bigquery.request("GET", url)
            page = self._decode(raw.url, raw.body)
            if not page.jobComplete:
                raise PageError(raw.url, "a result page of a completed job says jobComplete false")
            read += len(page.rows)
            yield page
        if page.totalRows is not None and page.totalRows.isdigit() and int(page.totalRows) != read:
            raise MalformedDataError(
                f"{self.instance}: job {job} has totalRows {page.totalRows} but its pages "
                f"held {read} rows"
            )

    async def fetch(self, window: Window) -> AsyncIterator[Sequence[CostRecord]]:
        budget = FetchBudget(
            self.instance,
            max_pages=self.config.max_pages,
            max_duration=timedelta(hours=1),
            timer=self.bigquery.timer,
        )
        for span in plan_spans(window, self._clock()):
            records: list[CostRecord] = []
            try:
                async for page in self._pages(span, budget):
                    records.extend(response_records(page, span, self.account))
                    yield []
            except PageError as exc:
                # One span's answer is unusable: set aside, the other spans go on.
                self.set_aside(exc.url, exc.reason)
                continue
            except MalformedDataError as exc:
                self.set_aside(str(self.queries_url), str(exc)[:300])
                continue
            if records:
                # Rows sharing a key across pages (a server may split them) are summed.
                yield merge_duplicates(records)
