"""The request path between the HTTP handler and the backends.

stages (policies) -> router -> executor (targets in order, retries, commit point) -> reply.
Handlers give it a decoded request; it gives back bytes for a JSON reply, or an iterator of
SSE frames whose first chunk has already arrived (everything before that may still fail over).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from gateway.backends.base import Backend, BackendCall, Endpoint
from gateway.context import RequestContext
from gateway.errors import (
    InvalidRequestError,
    ModelNotFoundError,
    UpstreamStatusError,
)
from gateway.pipeline.executor import Executor
from gateway.pipeline.streaming import ChunkNormalizer, decode_usage, sse_frames
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.raw import RawFields, encode_fields, from_struct, raw
from policies.base import Deny, RequestStage, Transform
from routers.base import RouteDecision, Router, Target

# Called when a model is unknown: refresh discovered models; True if anything changed.
RefreshModels = Callable[[], Awaitable[bool]]


@dataclass(slots=True)
class ParsedRequest:
    endpoint: Endpoint
    request: ChatCompletionRequest | CompletionRequest | EmbeddingRequest
    # The body's raw top-level fields: unknown fields travel on untouched.
    fields: RawFields

    @property
    def is_stream(self) -> bool:
        return self.request.is_stream


class Pipeline:
    def __init__(
        self,
        router: Router,
        executor: Executor,
        backends: Mapping[str, Backend],
        stages: Sequence[RequestStage] = (),
        refresh_models: RefreshModels | None = None,
    ) -> None:
        self._router = router
        self._executor = executor
        self._backends = backends
        self._stages = tuple(stages)
        self._refresh_models = refresh_models

    async def complete(self, parsed: ParsedRequest, ctx: RequestContext) -> bytes:
        parsed, decision = await self._prepare(parsed, ctx)
        reply, _target = await self._executor.complete(decision, self._call_factory(parsed, ctx))
        if "choices" not in reply and "data" not in reply and "error" in reply:
            raise UpstreamStatusError(
                502, encode_fields({"error": reply["error"]}), "upstream returned an error body"
            )
        reply["model"] = raw(ctx.model)
        ctx.usage = decode_usage(reply.get("usage"))
        return encode_fields(reply)

    async def stream(self, parsed: ParsedRequest, ctx: RequestContext) -> AsyncIterator[bytes]:
        parsed, decision = await self._prepare(parsed, ctx)
        opened = await self._executor.open_stream(decision, self._call_factory(parsed, ctx))
        normalizer = ChunkNormalizer(
            ctx.model,
            wants_usage=parsed.request.wants_usage_chunk,
            chat=parsed.endpoint == "chat/completions",
            ctx=ctx,
            choices=parsed.request.n if isinstance(parsed.request.n, int) else 1,
        )
        return sse_frames(opened, normalizer)

    async def _prepare(
        self, parsed: ParsedRequest, ctx: RequestContext
    ) -> tuple[ParsedRequest, RouteDecision]:
        ctx.model = parsed.request.model
        request = parsed.request
        if not isinstance(request, EmbeddingRequest):  # stages read prompts, not vectors
            for stage in self._stages:
                verdict = await stage.check(request, ctx)
                if isinstance(verdict, Deny):
                    raise verdict.error
                if isinstance(verdict, Transform):
                    parsed = _transformed(parsed, verdict.request)
                    request = verdict.request
        decision = await self._route(parsed.request.model, ctx)
        ctx.route_id = decision.targets[0].model_id if decision.targets else ""
        return parsed, decision

    async def _route(self, model: str, ctx: RequestContext) -> RouteDecision:
        try:
            return self._router.route(model, ctx)
        except ModelNotFoundError:
            if self._refresh_models is None or not await self._refresh_models():
                raise
            return self._router.route(model, ctx)

    def _call_factory(
        self, parsed: ParsedRequest, ctx: RequestContext
    ) -> Callable[[Target], BackendCall]:
        request = parsed.request
        wants_usage = request.wants_usage_chunk

        def make_call(target: Target) -> BackendCall:
            backend = self._backends.get(target.backend)
            if (
                isinstance(request, CompletionRequest)
                and isinstance(request.suffix, str)
                and request.suffix
                and backend is not None
                and not backend.capabilities.fill_in_middle
            ):
                raise InvalidRequestError(
                    f"model `{ctx.model}` does not support fill-in-the-middle (`suffix`)",
                    param="suffix",
                )
            ctx.target = target.backend
            fields = {**parsed.fields, "model": raw(target.upstream_model)}
            return BackendCall(
                endpoint=parsed.endpoint,
                request=request,
                fields=fields,
                upstream_model=target.upstream_model,
                ctx=ctx,
                client_wants_usage=wants_usage,
                context_overflow=target.context_overflow,
            )

        return make_call


def _transformed(
    parsed: ParsedRequest, request: ChatCompletionRequest | CompletionRequest
) -> ParsedRequest:
    """A stage replaced the request: its fields win, unknown pass-through fields stay."""
    known = set(type(request).__struct_fields__)
    kept = {k: v for k, v in parsed.fields.items() if k not in known}
    return ParsedRequest(parsed.endpoint, request, {**kept, **from_struct(request)})
