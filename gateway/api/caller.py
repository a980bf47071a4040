"""What the Litestar handlers of the gateway's own resources (verify, knowledge bases,
workflow runs) read from a request: the caller's tenant, as authentication wrote it into
the request context, and a JSON body."""

from __future__ import annotations

from typing import Any

from litestar import Request

from gateway.api.decoding import check_content_type
from gateway.context import CONTEXT_SCOPE_KEY, RequestContext
from gateway.errors import InvalidRequestError


def request_tenant(request: Request[Any, Any, Any]) -> str | None:
    ctx = request.scope.get(CONTEXT_SCOPE_KEY)
    return ctx.tenant if isinstance(ctx, RequestContext) else None


async def optional_json_body(request: Request[Any, Any, Any]) -> bytes | None:
    """The request's JSON body (415 for another content type), or None when it is empty."""
    check_content_type(list(request.scope["headers"]))
    body = await request.body()
    return body if body.strip() else None


async def json_body(request: Request[Any, Any, Any], when_empty: str) -> bytes:
    """The request's JSON body; an empty one is a 400 saying `when_empty`."""
    body = await optional_json_body(request)
    if body is None:
        raise InvalidRequestError(when_empty)
    return body
