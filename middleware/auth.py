"""API keys, checked before any body is read: `Authorization: Bearer <key>` (or `x-api-key`,
as Anthropic-style clients send it) against the sha256 hashes in the policy file.

With `auth.required`, every `/v1/*` and `/mcp` request needs a valid, unexpired key (else
401 `invalid_api_key`). `/metrics` and `/admin/*` need the admin key when one is configured,
whether or not `/v1` needs keys; without one, `/admin/*` answers loopback clients only (an
admin API open to the network by default would let anyone clear caches or mint keys).
Without one, the status page (`/ui`) too answers loopback clients only; with one, its own
login form (a session cookie) guards it.
`/healthz` and `/readyz` stay open. The key's id, tenant, model allow-list and priority go on
the request context, and the record itself (limits, budget) as `ctx.key`. Keys are hashed at
once and never logged or echoed; which hashes are valid (file keys, created keys,
revocations, expiry) is the `KeyTable`'s business.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.context import CONTEXT_SCOPE_KEY, RequestContext
from gateway.error_response import send_error_response
from gateway.errors import AuthenticationError, PermissionDeniedError
from gateway.settings.schema import Budget, Limits

if TYPE_CHECKING:  # the table builds KeyRecords: a runtime import would be a cycle
    from gateway.keys.table import KeyTable


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    sha256: str
    tenant: str | None = None
    models: tuple[str, ...] | None = None
    expires: datetime | None = None
    priority: int = 0
    limits: Limits | None = None
    budget: Budget | None = None
    policy: str | None = None


class AuthMiddleware:
    def __init__(
        self,
        app: Any,
        *,
        required: bool,
        keys: KeyTable,
        admin_sha256: str | None = None,
    ) -> None:
        self.app = app
        self.required = required
        self._keys = keys
        self._admin = admin_sha256

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/v1/") or path == "/mcp" or path.startswith("/mcp/"):
            if not self.required:
                await self.app(scope, receive, send)
                return
            record = await self._key_of(scope)
            if record is None:
                await send_error_response(send, _refused(), path)
                return
            ctx = scope.get(CONTEXT_SCOPE_KEY)
            if isinstance(ctx, RequestContext):
                ctx.principal = record.id
                ctx.tenant = record.tenant
                ctx.allowed_models = record.models
                ctx.priority = record.priority
                ctx.key = record
        elif (path == "/metrics" or path.startswith("/admin")) and self._admin is not None:
            digest = _presented_hash(scope)
            if digest is None or not hmac.compare_digest(digest, self._admin):
                await send_error_response(send, _refused("This endpoint needs the admin key."))
                return
        elif (
            (path.startswith("/admin") or _status_page(path))
            and self._admin is None
            and not _loopback(scope)
        ):
            await send_error_response(send, _admin_unconfigured())
            return
        # With an admin key, `/ui` lets everyone reach its login form; the session cookie
        # it sets guards the rest (`gateway.ui_session`).
        await self.app(scope, receive, send)

    async def _key_of(self, scope: Any) -> KeyRecord | None:
        digest = _presented_hash(scope)
        if digest is None:
            return None
        # Revocation and expiry included; a key this replica knows needs no await.
        record = self._keys.known(digest) or await self._keys.resolve(digest)
        # The lookup is by hash; the comparison is constant-time all the same.
        if record is None or not hmac.compare_digest(record.sha256, digest):
            return None
        return record


def _presented_hash(scope: Any) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return hashlib.sha256(token.strip()).hexdigest()
            return None
        if name == b"x-api-key" and value.strip():
            return hashlib.sha256(value.strip()).hexdigest()
    return None


def _status_page(path: str) -> bool:
    return path == "/ui" or path.startswith("/ui/")


def _loopback(scope: Any) -> bool:
    client = scope.get("client")
    host = client[0] if client else ""
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")


def _admin_unconfigured() -> PermissionDeniedError:
    return PermissionDeniedError(
        "The admin API and the status page answer only loopback clients while no admin key "
        "is configured (set `auth.admin_key_env`)."
    )


def _refused(message: str | None = None) -> AuthenticationError:
    return AuthenticationError(
        message
        or "Incorrect, expired or missing API key. Send it as `Authorization: Bearer <key>`."
    )
