"""Google's token endpoints for the BigQuery fake (:mod:`.gcp_billing_api`).

Routes (``P`` is the port)::

    POST /gcp/token      OAuth 2.0 JWT bearer grant (the ``token_uri`` of test keys)
    POST /gcp/sts        Google STS token exchange (workload identity federation)
    GET  /computeMetadata/v1/instance/service-accounts/default/token   (metadata server)

* the JWT grant wants an RS256 ``assertion`` signed by a key
  :meth:`~.gcp_billing_world.GcpWorld.service_account_file` made, whose ``aud``
  is this endpoint and whose ``scope`` names BigQuery; else 400 ``invalid_grant``;
* STS wants ``grant_type`` token-exchange, ``audience`` =
  :attr:`~.gcp_billing_world.GcpWorld.wif_audience` and the pod's subject token
  :attr:`~.gcp_billing_world.GcpWorld.federated_subject`;
* the metadata server wants ``Metadata-Flavor: Google`` and answers for
  :attr:`~.gcp_billing_world.GcpWorld.metadata_identity` (GKE Workload Identity);
  a client finds it through ``GCE_METADATA_HOST=127.0.0.1:P``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from costpipe.simulator.gcp_billing_world import GcpWorld
from costpipe.simulator.wire import dumps

__all__ = ["METADATA_TOKEN", "STS_PATH", "TOKEN_PATH", "add_auth_routes"]

TOKEN_PATH = "/gcp/token"
STS_PATH = "/gcp/sts"
METADATA_TOKEN = "/computeMetadata/v1/instance/service-accounts/default/token"


def add_auth_routes(app: web.Application, world: GcpWorld) -> list[str]:
    """Register the token endpoints; return their paths."""

    async def token(request: web.Request) -> web.Response:
        import jwt

        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return _oauth(400, "unsupported_grant_type", "Invalid grant_type.")
        assertion = str(form.get("assertion", ""))
        claims = _verified(jwt, assertion, world.public_keys)
        if claims is None:
            return _oauth(400, "invalid_grant", "Invalid JWT Signature.")
        if not str(claims.get("aud", "")).endswith(TOKEN_PATH) or "bigquery" not in str(
            claims.get("scope", "")
        ):
            return _oauth(400, "invalid_scope", "Invalid audience or scope.")
        payload = {
            "access_token": world.token_for(claims["iss"]),
            "expires_in": 3599,
            "token_type": "Bearer",
        }
        return web.Response(body=dumps(payload), content_type="application/json")

    async def metadata_token(request: web.Request) -> web.Response:
        if request.headers.get("Metadata-Flavor") != "Google":
            return web.Response(status=403, text="Missing Metadata-Flavor:Google header.")
        email = world.metadata_identity
        payload = {
            "access_token": world.token_for(email),
            "expires_in": 3599,
            "token_type": "Bearer",
        }
        return web.Response(body=dumps(payload), content_type="application/json")

    async def sts(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange":
            return _oauth(400, "unsupported_grant_type", "Invalid grant_type.")
        if form.get("audience") != world.wif_audience:
            return _oauth(400, "invalid_target", "The target service indicated is invalid.")
        if form.get("subject_token") != world.federated_subject:
            return _oauth(400, "invalid_grant", "The given subject token is invalid.")
        payload = {
            "access_token": world.token_for(world.federated_principal),
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
            "expires_in": 3599,
        }
        return web.Response(body=dumps(payload), content_type="application/json")

    app.router.add_post(TOKEN_PATH, token)
    app.router.add_post(STS_PATH, sts)
    app.router.add_get(METADATA_TOKEN, metadata_token)
    return [TOKEN_PATH, STS_PATH, METADATA_TOKEN]


def _verified(jwt: Any, assertion: str, keys: dict[str, list[bytes]]) -> dict[str, Any] | None:
    """The claims of *assertion* if one of its issuer's keys signed it (RS256)."""
    try:
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    for key in keys.get(str(claims.get("iss")), []):
        try:
            checked: dict[str, Any] = jwt.decode(
                assertion, key, algorithms=["RS256"], audience=claims.get("aud")
            )
        except jwt.PyJWTError:
            continue
        return checked
    return None


def _oauth(status: int, code: str, description: str) -> web.Response:
    body = dumps({"error": code, "error_description": description})
    return web.Response(status=status, body=body, content_type="application/json")
