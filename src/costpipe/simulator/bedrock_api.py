"""A wire-faithful fake of the two AWS APIs the Bedrock provider reads.

Served at ``POST /aws`` (``endpoint_url = <base>/aws`` for both clients), told
apart the way AWS's endpoints are, by protocol (botocore's service models,
``metadata.protocols``):

* Cost Explorer, ``ce/2017-10-25``: JSON 1.1, ``X-Amz-Target:
  AWSInsightsIndexService.<Operation>``, ``application/x-amz-json-1.1``;
  errors are ``{"__type": ..., "Message": ...}``.
* CloudWatch, ``cloudwatch/2010-08-01`` (endpoint prefix ``monitoring``),
  whose model lists ``smithy-rpc-v2-cbor``, ``json`` and ``query``; botocore
  picks the first it supports in its own order (``json`` in botocore 1.37+,
  ``query`` before). Both are served: JSON 1.0 with ``X-Amz-Target:
  GraniteServiceVersion20100801.<Operation>`` (epoch-second timestamps, the
  ``x-amzn-query-error`` header of an ``awsQueryCompatible`` service), and the
  query protocol (form ``Action=...&Version=2010-08-01``, XML answers).

Every request must carry a SigV4 ``Authorization`` header of the right shape
(``AWS4-HMAC-SHA256 Credential=<key>/<yyyymmdd>/<region>/<service>/aws4_request,
SignedHeaders=...;host;...;x-amz-date, Signature=<64 hex>``) whose scope names
the API's signing name and whose date is ``X-Amz-Date``'s. The signature itself
is not recomputed. Keys, permissions and data live in
:class:`~costpipe.simulator.bedrock_world.BedrockWorld`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from aiohttp import web

from costpipe.simulator.bedrock_ops import AwsFault, answer
from costpipe.simulator.bedrock_world import BedrockWorld, iso_hour

__all__ = ["add_routes"]

_SIGV4 = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]{16,128})/(?P<date>\d{8})/"
    r"(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)/aws4_request, ?"
    r"SignedHeaders=(?P<headers>[a-z0-9;-]+), ?Signature=[0-9a-f]{64}$"
)
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")
_TARGETS = {"AWSInsightsIndexService": "ce", "GraniteServiceVersion20100801": "cloudwatch"}
_SIGNING_NAME = {"ce": "ce", "cloudwatch": "monitoring", "sts": "sts"}
_MAX_BODY = 1024 * 1024
_XMLNS = "http://monitoring.amazonaws.com/doc/2010-08-01/"


def add_routes(app: web.Application, world: BedrockWorld, now: Callable[[], int]) -> list[str]:
    """Serve the fake at ``/aws`` and ``/aws/``; return the paths."""
    counter = [0]

    async def handle(request: web.Request) -> web.Response:
        body = await request.content.read(_MAX_BODY + 1)
        if len(body) > _MAX_BODY:
            return web.Response(status=413)
        target = request.headers.get("X-Amz-Target", "")
        prefix, _, operation = target.partition(".")
        if prefix in _TARGETS:
            service, protocol = _TARGETS[prefix], "json"
            version = "1.1" if service == "ce" else "1.0"
        else:
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            operation = form.get("Action", "")
            # STS (query protocol too) serves role assumption for the credential chain.
            service = "sts" if operation == "AssumeRole" else "cloudwatch"
            protocol, version = "query", ""
        try:
            key = _authenticate(request, world, service)
            members = _members(body, protocol)
            counter[0] += 1
            world.protocols[protocol] += 1
            if world.throttle_every and counter[0] % world.throttle_every == 0:
                code = "LimitExceededException" if service == "ce" else "Throttling"
                raise AwsFault(code if protocol == "query" or service == "ce"
                               else "ThrottlingException", "Rate exceeded")  # fmt: skip
            action = f"{service}:{operation}"
            if action not in world.keys[key].allowed:
                raise AwsFault(
                    "AccessDenied" if protocol == "query" else "AccessDeniedException",
                    f"User: arn:aws:iam::111122223333:user/costpipe is not authorized to "
                    f"perform: {action} because no identity-based policy allows the "
                    f"{action} action",
                )
            if service == "sts":
                result = world.assume_role(
                    str(members.get("RoleArn", "")), str(members.get("RoleSessionName", ""))
                )
            else:
                result = answer(world, service, operation, members, now())
        except AwsFault as fault:
            return _error(fault, protocol, version)
        return _reply(result, operation, protocol, version)

    paths = ["/aws", "/aws/"]
    for path in paths:
        app.router.add_post(path, handle)
    return paths


def _authenticate(request: web.Request, world: BedrockWorld, service: str) -> str:
    signed = _SIGV4.match(request.headers.get("Authorization", ""))
    amz_date = request.headers.get("X-Amz-Date", "")
    if signed is None or not _AMZ_DATE.match(amz_date):
        raise AwsFault("MissingAuthenticationTokenException", "Missing or malformed SigV4", 403)
    headers = signed["headers"].split(";")
    if "host" not in headers or "x-amz-date" not in headers or signed["date"] != amz_date[:8]:
        raise AwsFault("IncompleteSignatureException", "SigV4 must sign host and x-amz-date")
    if signed["service"] != _SIGNING_NAME[service]:
        raise AwsFault("InvalidSignatureException", f"Credential should be scoped to {service}")
    if signed["key"] not in world.keys:
        code = "UnrecognizedClientException" if service == "ce" else "InvalidClientTokenId"
        raise AwsFault(code, "The security token included in the request is invalid.", 403)
    return signed["key"]


def _members(body: bytes, protocol: str) -> dict[str, Any]:
    if protocol == "json":
        try:
            members = json.loads(body or b"{}")
        except ValueError:
            raise AwsFault("SerializationException", "Malformed JSON") from None
        if not isinstance(members, dict):
            raise AwsFault("SerializationException", "The body is not an object")
        return members
    members = _unflatten(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    for name in ("StartTime", "EndTime"):
        if name in members:
            text = str(members[name]).replace("Z", "+00:00")
            members[name] = datetime.fromisoformat(text).astimezone(UTC).timestamp()
    return members


def _unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Query-protocol members (``A.member.1.B=v``) to nested dicts and lists."""
    root: dict[str, Any] = {}
    for name, value in pairs:
        if name in ("Action", "Version"):
            continue
        node: Any = root
        parts = name.split(".")
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            key: str | int = int(part) - 1 if parts[index - 1] == "member" and index else part
            if part == "member":
                continue
            container = node
            if isinstance(container, list):
                while len(container) <= int(key):
                    container.append({})
                if last:
                    container[int(key)] = value
                node = container[int(key)]
                continue
            if last:
                container[key] = value
            else:
                default: Any = [] if parts[index + 1] == "member" else {}
                node = container.setdefault(key, default)
    return root


def _reply(result: dict[str, Any], operation: str, protocol: str, version: str) -> web.Response:
    headers = {"x-amzn-RequestId": "00000000-0000-4000-8000-000000000000"}
    if protocol == "json":
        return web.Response(
            body=json.dumps(result).encode(),
            headers={**headers, "Content-Type": f"application/x-amz-json-{version}"},
        )
    inner = "".join(_xml(name, value) for name, value in result.items())
    text = (
        f'<{operation}Response xmlns="{_XMLNS}"><{operation}Result>{inner}</{operation}Result>'
        f"<ResponseMetadata><RequestId>{headers['x-amzn-RequestId']}</RequestId>"
        f"</ResponseMetadata></{operation}Response>"
    )
    return web.Response(body=text.encode(), headers={**headers, "Content-Type": "text/xml"})


def _xml(name: str, value: Any) -> str:
    if isinstance(value, list):
        items = "".join(_xml("member", item) for item in value)
        return f"<{name}>{items}</{name}>"
    if isinstance(value, dict):
        return f"<{name}>{''.join(_xml(k, v) for k, v in value.items())}</{name}>"
    if name == "member" and isinstance(value, int) and value > 10**9:
        value = iso_hour(value)  # a Timestamps member
    if isinstance(value, bool):
        value = str(value).lower()
    return f"<{name}>{escape(str(value))}</{name}>"


def _error(fault: AwsFault, protocol: str, version: str) -> web.Response:
    if protocol == "json":
        body = {"__type": f"com.amazonaws.error#{fault.code}", "Message": fault.message,
                "message": fault.message}  # fmt: skip
        return web.Response(
            status=fault.status,
            body=json.dumps(body).encode(),
            headers={
                "Content-Type": f"application/x-amz-json-{version or '1.1'}",
                "x-amzn-query-error": f"{fault.code};Sender",
            },
        )
    text = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{escape(fault.code)}</Code>"
        f"<Message>{escape(fault.message)}</Message></Error>"
        "<RequestId>00000000-0000-4000-8000-000000000000</RequestId></ErrorResponse>"
    )
    return web.Response(
        status=fault.status, body=text.encode(), headers={"Content-Type": "text/xml"}
    )
