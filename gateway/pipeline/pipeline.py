"""The request path between the HTTP handler and the backends.

router -> request stages (policies) -> admission (rate limits, budgets) -> executor
(targets in order, retries, commit point) -> response stages -> the handler. Handlers give
it a decoded request; it gives back the reply as data: one `Reply`, or the chunks of a
stream whose first chunk has already arrived (everything before that may still fail over).
Encoding and SSE framing are the handler's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gateway.cache.response_cache import ResponseCache
from gateway.context import RequestContext
from gateway.errors import FinalError
from gateway.pipeline.executor import Executor, OpenedStream
from gateway.pipeline.parsed import ParsedRequest
from gateway.pipeline.policy_book import NONE as NO_STAGES
from gateway.pipeline.policy_book import PolicyBook, Stages
from gateway.pipeline.reply_stages import AssistantRoleStage, IdentityStage, UsageStage
from gateway.pipeline.response_chain import ChunkStream, ResponseChain
from gateway.pipeline.tool_loop import GatewayTools, ToolLoop
from gateway.pipeline.upstream import Upstream
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.lossless import reencode
from gateway.protocol.payload import Reply
from gateway.protocol.raw import RawFields
from gateway.quota.admission import Admission, Ticket
from gateway.resilience.concurrency import RouteLimit
from gateway.settings.tool_types import Tools
from policies.access import check_model_access
from policies.base import Deny, RequestStage, ResponseFilter, ResponseStage, Transform
from routers.base import RouteDecision, Router


class Pipeline:
    def __init__(
        self,
        router: Router,
        executor: Executor,
        stages: Sequence[RequestStage] = (),
        response_stages: Sequence[ResponseStage] = (),
        *,
        route_limits: Mapping[str, RouteLimit] | None = None,
        admission: Admission | None = None,
        policies: PolicyBook | None = None,
        cache: ResponseCache | None = None,
        tools: GatewayTools | None = None,
        tool_settings: Tools | None = None,
        route_tools: Mapping[str, Sequence[str]] | None = None,
        record_tool: Callable[[str, str, float], None] | None = None,
        inference_log: ResponseStage | None = None,
    ) -> None:
        self._upstream = Upstream(executor, route_limits or {}, cache)
        # Gateway tools per route (model id -> tool names) and the loop that runs them.
        self._route_tools = route_tools or {}
        self._tool_loop = (
            ToolLoop(self._upstream, tools, tool_settings or Tools(), record_tool or _ignore)
            if tools is not None and self._route_tools
            else None
        )
        self._admission = admission
        # Content policy sets chosen per request (route and key); None or empty: none.
        self._policies = policies if policies is not None and not policies.empty else None
        self._router = router
        self._executor = executor
        self._stages = tuple(stages)
        # The contract's own stages run after the policy stages, so that what a policy adds
        # or releases is stamped like everything else; the inference log, last, records
        # what the client got, with the usage the usage stage has counted by then.
        last = () if inference_log is None else (inference_log,)
        self._built_in: tuple[ResponseStage, ...] = (
            UsageStage(),
            AssistantRoleStage(),
            IdentityStage(),
            *last,
        )
        self._all_stages = (*response_stages, *self._built_in)

    async def complete(self, parsed: ParsedRequest, ctx: RequestContext) -> Reply:
        parsed, decision, chosen = await self._prepare(parsed, ctx)
        ticket = await self._admit(parsed, decision, ctx)
        kind = parsed.kind
        try:
            fields = await self._model_reply(parsed, decision, ctx, chosen)
            chain = self._chain(parsed, ctx, chosen)
            reply = await chain.reply(Reply(fields, kind))
        except BaseException:
            if ticket is not None:
                ticket.settle(failed=True)
            raise
        if ticket is not None:
            ticket.settle()
        return reply

    async def stream(self, parsed: ParsedRequest, ctx: RequestContext) -> ChunkStream:
        parsed, decision, chosen = await self._prepare(parsed, ctx)
        chain = self._chain(parsed, ctx, chosen)  # before the stream opens: nothing to fail
        ticket = await self._admit(parsed, decision, ctx)
        kind = parsed.kind
        try:
            opened = await self._model_stream(parsed, decision, ctx, chosen)
        except BaseException:
            if ticket is not None:
                ticket.settle(failed=True)
            raise
        if ticket is not None:
            # After the reply stages' finish: the stream's real usage is known by then.
            opened.when_closed(ticket.settle)
        return ChunkStream(opened, chain, kind)

    async def _admit(
        self, parsed: ParsedRequest, decision: RouteDecision, ctx: RequestContext
    ) -> Ticket | None:
        """Rate limits and budgets: refused here (429), or a ticket settled when the
        request ends."""
        if self._admission is None:
            return None
        upstream = decision.targets[0].upstream_model if decision.targets else ""
        return await self._admission.admit(parsed.request, parsed.fields, ctx, upstream)

    async def _prepare(
        self, parsed: ParsedRequest, ctx: RequestContext
    ) -> tuple[ParsedRequest, RouteDecision, Stages]:
        ctx.model = parsed.request.model
        check_model_access(ctx.model, ctx)
        decision = await self._router.route(parsed.request, ctx)
        ctx.route_id = decision.targets[0].model_id if decision.targets else ""
        ctx.route_reason = decision.reason
        ctx.route_confidence = decision.confidence
        # After routing: a route's own policy set applies. A transform changes only the
        # text, never what the targets were chosen for.
        chosen = NO_STAGES if self._policies is None else self._policies.for_request(ctx)
        parsed = await _checked(parsed, ctx, (*self._stages, *chosen.request))
        return parsed, decision, chosen

    async def _model_reply(
        self, parsed: ParsedRequest, decision: RouteDecision, ctx: RequestContext, chosen: Stages
    ) -> RawFields:
        offered = self._offered(ctx)
        if not offered:
            return await self._upstream.reply(parsed, decision, ctx)
        assert self._tool_loop is not None
        return await self._tool_loop.reply(
            parsed, decision, ctx, offered, lambda p: _checked(p, ctx, chosen.request)
        )

    async def _model_stream(
        self, parsed: ParsedRequest, decision: RouteDecision, ctx: RequestContext, chosen: Stages
    ) -> OpenedStream:
        offered = self._offered(ctx)
        if not offered:
            return await self._upstream.stream(parsed, decision, ctx)
        assert self._tool_loop is not None
        return await self._tool_loop.stream(
            parsed, decision, ctx, offered, lambda p: _checked(p, ctx, chosen.request)
        )

    def _offered(self, ctx: RequestContext) -> list[dict[str, Any]]:
        """The definitions of the gateway tools the route offers (those available now)."""
        names = self._route_tools.get(ctx.route_id)
        if not names or self._tool_loop is None:
            return []
        return self._tool_loop.offered(names)

    def _chain(self, parsed: ParsedRequest, ctx: RequestContext, chosen: Stages) -> ResponseChain:
        request = parsed.request
        # Policy stages read text: an embeddings reply only gets the built-in ones.
        if isinstance(request, EmbeddingRequest):
            stages = self._built_in
        elif chosen.response:
            stages = (*chosen.response, *self._all_stages)
        else:
            stages = self._all_stages
        filters: list[ResponseFilter] = []
        for stage in stages:
            opened = stage.open(request, ctx)
            if opened is not None:
                filters.append(opened)
        return ResponseChain(filters)


async def _checked(
    parsed: ParsedRequest, ctx: RequestContext, stages: Sequence[RequestStage]
) -> ParsedRequest:
    """The request after `stages`: refused (a final 4xx) or transformed."""
    request = parsed.request
    if isinstance(request, EmbeddingRequest):  # stages read prompts, not vectors
        return parsed
    for stage in stages:
        verdict = await stage.check(request, ctx)
        if isinstance(verdict, Deny):
            raise FinalError(verdict.error) from verdict.error
        if isinstance(verdict, Transform):
            fields = reencode(parsed.fields, verdict.request)
            request = verdict.request
            parsed = ParsedRequest(parsed.endpoint, request, fields)
    return parsed


def _ignore(_tool: str, _outcome: str, _seconds: float) -> None:
    return None
