"""The two AWS APIs through aiobotocore: one call, its errors, its pages, its cost.

Credentials are the SDK's own chain (environment, shared config ``profile``
with its ``role_arn`` assumption, container and instance roles) unless the
config sets a static key pair; either way they are registered as secrets so no
log line carries them. The SDK's own retries are off (one attempt per call):
throttling and 5xx are retried here with an injectable sleep, so tests never
wait for real and ``retries`` counts every repeat. A refused credential or a
missing IAM permission is an :class:`~costpipe.errors.AuthError` naming the
permission (``ce:GetCostAndUsage``), never retried.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any, Literal

from costpipe.errors import AuthError, CostpipeError, MalformedDataError, TransientError
from costpipe.logging import register_secret
from costpipe.providers.bedrock.config import BedrockConfig
from costpipe.redaction import safe_excerpt

__all__ = ["PERMISSIONS", "AwsApi", "Service"]

Service = Literal["ce", "cloudwatch"]
#: IAM action prefix of each API.
_IAM_PREFIX: dict[Service, str] = {"ce": "ce", "cloudwatch": "cloudwatch"}
#: Every IAM action the provider needs (docs/providers/bedrock.md).
PERMISSIONS = (
    "ce:GetDimensionValues",
    "ce:GetCostAndUsage",
    "cloudwatch:ListMetrics",
    "cloudwatch:GetMetricData",
)
_DENIED = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}
_REFUSED = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "MissingAuthenticationToken",
}
_RETRYABLE = {
    "ThrottlingException",
    "Throttling",
    "LimitExceededException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalServiceError",
    "InternalServerError",
}
#: Cost Explorer's answer when the data changed between two pages of one query.
REQUEST_CHANGED = "RequestChangedException"
_MAX_RESPONSE_BYTES = 8 * 1024 * 1024


class RequestChanged(CostpipeError):
    """Cost Explorer revised the data between pages: the query starts over."""


class AwsApi:
    """Cost Explorer and CloudWatch clients of one provider instance."""

    def __init__(
        self,
        config: BedrockConfig,
        instance: str,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._config = config
        self._instance = instance
        self._sleep = sleep
        self._stack: AsyncExitStack | None = None
        self._clients: dict[Service, Any] = {}
        self.requests: Counter[str] = Counter()
        """Requests sent, by IAM action (Cost Explorer bills each one $0.01)."""
        self.retries = 0
        for secret in (config.access_key_id, config.secret_access_key):
            if secret is not None:
                register_secret(secret.get_secret_value())

    async def start(self) -> None:
        from aiobotocore.config import AioConfig  # type: ignore[import-untyped]
        from aiobotocore.session import AioSession  # type: ignore[import-untyped]

        config = self._config
        session = AioSession(profile=config.profile)
        keys: dict[str, str] = {}
        if config.access_key_id is not None and config.secret_access_key is not None:
            keys = {
                "aws_access_key_id": config.access_key_id.get_secret_value(),
                "aws_secret_access_key": config.secret_access_key.get_secret_value(),
            }
        timeout = config.timeout.total_seconds()
        sdk = AioConfig(
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=timeout,
            read_timeout=timeout,
            user_agent_extra="costpipe",
        )
        stack = AsyncExitStack()
        regions: dict[Service, str] = {
            "ce": config.cost_explorer_region,
            "cloudwatch": config.region,
        }
        try:
            for service, region in regions.items():
                client = await stack.enter_async_context(
                    session.create_client(
                        service,
                        region_name=region,
                        endpoint_url=config.endpoint_url,
                        config=sdk,
                        **keys,
                    )
                )
                client.meta.events.register("before-parse", _bound_body)
                self._clients[service] = client
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack

    async def close(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            self._clients.clear()
            await stack.aclose()

    async def call(self, service: Service, operation: str, params: dict[str, Any]) -> Any:
        """One operation (``GetCostAndUsage``), retried on throttling and 5xx."""
        from botocore.exceptions import (  # type: ignore[import-untyped]
            BotoCoreError,
            ClientError,
            NoCredentialsError,
        )

        client = self._clients.get(service)
        if client is None:
            raise RuntimeError("the AWS clients are not started")
        action = f"{_IAM_PREFIX[service]}:{operation}"
        method = getattr(client, _snake(operation))
        attempt = 0
        while True:
            self.requests[action] += 1
            try:
                return await method(**params)
            except NoCredentialsError as error:
                raise AuthError(
                    f"{self._instance}: no AWS credentials found (environment, profile, "
                    f"instance role): {error}"
                ) from None
            except ClientError as error:
                code = str(error.response.get("Error", {}).get("Code", ""))
                message = safe_excerpt(str(error.response.get("Error", {}).get("Message", "")))
                if code in _DENIED:
                    raise AuthError(
                        f"{self._instance}: missing IAM permission {action} ({message})"
                    ) from None
                if code in _REFUSED:
                    raise AuthError(
                        f"{self._instance}: AWS refused the credentials ({code}) calling {action}"
                    ) from None
                if code == REQUEST_CHANGED:
                    raise RequestChanged(f"{action}: {message}") from None
                if code not in _RETRYABLE:
                    raise CostpipeError(
                        f"{self._instance}: {action} failed: {code} {message}"
                    ) from None
                failure: CostpipeError = TransientError(
                    f"{self._instance}: {action} kept failing: {code}"
                )
            except BotoCoreError as error:
                failure = TransientError(f"{self._instance}: {action}: {type(error).__name__}")
            attempt += 1
            if attempt >= self._config.max_attempts:
                raise failure from None
            self.retries += 1
            await self._sleep(min(2.0**attempt, 30.0))

    async def pages(
        self,
        service: Service,
        operation: str,
        params: dict[str, Any],
        token: tuple[str, str],
    ) -> AsyncIterator[Any]:
        """Every page of one call; *token* names the (request, response) member.
        Stops after ``max_pages`` with a :class:`TransientError` (never loops)."""
        request_member, response_member = token
        cursor: str | None = None
        for _ in range(self._config.max_pages):
            page = await self.call(
                service, operation, {**params, **({request_member: cursor} if cursor else {})}
            )
            yield page
            cursor = page.get(response_member)
            if not cursor:
                return
        raise TransientError(
            f"{self._instance}: {operation} had more than {self._config.max_pages} pages"
        )


def _snake(operation: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")


def _bound_body(response_dict: dict[str, Any], **_: Any) -> None:
    """Refuse an answer larger than any real page before the SDK parses it."""
    body = response_dict.get("body")
    if isinstance(body, bytes | bytearray) and len(body) > _MAX_RESPONSE_BYTES:
        raise MalformedDataError(f"AWS answer of {len(body)} bytes (limit {_MAX_RESPONSE_BYTES})")
