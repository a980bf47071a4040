"""`GET /v1/usage` (the caller's own key) and `GET /admin/usage?tenant=&key=` (any, with the
admin key): requests, tokens in and out, and cost per key, model and UTC day.

`start` and `end` (`YYYY-MM-DD`, inclusive) choose the days: by default the last 31.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

from gateway.context import CONTEXT_SCOPE_KEY, RequestContext
from gateway.errors import InvalidRequestError, ServiceUnavailableError
from gateway.quota.admission import ANONYMOUS
from gateway.quota.ledger import Ledger
from gateway.quota.model import NANO_PER_USD, UsageRow
from gateway.quota.shared import SharedQuota
from gateway.resilience.breaker_wire import REDIS_ERRORS

_DEFAULT_DAYS = 31
_MAX_DAYS = 400
_encoder = msgspec.json.Encoder()


def usage_handlers(
    quota: Callable[[], SharedQuota], ledger: Ledger, timeout: Callable[[], float]
) -> list[HTTPRouteHandler]:
    async def rows(request: Request[Any, Any, Any], tenant: str | None, key: str | None) -> Any:
        start, end = _days(request.query_params.get("start"), request.query_params.get("end"))
        days = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
        store = quota().usage_store
        try:
            # What finished just before this call is counted in what it returns.
            async with asyncio.timeout(max(1.0, 4 * timeout())):
                await ledger.flush()
                found = await store.usage(days, tenant, key)
        except (TimeoutError, *REDIS_ERRORS):
            raise ServiceUnavailableError(
                "Usage cannot be read right now (shared state is unavailable); retry shortly.",
                code="state_unavailable",
            ) from None
        return _body(found, start, end)

    @get("/v1/usage")
    async def own_usage(request: Request[Any, Any, Any]) -> Response[bytes]:
        ctx = request.scope.get(CONTEXT_SCOPE_KEY)
        principal = ctx.principal if isinstance(ctx, RequestContext) else None
        return _json(await rows(request, None, principal or ANONYMOUS))

    @get("/admin/usage")
    async def admin_usage(request: Request[Any, Any, Any]) -> Response[bytes]:
        params = request.query_params
        return _json(await rows(request, params.get("tenant"), params.get("key")))

    return [own_usage, admin_usage]


def _days(start: str | None, end: str | None) -> tuple[date, date]:
    last = _date(end, "end") if end else datetime.now(UTC).date()
    first = _date(start, "start") if start else last - timedelta(days=_DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidRequestError("`start` is after `end`.", param="start")
    if (last - first).days >= _MAX_DAYS:
        raise InvalidRequestError(
            f"At most {_MAX_DAYS} days per request: narrow `start`..`end`.", param="start"
        )
    return first, last


def _date(value: str, param: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequestError(
            f"`{param}` must be a date as YYYY-MM-DD.", param=param, code="invalid_value"
        ) from None


def _body(found: list[UsageRow], start: date, end: date) -> dict[str, Any]:
    data = []
    totals = {
        "requests": 0,
        "cached_requests": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost": 0,
    }
    for row in found:
        data.append(
            {
                "day": row.day,
                "tenant": row.tenant,
                "key": row.key,
                "model": row.model,
                "requests": row.requests,
                "cached_requests": row.cached_requests,
                "prompt_tokens": row.prompt_tokens,
                "completion_tokens": row.completion_tokens,
                "total_tokens": row.prompt_tokens + row.completion_tokens,
                "cost_usd": row.cost / NANO_PER_USD,
            }
        )
        totals["requests"] += row.requests
        totals["cached_requests"] += row.cached_requests
        totals["prompt_tokens"] += row.prompt_tokens
        totals["completion_tokens"] += row.completion_tokens
        totals["cost"] += row.cost
    cost = totals.pop("cost")
    summary: dict[str, Any] = {**totals, "cost_usd": cost / NANO_PER_USD}
    summary["total_tokens"] = totals["prompt_tokens"] + totals["completion_tokens"]
    return {
        "object": "list",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "data": data,
        "totals": summary,
    }


def _json(body: Any) -> Response[bytes]:
    return Response(_encoder.encode(body), status_code=200, media_type="application/json")
