"""The semantic side of the response cache: a paraphrase of an earlier last user turn hits
that turn's answer, found through the semantic index (`gateway.cache.semantic`).

The scope a paraphrase must share goes beyond tenant and route: everything in the request
but the last user turn is hashed into it (earlier turns, sampling, limits, response format,
vendor fields), the system prompt and the tools as the route's `semantic.scope` says. A
request with tools is only looked up when the route sets `semantic.with_tools`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.cache.key import cache_key
from gateway.cache.response_cache import CachePlan
from gateway.cache.semantic import SemanticIndex, last_user_turn
from gateway.cache.semantic_guard import normalise
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.raw import RawFields, raw
from gateway.settings.cache_types import RouteCache

_messages = msgspec.json.Decoder(list[dict[str, Any]])
_SYSTEM_ROLES = ("system", "developer")
_TOOL_FIELDS = ("tools", "tool_choice", "parallel_tool_calls", "functions", "function_call")


class SemanticLayer:
    def __init__(self, index: SemanticIndex, timeout: float = 2.0) -> None:
        self.index = index
        self._timeout = timeout

    async def lookup(self, plan: CachePlan, route: RouteCache) -> tuple[str, float] | None:
        found = self._query(plan, route)
        if found is None:
            return None
        scope, text, turn = found
        hit = await self.index.lookup(
            tenant=plan.tenant,
            route=plan.route,
            scope=scope,
            text=text,
            raw=turn,
            threshold=route.semantic.threshold,
            timeout=self._timeout,
        )
        return None if hit is None else (hit.entry_key, hit.similarity)

    async def add(self, plan: CachePlan, route: RouteCache, digest: str, ttl: float) -> None:
        found = self._query(plan, route)
        if found is None:
            return
        scope, text, turn = found
        await self.index.add(
            tenant=plan.tenant,
            route=plan.route,
            scope=scope,
            text=text,
            raw=turn,
            entry_key=digest,
            ttl_seconds=ttl,
            timeout=self._timeout,
        )

    async def clear(self, tenant: str | None, route: str | None) -> int:
        return await self.index.clear(tenant, route, timeout=self._timeout * 10)

    async def aclose(self) -> None:
        await self.index.aclose()

    def _query(self, plan: CachePlan, route: RouteCache) -> tuple[str, str, str] | None:
        """(scope, normalised turn, raw turn), or None when this request has no semantic
        side (no user turn, tools without `with_tools`, not a chat request)."""
        request = plan.request
        if not isinstance(request, ChatCompletionRequest):
            return None
        if request.tools and not route.semantic.with_tools:
            return None
        turn = last_user_turn(request.messages)
        text = normalise(turn) if turn is not None else ""
        if not text or turn is None:
            return None
        return _scope(plan, route), text, turn


def _scope(plan: CachePlan, route: RouteCache) -> str:
    """The exact key of the request without its last user turn (and without the system
    prompt or tools where the route's scope leaves them out)."""
    fields: RawFields = dict(plan.fields)
    messages = _messages.decode(fields.get("messages") or b"[]")
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            del messages[i]
            break
    parts = route.semantic.scope
    if "system_prompt" not in parts:
        messages = [m for m in messages if m.get("role") not in _SYSTEM_ROLES]
    fields["messages"] = raw(messages)
    if "tools" not in parts:
        for name in _TOOL_FIELDS:
            fields.pop(name, None)
    return cache_key(plan.tenant, plan.route, plan.model, fields)[:32]
