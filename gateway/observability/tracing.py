"""Optional OpenTelemetry tracing (`pip install 'switchyard[otel]'`), on with
`server.tracing: true` or an `OTEL_EXPORTER_OTLP_ENDPOINT` / `..._TRACES_ENDPOINT` in the
environment; spans go to the OTLP/HTTP exporter, configured by the standard `OTEL_*`
variables (`OTEL_SERVICE_NAME` defaults to `switchyard`).

Spans: one per request (`gateway.request`, joining a caller's trace through an inbound
`traceparent`), and inside it `gateway.router`, `gateway.cache.lookup`, one
`gateway.policy` per content policy stage run, and per target tried `gateway.target` with
a `gateway.attempt` for each try (retries included). Attributes carry the same bounded
names as the metrics (route ids, target keys, stage names, the request id), never bodies,
model names a client chose, or keys.

Off, none of this is on the request path: the composition root wraps the router, the
target policies, the cache lookup, the policy metrics and the app only when tracing is on,
so a request without tracing runs exactly the code it runs without this module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from gateway.context import CONTEXT_SCOPE_KEY, RequestContext

log = logging.getLogger("gateway.tracing")
T = TypeVar("T")
ENDPOINT_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def build_tracing(enabled: bool, env: Mapping[str, str]) -> Tracing | None:
    """The tracing of these settings, or None when off (or OpenTelemetry is missing)."""
    if not (enabled or any(env.get(name) for name in ENDPOINT_ENV)):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "tracing is on but OpenTelemetry is not installed: pip install 'switchyard[otel]'"
        )
        return None
    name = env.get("OTEL_SERVICE_NAME") or "switchyard"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    # Batched and exported from the SDK's own thread: never on the event loop.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return Tracing(provider)


class Tracing:
    def __init__(self, provider: Any) -> None:
        from opentelemetry.propagate import extract

        self.provider = provider
        self.tracer = provider.get_tracer("switchyard")
        self._extract = extract

    def router(self, router: Any) -> Any:
        return _TracedRouter(router, self.tracer)

    def policy_for(self, policy_for: Callable[[Any], Any]) -> Callable[[Any], _TracedPolicy]:
        tracer = self.tracer
        return lambda target: _TracedPolicy(policy_for(target), target.key, tracer)

    def cache(self, cache: Any) -> Any:
        """`cache.lookup` in a span (an instance attribute over the method: the pipeline
        calls the object it was given, and nothing else changes)."""
        lookup = cache.lookup
        tracer = self.tracer

        async def traced(plan: Any, ctx: RequestContext) -> Any:
            with tracer.start_as_current_span("gateway.cache.lookup") as span:
                answer = await lookup(plan, ctx)
                span.set_attribute("gateway.cache.result", ctx.cache_status or "")
                return answer

        cache.lookup = traced
        return cache

    def stage_metrics(self, metrics: Any) -> Any:
        return _TracedStages(metrics, self.tracer)

    def middleware(self, app: Any) -> Any:
        return _TracingMiddleware(app, self.tracer, self._extract)

    def shutdown(self) -> None:
        """Exports what is pending (blocking: call it off the event loop)."""
        self.provider.shutdown()


class _TracedRouter:
    def __init__(self, router: Any, tracer: Any) -> None:
        self._router = router
        self._tracer = tracer

    async def route(self, request: Any, ctx: RequestContext) -> Any:
        with self._tracer.start_as_current_span("gateway.router") as span:
            decision = await self._router.route(request, ctx)
            span.set_attribute("gateway.route.reason", decision.reason)
            span.set_attribute("gateway.targets", [t.key for t in decision.targets])
            return decision


class _TracedPolicy:
    __slots__ = ("_inner", "_key", "_tracer")

    def __init__(self, inner: Any, key: str, tracer: Any) -> None:
        self._inner = inner
        self._key = key
        self._tracer = tracer

    async def call(self, attempt: Callable[[], Awaitable[T]], ctx: RequestContext) -> T:
        tracer, attributes = self._tracer, {"gateway.target": self._key}

        async def traced() -> T:
            with tracer.start_as_current_span("gateway.attempt", attributes=attributes):
                return await attempt()

        with tracer.start_as_current_span("gateway.target", attributes=attributes):
            result: T = await self._inner.call(traced, ctx)
            return result


class _TracedStages:
    """Policy stages report after they ran (verdict, seconds): the span is written then,
    with its start set back by the stage's duration."""

    def __init__(self, metrics: Any, tracer: Any) -> None:
        self._metrics = metrics
        self._tracer = tracer

    def policy_verdict(self, stage: str, verdict: str, seconds: float) -> None:
        self._metrics.policy_verdict(stage, verdict, seconds)
        end = time.time_ns()
        span = self._tracer.start_span(
            "gateway.policy",
            start_time=end - int(seconds * 1e9),
            attributes={"gateway.policy.stage": stage, "gateway.policy.verdict": verdict},
        )
        span.end(end_time=end)


class _TracingMiddleware:
    """Inside the request-id middleware (the context exists), around everything else."""

    def __init__(self, app: Any, tracer: Any, extract: Callable[..., Any]) -> None:
        self.app = app
        self._tracer = tracer
        self._extract = extract

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in (b"traceparent", b"tracestate")
        }
        parent = self._extract(carrier) if carrier else None
        with self._tracer.start_as_current_span("gateway.request", context=parent) as span:
            try:
                await self.app(scope, receive, send)
            finally:
                ctx = scope.get(CONTEXT_SCOPE_KEY)
                span.set_attribute("http.request.method", scope["method"])
                span.set_attribute("http.route", scope.get("path_template") or "other")
                if isinstance(ctx, RequestContext):
                    span.set_attribute("gateway.request_id", ctx.request_id)
                    span.set_attribute("http.response.status_code", ctx.status)
                    span.set_attribute("gateway.route", ctx.route_id)
                    span.set_attribute("gateway.attempts", ctx.attempts)
                    if ctx.backend_name:
                        span.set_attribute("gateway.backend", ctx.backend_name)
