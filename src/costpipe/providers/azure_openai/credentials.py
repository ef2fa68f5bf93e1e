"""Entra ID tokens for Azure Resource Manager through azure-identity (async).

azure-identity is an optional dependency (the ``azure`` extra), imported only
when an ``azure_openai`` instance starts, so costpipe without it still runs
every other provider; a missing package is a configuration error that says
which extra to install.

* ``client_secret``: :class:`azure.identity.aio.ClientSecretCredential`
  (``tenant_id``, ``client_id``, ``client_secret``, ``authority``);
* ``workload_identity``: :class:`~azure.identity.aio.WorkloadIdentityCredential`
  (Kubernetes: ``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``,
  ``AZURE_FEDERATED_TOKEN_FILE`` set by the webhook; the config's ids win);
* ``managed_identity``: :class:`~azure.identity.aio.ManagedIdentityCredential`
  (VM IMDS, App Service / Functions / Container Apps through
  ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER``; ``client_id`` picks a
  user-assigned identity).

The token is asked for ``<management_url>/.default``; azure-identity caches it
and refreshes it before it expires, so every request calls :meth:`token`.
"""

from __future__ import annotations

from typing import Any, Protocol

from costpipe.errors import AuthError, ConfigError, TransientError
from costpipe.providers.azure_openai.config import AzureOpenAIConfig
from costpipe.redaction import safe_excerpt

__all__ = ["TokenSource", "open_token_source"]


class _AsyncCredential(Protocol):
    async def get_token(self, *scopes: str) -> object: ...
    async def close(self) -> None: ...


class TokenSource:
    """An Entra access token for ARM, from one azure-identity credential."""

    def __init__(
        self,
        credential: _AsyncCredential,
        scope: str,
        instance: str,
        secrets: tuple[str, ...],
        kind: str = "managed_identity",
    ) -> None:
        self._credential = credential
        self._kind = kind
        self._scope = scope
        self._instance = instance
        self._secrets = secrets

    async def token(self) -> str:
        from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
        from azure.identity import CredentialUnavailableError

        try:
            access = await self._credential.get_token(self._scope)
        except CredentialUnavailableError as exc:
            raise AuthError(
                f"{self._instance}: no {self._kind} credential is available here "
                f"({safe_excerpt(str(exc.message or exc), 300, self._secrets)}). Check `auth` "
                f"of {self._instance} (managed_identity needs an identity assigned to this "
                "VM or app; workload_identity the AZURE_FEDERATED_TOKEN_FILE of the pod)."
            ) from None
        except ServiceRequestError as exc:
            # The token endpoint could not be reached (DNS, TLS, connection): a later
            # pass may succeed.
            raise TransientError(
                f"{self._instance}: the Entra ID token endpoint could not be reached "
                f"({safe_excerpt(str(exc.message or exc), 300, self._secrets)})"
            ) from None
        except ClientAuthenticationError as exc:
            raise AuthError(
                f"{self._instance}: Entra ID refused the sign-in "
                f"({safe_excerpt(str(exc.message or exc), 300, self._secrets)}). Check `auth`, "
                f"`tenant_id`, `client_id` and `client_secret` of {self._instance}."
            ) from None
        token = getattr(access, "token", None)
        if not isinstance(token, str) or not token:
            raise AuthError(f"{self._instance}: the credential returned no access token")
        return token

    async def close(self) -> None:
        await self._credential.close()


def open_token_source(config: AzureOpenAIConfig, instance: str) -> TokenSource:
    """The credential *config* names (no IO until the first token)."""
    try:
        from azure.identity import aio
    except ImportError:
        raise ConfigError(
            f"providers.azure_openai ({instance})",
            "needs azure-identity: pip install 'costpipe[azure]'",
        ) from None
    secret = config.client_secret.get_secret_value() if config.client_secret else ""
    credential: _AsyncCredential
    # azure-core's transport option: verify the authority's TLS with this CA bundle.
    transport: dict[str, Any] = {"connection_verify": config.ca_file} if config.ca_file else {}
    if config.auth == "client_secret":
        if not (config.tenant_id and config.client_id and secret):
            raise ConfigError(
                f"providers.azure_openai ({instance})",
                "auth = client_secret needs tenant_id, client_id and client_secret",
            )
        credential = aio.ClientSecretCredential(
            config.tenant_id, config.client_id, secret, authority=config.authority, **transport
        )
    elif config.auth == "workload_identity":
        credential = aio.WorkloadIdentityCredential(
            tenant_id=config.tenant_id,
            client_id=config.client_id,
            token_file_path=config.federated_token_file,
            authority=config.authority,
            **transport,
        )
    else:
        credential = aio.ManagedIdentityCredential(client_id=config.client_id, **transport)
    scope = config.management_url.rstrip("/") + "/.default"
    return TokenSource(credential, scope, instance, (secret,) if secret else (), config.auth)
