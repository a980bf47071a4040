"""The auth middleware alone: what a valid key puts on the request context."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.context import CONTEXT_SCOPE_KEY, RequestContext
from gateway.keys import KeyTable
from gateway.settings.schema import ApiKey, Budget, Limits
from middleware.auth import AuthMiddleware

KEY = b"sk-unit-0123456789"


def call(headers: list[tuple[bytes, bytes]], entry: ApiKey) -> tuple[int | None, Any]:
    seen: dict[str, Any] = {}
    statuses: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["ctx"] = scope[CONTEXT_SCOPE_KEY]

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    ctx = RequestContext(request_id="r", endpoint="/v1/chat/completions")
    scope = {"type": "http", "path": "/v1/chat/completions", "headers": headers,
             CONTEXT_SCOPE_KEY: ctx}  # fmt: skip
    table = KeyTable([entry])
    asyncio.run(AuthMiddleware(app, required=True, keys=table)(scope, None, send))
    return (statuses[0] if statuses else None), seen.get("ctx")


def record(**extra: Any) -> ApiKey:
    return ApiKey(id="k1", sha256=hashlib.sha256(KEY).hexdigest(), **extra)


def test_a_valid_key_names_the_principal_and_its_floor_priority() -> None:
    status, ctx = call(
        [(b"authorization", b"Bearer " + KEY)], record(tenant="t", models=["m"], priority=3)
    )
    assert status is None and ctx is not None
    assert (ctx.principal, ctx.tenant, ctx.allowed_models, ctx.priority) == ("k1", "t", ("m",), 3)


def test_expiry_is_checked_at_each_request() -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    status, ctx = call([(b"x-api-key", KEY)], record(expires=past))
    assert status == 401 and ctx is None
    naive_future = (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None)
    status, ctx = call([(b"x-api-key", KEY)], record(expires=naive_future))
    assert status is None and ctx is not None


def test_other_schemes_are_refused() -> None:
    assert call([(b"authorization", b"Basic " + KEY)], record())[0] == 401


def test_the_record_itself_carries_limits_and_budget() -> None:
    limits, budget = Limits(rpm=5), Budget(usd_per_day=1.5)
    status, ctx = call([(b"x-api-key", KEY)], record(limits=limits, budget=budget))
    assert status is None and ctx.key is not None
    assert (ctx.key.id, ctx.key.limits, ctx.key.budget) == ("k1", limits, budget)


def test_a_revoked_key_is_refused() -> None:
    table = KeyTable([record()])
    assert asyncio.run(table.revoke("k1"))
    assert asyncio.run(table.resolve(hashlib.sha256(KEY).hexdigest())) is None
