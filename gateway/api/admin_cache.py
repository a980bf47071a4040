"""`DELETE /admin/cache?tenant=&route=` (admin key): clears the cached answers of a tenant,
a route, both, or with neither everything; semantic entries go with them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Request, Response, delete
from litestar.handlers import HTTPRouteHandler

from gateway.cache.response_cache import ResponseCache
from gateway.errors import ServiceUnavailableError
from gateway.resilience.breaker_wire import REDIS_ERRORS

_encoder = msgspec.json.Encoder()
_CLEAR_TIMEOUT = 30.0


def admin_cache_handlers(cache: Callable[[], ResponseCache | None]) -> list[HTTPRouteHandler]:
    @delete("/admin/cache", status_code=200)
    async def clear_cache(request: Request[Any, Any, Any]) -> Response[bytes]:
        tenant = request.query_params.get("tenant") or None
        route = request.query_params.get("route") or None
        live = cache()
        deleted = 0
        if live is not None:
            try:
                async with asyncio.timeout(_CLEAR_TIMEOUT):
                    deleted = await live.clear(tenant, route)
            except (TimeoutError, *REDIS_ERRORS):
                raise ServiceUnavailableError(
                    "The cache cannot be cleared right now (its store is unavailable); "
                    "retry shortly.",
                    code="state_unavailable",
                ) from None
        body = {"object": "cache.cleared", "tenant": tenant, "route": route, "deleted": deleted}
        return Response(_encoder.encode(body), status_code=200, media_type="application/json")

    return [clear_cache]
