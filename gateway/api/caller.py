"""Who is calling, as the handlers of tenant-scoped resources (knowledge bases, workflow
runs) read it: the tenant authentication wrote into the request context."""

from __future__ import annotations

from typing import Any

from litestar import Request

from gateway.context import CONTEXT_SCOPE_KEY, RequestContext


def request_tenant(request: Request[Any, Any, Any]) -> str | None:
    ctx = request.scope.get(CONTEXT_SCOPE_KEY)
    return ctx.tenant if isinstance(ctx, RequestContext) else None
